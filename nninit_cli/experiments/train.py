"""`train`: the course's RunnerV2_2 grown into a trainer people can rely on.

Every epoch: train (minibatches, or the whole set as the course does), evaluate
on dev, keep the best model by dev metric, append a line to metrics.jsonl
(flushed).  Artifacts go to one run folder, each file written atomically:

  config.json    the spec (rebuilds the run: `nninit eval`, `--resume`)
  metrics.jsonl  one strict JSON line per epoch (a nan/inf value is null, and
                 the line's nonfinite_values says what it was)
  best.pt        weights of the best epoch
  last.pt        weights, optimiser, RNG states, counters and the best
                 weights: enough to resume exactly where the run stopped
  curves.png     loss and metric per epoch, train and dev, best epoch marked
  watch.jsonl    with --watch: weight snapshots / gradient norms

best.pt and last.pt are rewritten every --log-every epochs, last.pt also once
CHECKPOINT_SECONDS have passed since it was last written, so a run killed
outright loses at most that much; a write waits, though, until the run has
trained SAVE_SPACING times as long as the previous write took, which keeps the
checkpoints under 5% of the time even with --log-every 1.  Both files are
written durably at the end.
Checkpoints hold only tensors and plain values and are read back with
`torch.load(weights_only=True)`; nothing is unpickled, and a file of the wrong
structure is refused in one line.  Stopping (Ctrl-C, via `should_stop`)
happens at an epoch boundary; `--resume` continues from last.pt, dropping the
log lines of epochs after it, so a resumed run ends with the very files an
uninterrupted one writes.
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nninit_cli.data.datasets import Dataset, Split, load_dataset
from nninit_cli.errors import NninitError, SpecError
from nninit_cli.experiments.run_folder import CONFIG, claim, read_run
from nninit_cli.io import atomic_open, atomic_write_text
from nninit_cli.model.builder import build_model as build_net
from nninit_cli.model.builder import linears, named_linears
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.render.json_out import strict_copy
from nninit_cli.specs import TrainSpec

FORMAT = "nninit-train-1"
SYMMETRY_TOL = 1e-7
CHECKPOINT_SECONDS = 30.0  # last.pt is never older than this (plus one epoch) while a run goes on
SAVE_SPACING = 50  # a periodic write waits for 50x its own duration of training: 2% of the time
VALUES = ("train_loss", "train_metric", "dev_loss", "dev_metric")


@dataclass(frozen=True)
class EpochRecord:
    """One line of metrics.jsonl."""

    epoch: int
    train_loss: float
    train_metric: float
    dev_loss: float
    dev_metric: float
    best: bool

    def finite(self) -> bool:
        return all(math.isfinite(getattr(self, k)) for k in VALUES)

    def to_line(self) -> str:
        """Strict JSON: a non-finite value is null, listed in nonfinite_values.
        Written every epoch, so the common all-finite case skips the scan."""
        row = {k: getattr(self, k) for k in ("epoch", *VALUES, "best")}
        if self.finite():
            return json.dumps(row) + "\n"
        return _strict_line(row)


def _strict_line(obj: dict[str, Any]) -> str:
    """One strict JSON line, non-finite values as in --json's output."""
    found: list[dict[str, str]] = []
    clean = strict_copy(obj, "", found)
    if found:
        clean["nonfinite_values"] = found
    return json.dumps(clean, allow_nan=False) + "\n"


@dataclass
class TrainResult:
    """How a run ended.  stopped: completed, nonfinite (a loss was inf/nan) or
    interrupted.  metric is accuracy (classification) or mse (regression)."""

    config: dict[str, Any]
    metric: str
    history: list[EpochRecord]
    best_epoch: int | None
    best_dev_metric: float | None
    test_loss: float | None
    test_metric: float | None
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
        from nninit_cli.data.datasets import SIZES

        _, a, b = SIZES[spec.dataset]
        sizes = (spec.train_size or a, spec.dev_size or b)
    data_dir = Path(spec.data_dir) if spec.data_dir else None
    return load_dataset(spec.dataset, spec.net.seed, noise=spec.noise, sizes=sizes, data_dir=data_dir)


def build_model(spec: TrainSpec, data: Dataset) -> nn.Module:
    return build_net(
        spec.net, data.in_features, data.out_features, spec.hidden, spec.dropout, data=data.train.x
    )


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


