"""`nninit jacobian`: is the input-output Jacobian of a deep stack well
conditioned (dynamical isometry; Pennington, Schoenholz & Ganguli 2017)?

The stack is std-trace's: the model builder's stack form, every Linear drawn
from its own base, so the same flags and seed give the same weights.  At each
of `samples` inputs (the first rows of std-trace's batch, times --input-std)
J = d output / d input is computed exactly by forward-mode differentiation
(`torch.func.jacfwd`: `width` tangents pushed through the stack at once, one
matmul per Linear, nothing kept per layer); its singular values come from
`torch.linalg.svdvals` in float64.  Samples run one at a time, so memory does
not grow with --samples.
"""

from __future__ import annotations

import math

import torch

from nninit_cli.jacobian_theory import predict_jacobian
from nninit_cli.model.builder import build, fit_to_data, materialise
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.results import JacobianResult, SampleSpectrum, Spectrum
from nninit_cli.specs import JacobianSpec

HISTOGRAM_BINS = 40
MIN_DECADES = 0.2  # a histogram of singular values all ~1 still spans this much of log10 s


def inputs(spec: JacobianSpec) -> torch.Tensor:
    """N(0, input_std^2) inputs from the seed's data stream: with input_std 1,
    the first `samples` rows of std-trace's batch."""
    gen = generator(spec.net.seed, "data")
    return torch.randn(spec.samples, spec.net.width, generator=gen) * spec.input_std


def stack(spec: JacobianSpec, x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """std-trace's stack with every weight drawn (LSUV fitted on `x`), no
    gradients kept: forward-mode differentiation needs none."""
    net = spec.net
    model = materialise(build(net), net, device, dtype)
    fit_to_data(model, net, x)
    return model.requires_grad_(False)


def jacobian(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d model(x) / d x for one input x (a vector): a width x width matrix."""
    from torch.func import jacfwd

    return jacfwd(model)(x)


def rounding_level(width: int, dtype: torch.dtype) -> float:
    """Singular values below this times the largest are numerically zero:
    width x the dtype's machine epsilon (numpy's matrix_rank rule)."""
    return width * torch.finfo(dtype).eps


def spectrum(s: torch.Tensor, floor: float) -> Spectrum:
    """The statistics of the singular values `s` (float64).  Mean and spread
    are computed on s / max(s), so that s^2 never overflows float64 on the way."""
    top = float(s.max())
    if top == 0.0:
        return Spectrum(0.0, 0.0, None, 0.0, 0.0, None, "every singular value is 0")
    r2 = (s / top) ** 2
    m = float(r2.mean())
    spread = float(r2.var(correction=0)) / m**2
    low = float(s.min())
    mean_sq = math.exp(2 * math.log(top) + math.log(m))
    if low <= floor * top:
        cond, why = None, f"min s is at rounding level (below {floor:.2g} x max s): numerically singular"
    else:
        cond, why = top / low, None
    return Spectrum(mean_sq, math.sqrt(mean_sq), spread, low, top, cond, why)


NONFINITE = Spectrum(None, None, None, None, None, None, None, "the Jacobian holds inf or nan")


def histogram(s: torch.Tensor, floor: float) -> dict:
    """Counts of log10 s in HISTOGRAM_BINS equal bins, over the singular
    values above rounding level; those below are counted in `at_rounding`."""
    if s.numel() == 0 or float(s.max()) == 0.0:
        return {"log10_edges": [], "counts": [], "at_rounding": int(s.numel())}
    kept = s[s > floor * s.max()]
    logs = kept.log10()
    lo, hi = float(logs.min()), float(logs.max())
    if hi - lo < MIN_DECADES:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - MIN_DECADES / 2, mid + MIN_DECADES / 2
    counts = torch.histc(logs, bins=HISTOGRAM_BINS, min=lo, max=hi)
    edges = torch.linspace(lo, hi, HISTOGRAM_BINS + 1, dtype=torch.float64)
    return {
        "log10_edges": edges.tolist(),
        "counts": [int(c) for c in counts.tolist()],
        "at_rounding": int(s.numel() - kept.numel()),
    }


def verdicts(spec: JacobianSpec, pooled: Spectrum, nonfinite: bool) -> list[str]:
    """nonfinite, exploding, vanishing (the rms singular value against the
    ratios), then isometric or anisotropic (the pooled spread against
    --spread-tol); a Jacobian that is exactly 0 has no spread to judge."""
    out = ["nonfinite"] if nonfinite else []
    if pooled.rms is not None:
        if pooled.rms > spec.explode_ratio:
            out.append("exploding")
        elif pooled.rms < spec.vanish_ratio:
            out.append("vanishing")
    if pooled.spread is not None:
        out.append("isometric" if pooled.spread < spec.spread_tol else "anisotropic")
    return out or ["nonfinite"]


def run_jacobian(spec: JacobianSpec) -> JacobianResult:
    """The Jacobian's singular values at every input, pooled, and the theory."""
    device = resolve_device(spec.net.device)
    dtype = resolve_dtype(spec.net.dtype, device)
    x = inputs(spec)
    model = stack(spec, x.to(device, dtype), device, dtype)
    floor = rounding_level(spec.net.width, dtype)
    rows, finite = [], []
    for i in range(spec.samples):
        jac = jacobian(model, x[i].to(device, dtype))
        if not bool(torch.isfinite(jac).all()):
            rows.append(SampleSpectrum(i + 1, NONFINITE))
            continue
        s = torch.linalg.svdvals(jac.double()).cpu()
        finite.append(s)
        rows.append(SampleSpectrum(i + 1, spectrum(s, floor)))
    every = torch.cat(finite) if finite else torch.zeros(0, dtype=torch.float64)
    pooled = spectrum(every, floor) if finite else NONFINITE
    found = verdicts(spec, pooled, len(finite) < spec.samples)
    theory = predict_jacobian(spec.net, x.double().pow(2).mean().item())
    return JacobianResult(
        config=spec.to_dict(),
        pooled=pooled,
        samples=rows,
        theory=theory.to_dict(),
        histogram=histogram(every, floor),
        verdict=found[0],
        verdicts=found,
    )
