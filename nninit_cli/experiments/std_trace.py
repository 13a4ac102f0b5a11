"""`std-trace`: how the std of a signal changes through a deep stack (E5, E6).

The network comes from the model builder (an MLP stack of width x width
layers, or a residual MLP of `layers` blocks) and the statistics from probes
hooked on its modules.  Forward-only, each Linear is drawn when the forward
pass reaches it and freed after it ran (`LazyLinears`), and the probes keep
floats only, so memory stays flat however deep the stack.  With
`backward=True` the weights and graph are kept and a random N(0, 1) gradient
is fed in at the top (Glorot's backward condition).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from nninit_cli.band import Pairs
from nninit_cli.model.acts import saturated
from nninit_cli.model.builder import Block, Branch, LazyLinears, activations, build, linears, materialise
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.probes import (
    OutputGrads,
    OutputStats,
    StopForward,
    mean_cosine,
    signal_stats,
    spread,
    spread_only,
)
from nninit_cli.registry import ACTIVATIONS, INITS
from nninit_cli.results import BlockStats, LayerStats, StdTraceResult
from nninit_cli.specs import StdTraceSpec
from nninit_cli.theory import LayerPrediction, bias_terms, predict_stack, weight_variance_gain

SATURATED_VERDICT_FRAC = 0.5  # final layer this saturated: verdict "saturated"


def _input_batch(spec: StdTraceSpec) -> torch.Tensor:
    """N(0, 1) rows; with --input-corr C, sqrt(C) z_shared + sqrt(1 - C) z_own,
    z_own the very rows of C = 0 and z_shared the data stream's next draw, so
    that every pair of rows has correlation C and unit variance."""
    gen = generator(spec.net.seed, "data")
    x = torch.randn(spec.net.batch_size, spec.net.width, generator=gen)
    if spec.input_corr == 0.0:
        return x
    shared = torch.randn(1, spec.net.width, generator=gen)
    return math.sqrt(spec.input_corr) * shared + math.sqrt(1.0 - spec.input_corr) * x


def _row_correlation(x: torch.Tensor) -> float:
    """RMS cosine between distinct rows (0 for a single row).

    The batch x batch Gram matrix where the batch is the smaller side; else
    the same sum from the units x units one (the squared cosines of all pairs
    are ||Xn^T Xn||_F^2, less one for each non-zero row), so a batch of a
    million rows needs no terabyte matrix."""
    b, w = x.shape
    if b < 2:
        return 0.0
    xn = torch.nn.functional.normalize(x.double(), dim=1)
    if b <= w:
        g = xn @ xn.T
        off = g[~torch.eye(len(g), dtype=torch.bool)]
        return math.sqrt(off.pow(2).mean().item())
    total = (xn.T @ xn).pow(2).sum().item() - (xn.pow(2).sum(dim=1) > 0).sum().item()
    return math.sqrt(max(total, 0.0) / (b * (b - 1)))


def input_pairs(x: torch.Tensor) -> Pairs:
    """The input batch's pairwise cosines (mean and variance over distinct
    pairs) and the variance of its rows' log mean squares: where the band's
    correlation tracking starts.  Like `_row_correlation`, from the smaller
    of the two Gram matrices."""
    b, w = x.shape
    if b < 2:
        return Pairs(0.0, 0.0)
    xd = x.double()
    sq = xd.pow(2).mean(dim=1)
    disp = torch.log(sq[sq > 0]).var().item() if int((sq > 0).sum()) > 1 else 0.0
    xn = torch.nn.functional.normalize(xd, dim=1)
    nonzero = int((xn.pow(2).sum(dim=1) > 0).sum())
    total = xn.sum(dim=0).pow(2).sum().item() - nonzero
    mean = total / (b * (b - 1))
    rms = _row_correlation(x)
    return Pairs.from_cosines(mean, max(rms * rms - mean * mean, 0.0), disp)


def predictions(
    spec: StdTraceSpec, x0: torch.Tensor, band_layers: int | None = None
) -> list[LayerPrediction]:
    """The theory for every layer; an MLP's band only for the first
    `band_layers` (the layers that ran: a stack that overflows at layer 32
    needs no band for the 68 after it, and the band is the costly part)."""
    net = spec.net
    m2_in = x0.double().pow(2).mean().item()
    if net.residual:
        from nninit_cli.residual_theory import predict_resmlp

        return predict_resmlp(net, m2_in, _row_correlation(x0), x0.double().mean().item())
    v = weight_variance_gain(net, net.width, net.width)
    if v is None:
        return [LayerPrediction(i, None, None, None, None) for i in range(1, net.layers + 1)]
    beta, var_b = bias_terms(net, net.width)

    def stack(layers: int, with_band: bool) -> list[LayerPrediction]:
        return predict_stack(
            net.act,
            net.negative_slope,
            v,
            beta,
            var_b,
            m2_in,
            input_pairs(x0),
            layers,
            net.width,
            net.batch_size,
            orthogonal=INITS[net.init].orthogonal_rows,
            kurtosis=INITS[net.init].kurtosis(net),
            with_band=with_band,
        )

    banded = net.layers if band_layers is None else min(band_layers, net.layers)
    if banded == net.layers:
        return stack(net.layers, True)
    return stack(banded, True) + stack(net.layers, False)[banded:]


def run_std_trace(spec: StdTraceSpec) -> StdTraceResult:
    """Trace the std of the signal through `spec.net.layers` layers (or blocks)."""
    net = spec.net
    device = resolve_device(net.device)
    dtype = resolve_dtype(net.dtype, device)
    x0 = _input_batch(spec)
    model = materialise(build(net), net, device, dtype, lazy=True)
    sat = (lambda y: saturated(net.act, y)) if ACTIVATIONS[net.act].saturates else None
    reduce = lambda y: signal_stats(y, sat)  # noqa: E731
    acts = activations(model)
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    rows = blocks if net.residual else acts
    # the gradient probe first: its hook must attach before the signal probe
    # can stop the forward pass at a non-finite output
    grads = OutputGrads(rows, spread_only) if spec.backward else None
    # the cosine probe before the signal probe, which may stop the forward pass
    cosines = OutputStats(rows if net.residual else linears(model), mean_cosine, floats=True)
    probes = {"out": OutputStats(rows, reduce, stop_nonfinite=True, floats=True)}
    if net.residual:
        branches = [m for m in model.modules() if isinstance(m, Branch)]
        probes["branch"] = OutputStats(branches, spread_only, floats=True)
        probes["act"] = OutputStats(acts, reduce, floats=True)
    else:
        probes["pre"] = OutputStats(linears(model), spread_only, floats=True)
    lazy = LazyLinears(model, net, device, dtype, keep=spec.backward, requires_grad=spec.backward)
    stopped = False
    try:
        with torch.set_grad_enabled(spec.backward):
            try:
                top = model(x0.to(device, dtype))
            except StopForward as stop:
                stopped, top = True, stop.output
            if spec.backward and top is not None:
                cotangent = torch.randn(top.shape, generator=generator(net.seed, "probe"))
                top.backward(cotangent.to(top.device, top.dtype))
    finally:
        for probe in [*probes.values(), cosines, grads, lazy]:
            if probe is not None:
                probe.remove()
    ran = sum(s is not None for s in probes["out"].stats)
    preds = predictions(spec, x0, band_layers=ran)
    first_nonfinite = ran if stopped or not probes["out"].stats[ran - 1]["finite"] else None
    if net.residual:
        rows = _block_rows(net.branch_depth - 1, x0, probes, grads, model, preds, ran)
    else:
        rows = _layer_rows(probes, grads, model, preds, ran)
    rows, corr_in, note = _with_correlations(spec, x0, rows, cosines)
    return dataclasses.replace(
        _conclude(spec, x0, rows, first_nonfinite, preds), input_corr=corr_in, predicted_corr_note=note
    )


def _with_correlations(spec: StdTraceSpec, x0: torch.Tensor, rows: list, cosines: OutputStats):
    """The rows with their measured mean cosine between examples and the
    c-map's, from the input batch's own mean cosine; that cosine; and why the
    prediction is None where it is."""
    from nninit_cli.correlations import predict_correlations

    corr_in = _nan_to_none(mean_cosine(x0)["corr"].item())
    pred = predict_correlations(spec.net, x0.double().pow(2).mean().item(), corr_in)
    out = []
    for i, row in enumerate(rows):
        measured = cosines.stats[i]["corr"] if cosines.stats[i] is not None else math.nan
        out.append(dataclasses.replace(row, corr=_nan_to_none(measured), predicted_corr=pred.values[i]))
    return out, corr_in, pred.note


def _nan_to_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _layer_rows(probes, grads, model, preds, ran: int) -> list[LayerStats]:
    fcs = linears(model)
    rows = []
    for i in range(ran):
        out = probes["out"].stats[i]
        row = LayerStats(
            layer=i + 1,
            mean=out["mean"],
            std=out["std"],
            pre_std=probes["pre"].stats[i]["std"],
            zero_frac=out["zero_frac"],
            saturated_frac=out.get("saturated_frac"),
            predicted_std=preds[i].std,
            predicted_band=preds[i].band,
        )
        if grads is not None:
            row = LayerStats(
                **{
                    **row.__dict__,
                    "grad_std": grads.stats[i]["std"],
                    "weight_grad_norm": fcs[i].weight.grad.double().norm().item(),
                }
            )
        rows.append(row)
    return rows


def _block_rows(acts_per_block: int, x0, probes, grads, model, preds, ran: int) -> list[BlockStats]:
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    rows = []
    prev_std = spread(x0).item()
    for k in range(ran):
        out = probes["out"].stats[k]
        branch_std = probes["branch"].stats[k]["std"]
        acts = [s for s in probes["act"].stats[k * acts_per_block : (k + 1) * acts_per_block] if s]
        sats = [a["saturated_frac"] for a in acts if "saturated_frac" in a]
        grad_std = grad_norm = None
        if grads is not None:
            grad_std = grads.stats[k]["std"]
            norms = [
                fc.weight.grad.double().norm() for fc in linears(blocks[k]) if fc.weight.grad is not None
            ]
            grad_norm = torch.stack(norms).norm().item() if norms else 0.0
        rows.append(
            BlockStats(
                block=k + 1,
                mean=out["mean"],
                std=out["std"],
                branch_std=branch_std,
                branch_ratio=branch_std / prev_std if prev_std > 0 and math.isfinite(prev_std) else None,
                sq_mean=out["sq_mean"],
                zero_frac=max((a["zero_frac"] for a in acts), default=0.0),
                saturated_frac=sats[-1] if sats else None,
                predicted_std=preds[k].std,
                predicted_band=preds[k].band,
                grad_std=grad_std,
                weight_grad_norm=grad_norm,
            )
        )
        prev_std = out["std"]
    return rows


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
    rows: list[LayerStats] | list[BlockStats],
    first_nonfinite: int | None,
    preds: list[LayerPrediction],
) -> StdTraceResult:
    input_std = spread(x0).item()
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
