"""`train`: the course's RunnerV2_2 grown into a trainer people can rely on.

Every epoch: train (minibatches, or the whole set as the course does), evaluate
on dev, keep the best model by dev metric, append a line to metrics.jsonl
(flushed).  Artifacts go to one run folder, each file written atomically:

  config.json    the spec (rebuilds the run: `nninit eval`, `--resume`)
  metrics.jsonl  one JSON line per epoch
  best.pt        weights of the best epoch
  last.pt        weights, optimiser, RNG states and counters: enough to resume
                 exactly where the run stopped
  curves.png     loss and metric per epoch, train and dev
  watch.jsonl    with --watch: weight snapshots / gradient norms

Checkpoints hold only tensors and plain values and are read back with
`torch.load(weights_only=True)`; nothing is unpickled.  Stopping (Ctrl-C, via
`should_stop`) happens at an epoch boundary, so a stopped run resumes to the
very numbers an uninterrupted one reaches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nninit_cli.build.data import Dataset, Split, load_dataset
from nninit_cli.build.models import MLP, build_mlp, lsuv_fit
from nninit_cli.build.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.errors import NninitError, SpecError
from nninit_cli.io import atomic_open, atomic_write_text
from nninit_cli.specs import TrainSpec

FORMAT = "nninit-train-1"
SYMMETRY_TOL = 1e-7


@dataclass(frozen=True)
class EpochRecord:
    """One line of metrics.jsonl."""

    epoch: int
    train_loss: float
    train_metric: float
    dev_loss: float
    dev_metric: float
    best: bool


@dataclass
class TrainResult:
    """How a run ended.  stopped: completed, nonfinite (a loss was inf/nan) or
    interrupted.  metric is accuracy (classification) or mse (regression)."""

    config: dict[str, Any]
    metric: str
    history: list[EpochRecord]
    best_epoch: int | None
    best_dev_metric: float | None
    test_loss: float
    test_metric: float
    symmetric_layers: list[str]
    stopped: str
    out: str
    verdicts: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.verdicts[0]

    def to_dict(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else None
        out = Path(self.out)
        return {
            "metric": self.metric,
            "epochs_run": len(self.history) and self.history[-1].epoch,
            "stopped": self.stopped,
            "final": None if last is None else {k: v for k, v in asdict(last).items() if k != "best"},
            "best": {"epoch": self.best_epoch, "dev_metric": self.best_dev_metric},
            "test": {"loss": self.test_loss, "metric": self.test_metric},
            "symmetric_layers": self.symmetric_layers,
            "verdict": self.verdict,
            "verdicts": self.verdicts,
            "artifacts": {
                "out": self.out,
                **{k: str(out / name) for k, name in ARTIFACTS.items() if (out / name).exists()},
            },
        }


ARTIFACTS = {
    "config": "config.json",
    "metrics": "metrics.jsonl",
    "best": "best.pt",
    "last": "last.pt",
    "curves": "curves.png",
    "watch": "watch.jsonl",
}


# ---------------------------------------------------------------------------
# Pieces


def load_data(spec: TrainSpec) -> Dataset:
    sizes = None
    if spec.train_size or spec.dev_size:
        from nninit_cli.build.data import SIZES

        _, a, b = SIZES[spec.dataset]
        sizes = (spec.train_size or a, spec.dev_size or b)
    data_dir = Path(spec.data_dir) if spec.data_dir else None
    return load_dataset(spec.dataset, spec.net.seed, noise=spec.noise, sizes=sizes, data_dir=data_dir)


def build_model(spec: TrainSpec, data: Dataset) -> MLP:
    model = build_mlp(spec.net, data.in_features, data.out_features, spec.hidden, spec.dropout)
    if spec.net.init == "lsuv":
        lsuv_fit(model, data.train.x)
    return model


def loss_fn(spec: TrainSpec, task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """sigmoid + binary cross-entropy (binary, as BCE-with-logits), cross-entropy
    or log-softmax + NLL (multi-class), MSE (regression)."""
    if task == "binary":
        return F.binary_cross_entropy_with_logits
    if task == "multiclass":
        if spec.loss == "nll":
            return lambda out, y: F.nll_loss(F.log_softmax(out, dim=1), y)
        return F.cross_entropy
    return F.mse_loss


def metric_fn(task: str) -> tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], bool]:
    """(name, function, higher is better).  The function returns the metric
    summed over the batch's examples, as a 0-d tensor: an epoch adds them up and
    syncs with the device once, not once a batch."""
    if task == "binary":
        return "accuracy", lambda out, y: ((out >= 0).to(y.dtype) == y).sum(), True
    if task == "multiclass":
        return "accuracy", lambda out, y: (out.argmax(dim=1) == y).sum(), True
    return "mse", lambda out, y: F.mse_loss(out, y, reduction="sum") / out.shape[1], False


def make_optimizer(spec: TrainSpec, model: MLP) -> torch.optim.Optimizer:
    """Weight decay on the weights only unless --decay-bias (seed 001)."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    groups = [{"params": weights, "weight_decay": spec.weight_decay}]
    if biases:
        groups.append({"params": biases, "weight_decay": spec.weight_decay if spec.decay_bias else 0.0})
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov)
    cls = torch.optim.Adam if spec.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=spec.lr)


