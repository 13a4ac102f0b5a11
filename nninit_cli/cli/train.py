"""`nninit train` and `nninit eval`: train an MLP, evaluate a finished run."""

import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.errors import Stopped
from nninit_cli.specs import train_flags


@options(train_flags())
def command(
    shared: Shared,
    out: Annotated[
        Optional[str],
        typer.Option(
            "--out", help="Run folder, new or empty (default runs/train-<date>-<time>).", metavar="DIR"
        ),
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            "--resume",
            help="Continue the run in this folder with its own settings; --epochs may extend it, "
            "the output flags apply as usual.",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Train an MLP; keep curves and checkpoints.

    Evaluates on dev after every epoch and keeps the best model, as the course's
    runner does; writes config.json, metrics.jsonl (one line per epoch, flushed),
    best.pt and last.pt (weights only) and curves.png to the run folder, a new
    or empty one that no other process may write meanwhile.  Ctrl-C or SIGTERM
    stops at the end of the epoch, writes everything and exits 130; even after
    a hard kill, --resume continues exactly where last.pt stopped.  Progress
    goes to stderr, results to stdout.

    \b
    Example:
      nninit train --init zeros --bias 0 --epochs 100      # symmetric: learns nothing
      nninit train --init normal --std 1 --epochs 1000     # dev accuracy > 0.8
      nninit train --dataset linreg --weight-decay 3 --lr 0.003
      nninit train --dataset digits --act relu --init kaiming --lr 0.1 --epochs 5
      nninit train --resume runs/train-20261123-101500
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.errors import SpecError
    from nninit_cli.experiments.run_folder import claim, new_run_folder, resume_spec
    from nninit_cli.specs import train_spec

    flags = shared.flags
    for name, value in (("--out", out), ("--resume", resume)):
        if value is not None and not value.strip():
            raise SpecError(name, "must name a folder, got ''")
    if resume is not None:
        if out is not None:
            raise SpecError("--out", "cannot be combined with --resume (the run stays in its folder)")
        if shared.config is not None:
            raise SpecError("--config", "cannot be combined with --resume (the run keeps its own settings)")
        spec = resume_spec(Path(resume), flags)
    else:
        spec = train_spec(flags, shared.config)
    check_outputs(shared)
    _outside_run_folder(shared, resume if resume is not None else out)
    if resume is not None:
        folder, flag, made = Path(resume), "--resume", False
    elif out is not None:
        folder, flag, made = Path(out), "--out", False
    else:
        folder, flag, made = new_run_folder(), "--out", True
    with claim(folder, flag, resume=resume is not None, made=made):
        code = _run(spec, folder, resume is not None, shared)
    raise typer.Exit(code)


def _run(spec, folder: Path, resume: bool, shared: Shared) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.train import run_train
    from nninit_cli.render import table

    stop = {"asked": False}

    def ask_stop(signum, _frame) -> None:
        stop["asked"] = True
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal: stop right away
            signal.signal(sig, signal.default_int_handler)
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        _say(f"nninit: {what}: stopping at the end of this epoch (Ctrl-C again to abort)")

    previous = {sig: signal.signal(sig, ask_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _progress(spec) as on_epoch:
            res = run_train(spec, folder, resume=resume, on_epoch=on_epoch, should_stop=lambda: stop["asked"])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # every file of the run is written and closed: only now does anything go to stdout
    results = res.to_dict()
    code = emit(
        "train",
        res.config,
        results,
        shared,
        tables=lambda: table.train_tables(res),
        summary=table.train_summary(res),
        rows=lambda: [dict(r.__dict__) for r in res.history],  # one row per epoch, as metrics.jsonl
        plot=lambda p: _copy_curves(folder, res, p),
        fail_on=spec.fail_on,
    )
    if res.stopped == "interrupted":
        raise Stopped(
            f"interrupted; best.pt, last.pt and metrics.jsonl are in {folder} "
            f"(nninit train --resume {folder})"
        )
    return code


def _say(line: str) -> bool:
    """A line on stderr; False if stderr is gone (a closed pipe never stops a run)."""
    try:
        print(line, file=sys.stderr, flush=True)
        return True
    except (OSError, ValueError):
        return False


def _copy_curves(folder: Path, res, path: Path) -> None:
    """--plot: the run's curves.png, or the same figure redrawn as .svg / .pdf."""
    from nninit_cli.io import atomic_write_with

    if path.suffix.lower() == ".png":
        data = (folder / "curves.png").read_bytes()
        atomic_write_with(path, lambda fh: fh.write(data))
    else:
        from nninit_cli.experiments.train import draw_curves

        draw_curves(path, res.history, res.metric)


class _progress:
    """Progress on stderr, never stdout (stdout is for results): a rich bar
    when stderr is a terminal, else a plain line every --log-every epochs."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.bar = None
        self.quiet = False

    def __enter__(self):
        from nninit_cli.cli._output import progress_bar

        self.bar = progress_bar("epoch", description=True)
        if self.bar is not None:
            self.bar.update(self.bar.tasks[0].id, total=self.spec.epochs)
        return self.on_epoch

    def on_epoch(self, r) -> None:
        from nninit_cli.render.table import num

        if self.bar is not None:
            self.bar.update(
                self.bar.tasks[0].id,
                completed=r.epoch,
                description=f"loss {num(r.train_loss)}  dev {num(r.dev_metric)}",
            )
        elif not self.quiet and (
            r.epoch == 1 or r.epoch % self.spec.log_every == 0 or r.epoch == self.spec.epochs
        ):
            self.quiet = not _say(
                f"epoch {r.epoch}/{self.spec.epochs}: train loss {num(r.train_loss)}, "
                f"dev loss {num(r.dev_loss)}, dev metric {num(r.dev_metric)}"
            )

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


@options(plot=False)
def eval_command(
    shared: Shared,
    run: Annotated[str, typer.Argument(help="A run folder written by nninit train.", metavar="RUN")],
) -> None:
    """Evaluate a run's best checkpoint on its test set.

    A folder that is not a run, or whose files are damaged or from another
    run, is refused in one line (exit 1).

    \b
    Example:
      nninit eval runs/train-20261123-101500
      nninit eval runs/train-20261123-101500 --json | jq .test.metric
    """
    from nninit_cli.cli._output import check_outputs, emit
    from nninit_cli.errors import SpecError
    from nninit_cli.experiments.run_folder import read_run

    if not run.strip():
        raise SpecError("RUN", "must name a run folder, got ''")
    read_run(Path(run))  # a non-run is refused before torch is imported
    check_outputs(shared)
    _outside_run_folder(shared, run)

    from nninit_cli.experiments.train import evaluate_run
    from nninit_cli.render.csv_out import eval_rows
    from nninit_cli.render.table import num

    spec, result = evaluate_run(Path(run))
    line = (
        f"{run}: best epoch {result['best_epoch']}, test loss {num(result['test']['loss'])}, "
        f"test {result['metric']} {num(result['test']['metric'])}"
    )
    raise typer.Exit(emit("eval", spec.to_dict(), result, shared, tables=lambda: [], summary=line,
                          rows=lambda: eval_rows(result)))  # fmt: skip


def _outside_run_folder(shared: Shared, folder: str | None) -> None:
    """--csv and --plot may not land in the run folder: its files are the run's
    (a CSV over best.pt or config.json would break it)."""
    from nninit_cli.errors import SpecError
    from nninit_cli.io import is_inside

    if not folder:
        return
    for flag, path in (("--csv", shared.csv), ("--plot", shared.plot)):
        if path is not None and is_inside(path, folder):
            raise SpecError(flag, f"{str(path)!r} is inside the run folder {folder!r}; write it elsewhere")
