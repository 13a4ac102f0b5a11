"""Map one function over units of work: in this process, in local worker
processes, or on a Ray cluster.

A unit is plain data (a dict that survives JSON) and so is its result; the
function is a module-level one, so it pickles by name.  The executor only
decides *where* a unit runs, never how it is computed: each unit's result is
the same bytes wherever it ran, and the caller puts results back in unit order.
No scheduling of our own: a process pool or Ray's scheduler hands units out.

`run_units` yields (index, result) as units finish.  Ctrl-C (KeyboardInterrupt
in the main thread) stops it at once: units still running are abandoned, no
new one starts, worker processes are terminated, and the interrupt propagates
to the caller, which still holds every result it was given.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nninit_cli.errors import SpecError

Unit = dict[str, Any]
UnitFn = Callable[[Unit], Any]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Executor:
    """Where units run: `workers` local processes (1: this process), or Ray
    (`kind="ray"`, on the cluster at `address`, or a local Ray started here
    with `workers` CPUs when no address is given)."""

    kind: str = "local"
    workers: int = 1
    address: str | None = None


def run_units(fn: UnitFn, units: list[Unit], executor: Executor) -> Iterator[tuple[int, Any]]:
    """(index, fn(units[index])) for every unit, in the order they finish."""
    if executor.kind == "ray":
        yield from _ray(fn, units, executor)
    elif executor.workers <= 1 or len(units) <= 1:
        for i, unit in enumerate(units):
            yield i, fn(unit)
    else:
        yield from _processes(fn, units, executor.workers)


def worker_threads(workers: int) -> int:
    """Intra-op threads per worker: the machine's cores shared out, so that N
    workers do not fight over the same cores (torch's default is all of them)."""
    return max(1, (os.cpu_count() or 1) // workers)


def _init_worker(threads: int) -> None:
    """A worker leaves Ctrl-C to the parent (which decides what is kept) and
    uses its share of the cores."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


def _processes(fn: UnitFn, units: list[Unit], workers: int) -> Iterator[tuple[int, Any]]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: a forked child of a process whose OpenMP threads have
    # run can hang in its first parallel region
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(worker_threads(workers),)
    )
    finished = False
    try:
        pending = {pool.submit(fn, unit): i for i, unit in enumerate(units)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as broken:
                    raise SpecError(
                        "--workers",
                        "a worker process died (out of memory or killed); run with fewer --workers",
                    ) from broken
                yield i, result
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted or failed: nothing more runs
            pool.shutdown(wait=False, cancel_futures=True)
            for child in mp.active_children():
                child.terminate()
            for child in mp.active_children():
                child.join(timeout=5)


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _ray(fn: UnitFn, units: list[Unit], executor: Executor) -> Iterator[tuple[int, Any]]:
    if not ray_available():
        raise SpecError(
            "--executor", "ray is not installed; pip install 'nninit[ray]' (or use --executor local)"
        )
    import ray

    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "error",
        }
        if executor.address:
            _check_reachable(executor.address)
            options["address"] = executor.address
        else:
            options["num_cpus"] = executor.workers
        ours = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise SpecError("--ray-address", f"could not start or reach Ray: {err}") from err
        finally:
            # Ray's core installs its own SIGTERM handler (a stack dump, exit
            # 15): Ctrl-C and SIGTERM must stay the caller's
            for sig, handler in ours.items():
                if handler is not None:
                    signal.signal(sig, handler)
    remote = ray.remote(num_cpus=1)(_ray_unit).options(runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    refs = {remote.remote(fn, unit): i for i, unit in enumerate(units)}
    finished = False
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                yield refs.pop(ref), ray.get(ref)
        finished = True
    finally:
        if not finished:
            for ref in refs:
                ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse, in seconds, an address nothing listens on: Ray itself retries a
    missing head for minutes, deaf to Ctrl-C."""
    if address == "auto":
        return
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        why = f"nothing answers at {address} ({err}); is the Ray head running?"
        raise SpecError("--ray-address", why) from err


def _ray_unit(fn: UnitFn, unit: Unit) -> Any:
    """One unit on a Ray worker, with one intra-op thread (Ray gives it one CPU)."""
    import torch

    torch.set_num_threads(1)
    return fn(unit)