def symmetric_layers(model: MLP) -> list[str]:
    """Hidden layers whose units all have the same incoming weights (and bias):
    nothing can ever tell those units apart (E1, zero init)."""
    found = []
    for i, fc in enumerate(model.linears()[:-1], start=1):
        rows = fc.weight.detach()
        if fc.bias is not None:
            rows = torch.cat([rows, fc.bias.detach()[:, None]], dim=1)
        if len(rows) > 1 and (rows - rows[0]).abs().max().item() <= SYMMETRY_TOL:
            found.append(f"fc{i}")
    return found


@torch.no_grad()
def evaluate(model: MLP, split: Split, loss, metric) -> tuple[float, float]:
    model.eval()
    out = model(split.x)
    return loss(out, split.y).item(), metric(out, split.y).item() / len(split)


def _save(path: Path, obj: dict[str, Any], durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as fh:
        torch.save(obj, fh)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint nninit wrote, or a one-line error naming the file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SpecError("run folder", f"{path}: missing") from None
    except Exception as e:  # a corrupt file, a pickle of foreign objects, ...
        raise NninitError(f"{path}: not a readable nninit checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise NninitError(f"{path}: not an nninit train checkpoint")
    return ckpt


def read_run_config(folder: Path, flag: str) -> TrainSpec:
    """The spec of the run in `folder`, or a SpecError naming `flag`."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text())
        if data.get("command") != "train":
            raise ValueError("not a train run")
        return TrainSpec.from_dict(data["config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SpecError(flag, f"{folder} is not an nninit train run ({path.name}: {e})") from None


# ---------------------------------------------------------------------------
# The loop


def run_train(
    spec: TrainSpec,
    out: Path,
    resume: bool = False,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `spec` with artifacts in `out` (resuming from out/last.pt if
    `resume`).  `on_epoch` sees every epoch; `should_stop` is asked after each."""
    device = resolve_device(spec.net.device)
    dtype = resolve_dtype(spec.net.dtype, device)
    data = load_data(spec)
    model = build_model(spec, data).to(device, dtype)
    train, dev, test = (s.to(device, dtype) for s in (data.train, data.dev, data.test))
    loss = loss_fn(spec, data.task)
    metric_name, metric, higher = metric_fn(data.task)
    optimizer = make_optimizer(spec, model)
    shuffle = generator(spec.net.seed, "shuffle")
    drops = [m for m in model.modules() if hasattr(m, "gen") and isinstance(m.gen, torch.Generator)]

    out.mkdir(parents=True, exist_ok=True)
    history: list[EpochRecord] = []
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    start = 1
    if resume:
        last = load_checkpoint(out / "last.pt")
        model.load_state_dict(last["model"])
        optimizer.load_state_dict(last["optimizer"])
        shuffle.set_state(last["rng"]["shuffle"])
        for d in drops:
            d.gen.set_state(last["rng"]["dropout"])
        start = last["epoch"] + 1
        best_metric, best_epoch = last["best_metric"], last["best_epoch"]
        if (out / "best.pt").exists():
            best_state = load_checkpoint(out / "best.pt")["model"]
        history = [EpochRecord(**r) for r in _read_metrics(out / "metrics.jsonl") if r["epoch"] < start]
    else:
        atomic_write_text(
            out / "config.json", json.dumps({"command": "train", "config": spec.to_dict()}, indent=2)
        )
    _rewrite_metrics(out / "metrics.jsonl", history)

    def snapshot(epoch: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "best_metric": best_metric,
            "best_epoch": best_epoch,
            "rng": {
                "shuffle": shuffle.get_state(),
                "dropout": drops[0].gen.get_state() if drops else shuffle.get_state(),
            },
        }

    stopped = "completed"
    best_written = best_epoch or 0
    watch = open(out / "watch.jsonl", "a", encoding="utf-8") if spec.watch else None  # noqa: SIM115
    metrics_file = open(out / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    try:
        epoch = start - 1
        for epoch in range(start, spec.epochs + 1):
            train_loss, train_metric = _train_epoch(spec, model, train, loss, metric, optimizer, shuffle)
            if not math.isfinite(train_loss):
                stopped = "nonfinite"
            dev_loss, dev_metric = evaluate(model, dev, loss, metric)
            improved = math.isfinite(dev_metric) and (
                best_metric is None or (dev_metric > best_metric if higher else dev_metric < best_metric)
            )
            if improved and stopped != "nonfinite":
                best_metric, best_epoch = dev_metric, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if best_epoch is not None and best_epoch > best_written and epoch % spec.log_every == 0:
                # on disk at most once per --log-every epochs; always at the end (below)
                best_ckpt = {"format": FORMAT, "model": best_state, "epoch": best_epoch}
                _save(out / "best.pt", best_ckpt, durable=False)
                best_written = best_epoch
            record = EpochRecord(epoch, train_loss, train_metric, dev_loss, dev_metric, improved)
            history.append(record)
            metrics_file.write(json.dumps(record.__dict__) + "\n")
            metrics_file.flush()
            if watch is not None and (epoch == 1 or epoch % spec.log_every == 0):
                watch.write(json.dumps(_watch(spec, model, epoch)) + "\n")
                watch.flush()
            if on_epoch is not None:
                on_epoch(record)
            if stopped == "nonfinite":
                break
            if should_stop is not None and should_stop() and epoch < spec.epochs:
                stopped = "interrupted"
                break
        _save(out / "last.pt", snapshot(epoch))
        if best_epoch is not None:  # make the last best.pt durable too
            _save(out / "best.pt", {"format": FORMAT, "model": best_state, "epoch": best_epoch})
    finally:
        metrics_file.close()
        if watch is not None:
            watch.close()

    draw_curves(out / "curves.png", history, metric_name)
    if best_state is not None:
        model.load_state_dict(best_state)
    test_loss, test_metric = evaluate(model, test, loss, metric)
    symmetric = symmetric_layers(model)
    verdicts = [
        v for v, held in (("nonfinite", stopped == "nonfinite"), ("symmetric", bool(symmetric))) if held
    ]
    return TrainResult(
        config=spec.to_dict(),
        metric=metric_name,
        history=history,
        best_epoch=best_epoch,
        best_dev_metric=best_metric,
        test_loss=test_loss,
        test_metric=test_metric,
        symmetric_layers=symmetric,
        stopped=stopped,
        out=str(out),
        verdicts=verdicts or ["ok"],
    )


def _train_epoch(spec, model, train: Split, loss, metric, optimizer, shuffle) -> tuple[float, float]:
    """One pass over the training set; returns the example-weighted mean loss
    and metric of the batches (each measured before its update, as the course's
    runner does)."""
    model.train()
    n = len(train)
    size = spec.batch_size or n
    order = torch.randperm(n, generator=shuffle).to(train.x.device) if size < n else None
    total_loss = torch.zeros((), dtype=torch.float64, device=train.x.device)
    total_metric = torch.zeros((), dtype=torch.float64, device=train.x.device)
    for start in range(0, n, size):
        if order is None:
            x, y = train.x, train.y
        else:
            idx = order[start : start + size]
            x, y = train.x[idx], train.y[idx]
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        value = loss(out, y)
        value.backward()
        optimizer.step()
        total_loss += value.detach().double() * len(x)
        total_metric += metric(out.detach(), y)
    return total_loss.item() / n, total_metric.item() / n


def _watch(spec: TrainSpec, model: MLP, epoch: int) -> dict[str, Any]:
    """The seed's print_weight, as data: small tensors whole, large ones summarised."""
    line: dict[str, Any] = {"epoch": epoch}
    for name, p in model.named_parameters():
        entry: dict[str, Any] = {}
        if "weights" in spec.watch:
            w = p.detach().double()
            entry.update(norm=w.norm().item(), mean=w.mean().item(), std=w.std(correction=0).item())
            if w.numel() <= 64:
                entry["values"] = w.tolist()
        if "grads" in spec.watch:
            entry["grad_norm"] = None if p.grad is None else p.grad.double().norm().item()
        line[name] = entry
    return line


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for text in path.read_text().splitlines():
        try:
            rows.append(json.loads(text))
        except json.JSONDecodeError:
            break  # a torn last line from a hard kill: everything before it stands
    return rows


def _rewrite_metrics(path: Path, history: list[EpochRecord]) -> None:
    atomic_write_text(path, "".join(json.dumps(asdict(r)) + "\n" for r in history))


def draw_curves(path: Path, history: list[EpochRecord], metric: str) -> None:
    """The course's figure: loss (left) and metric (right), train and dev."""
    from nninit_cli.render.plot import figure, save

    fig = figure(figsize=(10, 4.5))
    a, b = fig.subplots(1, 2)
    epochs = [r.epoch for r in history]
    a.plot(epochs, [r.train_loss for r in history], color="#e4007f", label="train loss")
    a.plot(epochs, [r.dev_loss for r in history], color="#f19ec2", linestyle="--", label="dev loss")
    b.plot(epochs, [r.train_metric for r in history], color="#e4007f", label=f"train {metric}")
    b.plot(epochs, [r.dev_metric for r in history], color="#f19ec2", linestyle="--", label=f"dev {metric}")
    for ax, label in ((a, "loss"), (b, metric)):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend()
        ax.grid(True, alpha=0.3)
    save(fig, path)


def evaluate_run(folder: Path) -> tuple[TrainSpec, dict[str, Any]]:
    """The best checkpoint of the run in `folder`, evaluated on its test set."""
    spec = read_run_config(folder, "RUN")
    device = resolve_device(spec.net.device)
    dtype = resolve_dtype(spec.net.dtype, device)
    data = load_data(spec)
    model = build_model(spec, data)
    ckpt = load_checkpoint(folder / "best.pt")
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        raise NninitError(
            f"{folder / 'best.pt'}: does not fit this run's model ({str(e).splitlines()[0]})"
        ) from None
    model = model.to(device, dtype)
    metric_name, metric, _ = metric_fn(data.task)
    test_loss, test_metric = evaluate(model, data.test.to(device, dtype), loss_fn(spec, data.task), metric)
    return spec, {
        "run": str(folder),
        "metric": metric_name,
        "best_epoch": ckpt.get("epoch"),
        "test": {"loss": test_loss, "metric": test_metric},
    }
