"""Reader and writer for the IDX files MNIST and Fashion-MNIST ship as
(train-images-idx3-ubyte[.gz] and friends).  No download: point --data-dir at a
folder that holds them.

An IDX file: two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the data, row-major.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nninit_cli.errors import SpecError

_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (gzipped or raw); a malformed one is a
    SpecError naming the file."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise SpecError("--data-dir", f"{path}: cannot be read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise SpecError("--data-dir", f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise SpecError("--data-dir", f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = np.dtype(_TYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 0
    if len(raw) != head + count * dtype.itemsize:
        raise SpecError(
            "--data-dir",
            f"{path}: holds {len(raw) - head} data bytes, its header says {count * dtype.itemsize}",
        )
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write `array` (uint8 or int8) as an IDX file; used to make test data."""
    a = np.ascontiguousarray(array)
    data = bytes([0, 0, _CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