def make_optimizer(spec: TrainSpec, model: nn.Module) -> torch.optim.Optimizer:
    """Weight decay on the Linear weights only unless --decay-bias (seed 001);
    biases, norm scales and SkipInit gates are the rest."""
    decayed = {id(fc.weight) for fc in linears(model)}
    weights = [p for p in model.parameters() if id(p) in decayed]
    biases = [p for p in model.parameters() if id(p) not in decayed]
    groups = [{"params": weights, "weight_decay": spec.weight_decay}]
    if biases:
        groups.append({"params": biases, "weight_decay": spec.weight_decay if spec.decay_bias else 0.0})
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov)
    cls = torch.optim.Adam if spec.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=spec.lr)


def symmetric_layers(model: nn.Module) -> list[str]:
    """Hidden layers whose units all have the same incoming weights (and bias):
    nothing can ever tell those units apart (E1, zero init)."""
    found = []
    for name, fc in list(named_linears(model))[:-1]:
        rows = fc.weight.detach()
        if fc.bias is not None:
            rows = torch.cat([rows, fc.bias.detach()[:, None]], dim=1)
        if len(rows) > 1 and (rows - rows[0]).abs().max().item() <= SYMMETRY_TOL:
            found.append(name)
    return found


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, loss, metric) -> tuple[float, float]:
    model.eval()
    out = model(split.x)
    return loss(out, split.y).item(), metric(out, split.y).item() / len(split)


# ---------------------------------------------------------------------------
# Checkpoints: written atomically, read back only if every piece fits the run


def _save(path: Path, obj: dict[str, Any], durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as fh:
        torch.save(obj, fh)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint nninit wrote (a dict with its format tag), or a one-line
    NninitError naming the file.  Whether its tensors fit a model is checked by
    `check_weights`."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NninitError(f"{path}: missing") from None
    except OSError as e:
        raise NninitError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):  # a FIFO would block torch.load for ever
        raise NninitError(f"{path}: not a regular file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # empty, truncated, a pickle of foreign objects, ...
        raise NninitError(f"{path}: not a readable nninit checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise NninitError(f"{path}: not an nninit train checkpoint")
    return ckpt


def check_weights(path: Path, state: Any, model: nn.Module, what: str = "weights") -> dict[str, torch.Tensor]:
    """`state` if it is a state dict of exactly `model`'s tensors (names,
    shapes, dtypes), else a one-line NninitError."""
    ref = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(ref):
        names = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise NninitError(
            f"{path}: its {what} do not fit this run's model (holds {names}, "
            f"the model has {sorted(ref)}); a checkpoint of another run?"
        )
    for name, t in state.items():
        want = ref[name]
        if not isinstance(t, torch.Tensor) or t.shape != want.shape or t.dtype != want.dtype:
            got = f"{tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise NninitError(
                f"{path}: {what} {name} is {got}, this run's model has {tuple(want.shape)} {want.dtype}; "
                "a checkpoint of another run?"
            )
    return state


def _load_optimizer(path: Path, state: Any, optimizer: torch.optim.Optimizer) -> None:
    """Load `state` into `optimizer` if it is one for these parameters and settings."""
    ref = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state)
    except Exception as e:  # wrong groups, wrong types, a dict of something else
        raise NninitError(f"{path}: its optimiser state does not fit this run ({type(e).__name__})") from None
    for group, want in zip(optimizer.param_groups, ref, strict=True):
        for key in ("lr", "weight_decay", "momentum", "nesterov", "betas"):
            if group.get(key) != want.get(key):
                raise NninitError(
                    f"{path}: its optimiser has {key} {group.get(key)}, this run {want.get(key)}; "
                    "a checkpoint of another run?"
                )
    for p, entry in optimizer.state.items():
        for name, value in entry.items():
            ok = value is None or (
                isinstance(value, torch.Tensor) and (value.dim() == 0 or value.shape == p.shape)
            )
            if not ok:
                raise NninitError(f"{path}: optimiser state {name} does not fit its parameter")


def _check_counters(path: Path, last: dict[str, Any]) -> None:
    epoch, best_epoch, best_metric = last.get("epoch"), last.get("best_epoch"), last.get("best_metric")
    if not _is_int(epoch) or epoch < 0:
        raise NninitError(f"{path}: epoch {epoch!r} is not a whole number >= 0")
    if best_epoch is None and best_metric is None:
        return
    if not (_is_int(best_epoch) and 1 <= best_epoch <= epoch):
        raise NninitError(f"{path}: best_epoch {best_epoch!r} is not an epoch from 1 to {epoch}")
    if not (isinstance(best_metric, float | int) and not isinstance(best_metric, bool)) or not math.isfinite(
        best_metric
    ):
        raise NninitError(f"{path}: best_metric {best_metric!r} is not a finite number")


