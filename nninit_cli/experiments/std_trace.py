"""`std-trace`: how the std of a signal changes through a deep stack (E5, E6).

The forward-only trace draws each layer's weights, applies the layer, reduces
the output to a handful of float64 statistics and drops everything but the
current activations, so memory stays flat however deep the stack.  With
`backward=True` it keeps the graph instead and backpropagates a random N(0, 1)
cotangent from the top (Glorot's backward condition).
"""

from __future__ import annotations

import math

import torch

from nninit_cli.model.acts import saturation_fraction, torch_act
from nninit_cli.model.inits import init_bias, init_weight, lsuv_rescale
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.results import LayerStats, StdTraceResult
from nninit_cli.specs import StdTraceSpec
from nninit_cli.theory import LayerPrediction, bias_terms, predict_stack, weight_variance_gain

SATURATED_VERDICT_FRAC = 0.5  # final layer this saturated: verdict "saturated"


def _std(t: torch.Tensor) -> float:
    """Population std in float64 (the seed's float32 x.std() overflows to nan one
    layer before any activation does).  A tensor that overflowed to +-inf, with
    no nan, has an infinite spread: report inf, not torch's nan."""
    if t.numel() < 2:
        return 0.0
    t64 = t.double()
    s = t64.std(correction=0).item()
    if math.isnan(s) and torch.isinf(t64).any() and not torch.isnan(t64).any():
        return math.inf
    return s


def _input_batch(spec: StdTraceSpec) -> torch.Tensor:
    gen = generator(spec.net.seed, "data")
    return torch.randn(spec.net.batch_size, spec.net.width, generator=gen)


def _row_correlation(x: torch.Tensor) -> float:
    """RMS cosine between distinct rows (0 for a single row)."""
    if x.shape[0] < 2:
        return 0.0
    xn = torch.nn.functional.normalize(x.double(), dim=1)
    g = xn @ xn.T
    off = g[~torch.eye(len(g), dtype=torch.bool)]
    return math.sqrt(off.pow(2).mean().item())


def predictions(spec: StdTraceSpec, x0: torch.Tensor) -> list[LayerPrediction]:
    net = spec.net
    v = weight_variance_gain(net, net.width, net.width)
    if v is None:
        return [LayerPrediction(i, None, None, None, None) for i in range(1, net.layers + 1)]
    beta, var_b = bias_terms(net, net.width)
    m2_in = x0.double().pow(2).mean().item()
    return predict_stack(
        net.act,
        net.negative_slope,
        v,
        beta,
        var_b,
        m2_in,
        _row_correlation(x0),
        net.layers,
        net.width,
        net.batch_size,
    )


def _layer_stats(
    act: str, layer: int, pre: torch.Tensor, y: torch.Tensor, pred: LayerPrediction
) -> LayerStats:
    y64 = y.detach().double()
    return LayerStats(
        layer=layer,
        mean=y64.mean().item(),
        std=_std(y64),
        pre_std=_std(pre.detach()),
        zero_frac=(y64 == 0).double().mean().item(),
        saturated_frac=saturation_fraction(act, y64),
        predicted_std=pred.std,
        predicted_band=pred.band,
    )


def run_std_trace(spec: StdTraceSpec) -> StdTraceResult:
    """Trace the std of the signal through `spec.net.layers` layers."""
    net = spec.net
    device = resolve_device(net.device)
    dtype = resolve_dtype(net.dtype, device)
    f = torch_act(net.act, net.negative_slope)
    wgen = generator(net.seed, "weights")
    x0 = _input_batch(spec)
    preds = predictions(spec, x0)

    x = x0.to(device, dtype)
    rows: list[LayerStats] = []
    outputs: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    first_nonfinite = None
    with torch.set_grad_enabled(spec.backward):
        for layer in range(1, net.layers + 1):
            w = init_weight(torch.empty(net.width, net.width), net, wgen).to(device, dtype)
            b = None
            if net.bias != "none":
                b = init_bias(torch.empty(net.width), net, wgen, net.width).to(device, dtype)
            if net.init == "lsuv":
                lsuv_rescale(w, b, x)  # fitted on this very batch
            if spec.backward:
                w.requires_grad_(True)
                weights.append(w)
            pre = torch.nn.functional.linear(x, w, b)
            x = f(pre)
            if spec.backward:
                x.retain_grad()
                outputs.append(x)
            rows.append(_layer_stats(net.act, layer, pre, x, preds[layer - 1]))
            if not torch.isfinite(x).all():
                first_nonfinite = layer
                break
    if spec.backward:
        rows = _backward(spec, rows, outputs, weights)
    return _conclude(spec, x0, rows, first_nonfinite, preds)


def _backward(
    spec: StdTraceSpec, rows: list[LayerStats], outputs: list[torch.Tensor], weights: list[torch.Tensor]
) -> list[LayerStats]:
    top = outputs[-1]
    cotangent = torch.randn(top.shape, generator=generator(spec.net.seed, "probe"))
    top.backward(cotangent.to(top.device, top.dtype))
    out = []
    for row, y, w in zip(rows, outputs, weights, strict=True):
        grad_norm = w.grad.double().norm().item()
        out.append(LayerStats(**{**row.__dict__, "grad_std": _std(y.grad), "weight_grad_norm": grad_norm}))
    return out


def signal_verdicts(
    ratio: float,
    nonfinite: bool,
    max_zero_frac: float,
    final_saturated: float | None,
    explode_ratio: float,
    vanish_ratio: float,
    dead_frac: float,
) -> list[str]:
    """Every verdict that holds for a stack, in order of severity: nonfinite,
    dead, exploding, vanishing, saturated; "stable" when none does.

    ratio is final/input std; max_zero_frac the largest fraction of exact zeros
    in any layer's output; final_saturated the last layer's saturated fraction.
    """
    verdicts = []
    if nonfinite:
        verdicts.append("nonfinite")
    if max_zero_frac >= dead_frac:
        verdicts.append("dead")
    if math.isfinite(ratio) and ratio > explode_ratio:
        verdicts.append("exploding")
    if math.isfinite(ratio) and ratio < vanish_ratio:
        verdicts.append("vanishing")
    if (final_saturated or 0.0) > SATURATED_VERDICT_FRAC:
        verdicts.append("saturated")
    return verdicts or ["stable"]


def _conclude(
    spec: StdTraceSpec,
    x0: torch.Tensor,
    rows: list[LayerStats],
    first_nonfinite: int | None,
    preds: list[LayerPrediction],
) -> StdTraceResult:
    input_std = _std(x0)
    final = rows[-1]
    ratio = final.std / input_std if input_std > 0 else math.nan
    verdicts = signal_verdicts(
        ratio,
        first_nonfinite is not None,
        max(r.zero_frac for r in rows),
        final.saturated_frac,
        spec.explode_ratio,
        spec.vanish_ratio,
        spec.dead_frac,
    )
    return StdTraceResult(
        config=spec.to_dict(),
        input_std=input_std,
        layers=rows,
        first_nonfinite_layer=first_nonfinite,
        final_std=final.std,
        std_ratio=ratio,
        verdict=verdicts[0],
        verdicts=verdicts,
        backward=spec.backward,
        predicted_all=[p.std for p in preds],
    )
