"""Random streams, devices and dtypes.

`--seed` drives several independent streams, one per purpose, so that changing
the batch size or the data set leaves the weights as they were.  Each stream's
seed is a hash of (seed, purpose): stable across machines and Python versions.
Weights are always drawn on the CPU, then moved, so a run on CUDA starts from
the very same weights as a run on the CPU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from nninit_cli.errors import SpecError

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one purpose ('weights', 'data', ...) derived from `seed`."""
    digest = hashlib.blake2b(f"nninit:{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one stream of `seed`."""
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def resolve_device(name: str) -> torch.device:
    """The torch device for `--device`; an unavailable one is a usage error."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise SpecError("--device", "cuda was asked for but this torch sees no CUDA GPU; use cpu or auto")
    if name == "mps" and not mps:
        raise SpecError("--device", "mps was asked for but this machine has no Apple GPU; use cpu or auto")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "float64" and device.type == "mps":
        raise SpecError("--dtype", "float64 is not supported on mps; use float32 or bfloat16")
    return DTYPES[name]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread.  LAPACK's QR and the sums of a
    training step round differently by thread count; where a result must be
    the same bits in every process (init-compare's units), it runs here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