def _set_rng(path: Path, rng: Any, shuffle: torch.Generator, drops: list[Any]) -> None:
    try:
        shuffle.set_state(rng["shuffle"])
        for d in drops:
            d.gen.set_state(rng["dropout"])
    except Exception as e:  # not a dict, not a ByteTensor, a state of the wrong size
        raise NninitError(f"{path}: its random-stream states are not usable ({type(e).__name__})") from None


# ---------------------------------------------------------------------------
# Logs: metrics.jsonl and watch.jsonl, reconciled with last.pt on --resume


def _read_log(path: Path, through: int, expected: list[int]) -> tuple[str, list[dict[str, Any]]]:
    """The lines of a .jsonl log for epochs 1..`through` (their text and
    objects); later lines are dropped.  A final line cut short by a hard kill
    (no newline, not JSON) is dropped too; any other line that is not a JSON
    object with an epoch is a NninitError, and so is a log whose kept epochs
    are not exactly `expected`."""
    if path.exists() and not path.is_file():  # a FIFO would block the resume forever
        raise NninitError(f"{path}: is not a regular file")
    try:
        raw = path.read_bytes() if path.exists() else b""
    except OSError as e:
        raise NninitError(f"{path}: cannot be read ({e.strerror})") from None
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    kept: list[str] = []
    rows: list[dict[str, Any]] = []
    for number, line in enumerate([*lines, tail], start=1):
        if number > len(lines) and not line:
            break
        try:
            obj = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            if number > len(lines):
                break  # torn by a hard kill while it was written: never complete
            raise NninitError(f"{path}: line {number} is not valid JSON; restore or remove it") from None
        if not isinstance(obj, dict) or not _is_int(obj.get("epoch")):
            raise NninitError(f"{path}: line {number} is not an nninit log line (no epoch)")
        if obj["epoch"] <= through:
            kept.append(line.decode("utf-8") + "\n")
            rows.append(obj)
    epochs = [r["epoch"] for r in rows]
    if epochs != expected:

        def span(es: list[int]) -> str:
            return "none" if not es else f"{len(es)} lines, epochs {es[0]} to {es[-1]}"

        raise NninitError(
            f"{path}: holds {span(epochs)} up to last.pt's epoch {through}, expected {span(expected)}; "
            "it does not belong to this checkpoint"
        )
    return "".join(kept), rows


def _record(path: Path, obj: dict[str, Any]) -> EpochRecord:
    """A metrics.jsonl line back as the record it was written from."""
    row = dict(obj)
    for entry in row.pop("nonfinite_values", []) or []:
        key = str(entry.get("path", "")).lstrip(".") if isinstance(entry, dict) else ""
        if key in VALUES and row.get(key) is None:
            row[key] = float(entry.get("value"))
    try:
        record = EpochRecord(**row)
    except TypeError:
        raise NninitError(f"{path}: epoch {obj['epoch']} is not a metrics line ({sorted(obj)})") from None
    for key in VALUES:
        value = getattr(record, key)
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise NninitError(f"{path}: epoch {record.epoch}: {key} is {value!r}, not a number")
    if not isinstance(record.best, bool):
        raise NninitError(f"{path}: epoch {record.epoch}: best is {record.best!r}, not true or false")
    return record


def _watch_epochs(spec: TrainSpec, through: int) -> list[int]:
    return [e for e in range(1, through + 1) if e == 1 or e % spec.log_every == 0] if spec.watch else []


@dataclass
class _Start:
    """Where a run (re)starts: the counters and best model of its checkpoint."""

    epoch: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    history: list[EpochRecord] = field(default_factory=list)


def _resume(spec: TrainSpec, out: Path, model: nn.Module, optimizer, shuffle, drops) -> _Start:
    """Load last.pt into the model, optimiser and random streams and bring the
    folder in line with it.  Everything is checked before anything is written."""
    last_path, best_path = out / "last.pt", out / "best.pt"
    metrics_path, watch_path = out / "metrics.jsonl", out / "watch.jsonl"
    recorded = read_run(out, "--resume")
    if replace(recorded, epochs=spec.epochs, fail_on=spec.fail_on) != spec:
        raise SpecError("--resume", f"the run in {out} has other settings than the ones given")
    last: dict[str, Any] = {}
    if not last_path.exists():  # killed before its first checkpoint: nothing to lose
        text, rows = _read_log(metrics_path, 0, [])
        if rows or text:
            raise NninitError(f"{last_path}: missing, yet {metrics_path.name} holds epochs; cannot resume")
        start = _Start()
    else:
        last = load_checkpoint(last_path)
        _check_counters(last_path, last)
        model.load_state_dict(check_weights(last_path, last["model"], model))
        _load_optimizer(last_path, last.get("optimizer"), optimizer)
        _set_rng(last_path, last.get("rng"), shuffle, drops)
        start = _Start(last["epoch"], last["best_metric"], last["best_epoch"])
    if start.epoch > spec.epochs:
        raise SpecError("--epochs", f"the run in {out} is at epoch {start.epoch}; give {start.epoch} or more")
    best_ckpt = load_checkpoint(best_path) if best_path.exists() else None
    if best_ckpt is not None:
        check_weights(best_path, best_ckpt["model"], model, "best weights")
    if start.best_epoch is not None:
        if "best_model" in last:
            start.best_state = check_weights(last_path, last["best_model"], model, "best weights")
        elif best_ckpt is not None and best_ckpt.get("epoch") == start.best_epoch:  # last.pt of nninit 0.1
            start.best_state = best_ckpt["model"]
        else:
            raise NninitError(f"{last_path}: no best weights, and best.pt is not epoch {start.best_epoch}")
    metrics_text, rows = _read_log(metrics_path, start.epoch, list(range(1, start.epoch + 1)))
    start.history = [_record(metrics_path, r) for r in rows]
    watch_text = None
    if spec.watch:
        watch_text, _ = _read_log(watch_path, start.epoch, _watch_epochs(spec, start.epoch))

    # all checked: now the folder follows last.pt
    if recorded != spec:  # --epochs or --fail-on changed: config.json follows
        atomic_write_text(out / CONFIG, json.dumps({"command": "train", "config": spec.to_dict()}, indent=2))
    for path, text in ((metrics_path, metrics_text), (watch_path, watch_text)):
        if text is not None and not (path.exists() and path.read_bytes() == text.encode()):
            atomic_write_text(path, text)
    if start.best_state is None:
        if best_ckpt is not None:  # written after last.pt's epoch: not this checkpoint's
            best_path.unlink()
    elif best_ckpt is None or best_ckpt.get("epoch") != start.best_epoch:
        _save(best_path, {"format": FORMAT, "model": start.best_state, "epoch": start.best_epoch})
    return start


# ---------------------------------------------------------------------------
# The loop


def run_train(
    spec: TrainSpec,
    out: Path,
    resume: bool = False,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    periodic: bool = True,
) -> TrainResult:
    """Train `spec` with artifacts in `out` (resuming from out/last.pt if
    `resume`).  `on_epoch` sees every epoch; `should_stop` is asked after each.
    The folder is claimed for the whole run (another process gets a SpecError);
    `periodic` False skips the checkpoints between the start and the end (for
    measuring what they cost)."""
    with claim(out, "--resume" if resume else "--out", resume=resume):
        return _run_train(spec, out, resume, on_epoch, should_stop, periodic)


def _run_train(spec, out, resume, on_epoch, should_stop, periodic) -> TrainResult:
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

    if resume:
        s = _resume(spec, out, model, optimizer, shuffle, drops)
    else:
        s = _Start()
        atomic_write_text(out / CONFIG, json.dumps({"command": "train", "config": spec.to_dict()}, indent=2))
        atomic_write_text(out / "metrics.jsonl", "")
        if spec.watch:
            atomic_write_text(out / "watch.jsonl", "")
    history, best_metric, best_epoch, best_state = s.history, s.best_metric, s.best_epoch, s.best_state

    def snapshot(epoch: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "best_metric": best_metric,
            "best_epoch": best_epoch,
            "best_model": best_state,  # so best.pt can always be made to match this checkpoint
            "rng": {
                "shuffle": shuffle.get_state(),
                "dropout": drops[0].gen.get_state() if drops else shuffle.get_state(),
            },
        }

    saved_at = time.monotonic()
    if not resume:
        _save(out / "last.pt", snapshot(0), durable=False)  # from here on, --resume always has a start
    save_cost = time.monotonic() - saved_at
    stopped = "completed"
    best_written = best_epoch or 0
    watch = open(out / "watch.jsonl", "a", encoding="utf-8") if spec.watch else None  # noqa: SIM115
    metrics_file = open(out / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    try:
        epoch = s.epoch
        for epoch in range(s.epoch + 1, spec.epochs + 1):
            train_loss, train_metric = _train_epoch(spec, model, train, loss, metric, optimizer, shuffle)
            dev_loss, dev_metric = evaluate(model, dev, loss, metric)
            record = EpochRecord(epoch, train_loss, train_metric, dev_loss, dev_metric, False)
            if not record.finite():
                stopped = "nonfinite"  # never the best epoch, and the last one
            elif best_metric is None or (dev_metric > best_metric if higher else dev_metric < best_metric):
                best_metric, best_epoch = dev_metric, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                record = replace(record, best=True)
            history.append(record)
            metrics_file.write(record.to_line())
            metrics_file.flush()
            due = epoch % spec.log_every == 0
            if watch is not None and (epoch == 1 or due):
                watch.write(_strict_line(_watch(spec, model, epoch)))
                watch.flush()
            now = time.monotonic()
            since = now - saved_at
            if periodic and ((due and since >= SAVE_SPACING * save_cost) or since >= CHECKPOINT_SECONDS):
                if due and best_epoch is not None and best_epoch > best_written:
                    # on disk at most once per --log-every epochs; durably at the end (below)
                    best_ckpt = {"format": FORMAT, "model": best_state, "epoch": best_epoch}
                    _save(out / "best.pt", best_ckpt, durable=False)
                    best_written = best_epoch
                _save(out / "last.pt", snapshot(epoch), durable=False)
                saved_at = time.monotonic()
                save_cost = saved_at - now
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

    draw_curves(out / "curves.png", history, metric_name, best_epoch)
    test_loss = test_metric = None  # no finite epoch: no best model to test
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


def _watch(spec: TrainSpec, model: nn.Module, epoch: int) -> dict[str, Any]:
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


GREY = "#444444"


def draw_curves(path: Path, history: list[EpochRecord], metric: str, best_epoch: int | None = None) -> None:
    """The course's figure: loss (left) and metric (right), train and dev, the
    best epoch marked on both and an inf/nan epoch in red; legends sit below
    the axes, off the curves.  A loss (or mse) spanning more than 100x is drawn
    on a log axis, so a divergence does not flatten the rest to a line."""
    from nninit_cli.render.plot import figure, save

    def finite(values: list[float]) -> list[float]:
        return [v if math.isfinite(v) else math.nan for v in values]

    fig = figure(figsize=(10, 4.8))
    a, b = fig.subplots(1, 2)
    epochs = [r.epoch for r in history]
    by_epoch = {r.epoch: r for r in history}
    broken = next((r.epoch for r in history if not r.finite()), None)
    panels = ((a, "loss", "train_loss", "dev_loss"), (b, metric, "train_metric", "dev_metric"))
    for ax, label, train_key, dev_key in panels:
        train_values = finite([getattr(r, train_key) for r in history])
        dev_values = finite([getattr(r, dev_key) for r in history])
        ax.plot(epochs, train_values, color="#e4007f", label=f"train {label}")
        ax.plot(epochs, dev_values, color="#f19ec2", linestyle="--", label=f"dev {label}")
        if best_epoch is not None and best_epoch in by_epoch:
            mark = getattr(by_epoch[best_epoch], dev_key)
            ax.axvline(best_epoch, color=GREY, linestyle=":", linewidth=1, label=f"best epoch ({best_epoch})")
            ax.plot([best_epoch], [mark], "o", color=GREY, markersize=5)
        if broken is not None:
            ax.axvline(broken, color="red", linewidth=1, label=f"inf/nan (epoch {broken})")
        shown = [v for v in train_values + dev_values if v > 0]  # nan > 0 is False
        if label != "accuracy" and shown and max(shown) > 100 * min(shown):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize="small")
    fig.subplots_adjust(bottom=0.28, wspace=0.3)
    save(fig, path)


def evaluate_run(folder: Path) -> tuple[TrainSpec, dict[str, Any]]:
    """The best checkpoint of the run in `folder`, evaluated on its test set."""
    spec = read_run(folder)
    best_path = folder / "best.pt"
    if not best_path.exists():
        raise NninitError(f"{folder}: no best.pt yet (no epoch of the run has finished with finite numbers)")
    ckpt = load_checkpoint(best_path)
    if not _is_int(ckpt.get("epoch")) or ckpt["epoch"] < 1:
        raise NninitError(f"{best_path}: epoch {ckpt.get('epoch')!r} is not a whole number >= 1")
    device = resolve_device(spec.net.device)
    dtype = resolve_dtype(spec.net.dtype, device)
    data = load_data(spec)
    model = build_model(spec, data).to(dtype=dtype)
    model.load_state_dict(check_weights(best_path, ckpt["model"], model))
    model = model.to(device)
    metric_name, metric, _ = metric_fn(data.task)
    test_loss, test_metric = evaluate(model, data.test.to(device, dtype), loss_fn(spec, data.task), metric)
    return spec, {
        "run": str(folder),
        "metric": metric_name,
        "best_epoch": ckpt["epoch"],
        "test": {"loss": test_loss, "metric": test_metric},
    }
