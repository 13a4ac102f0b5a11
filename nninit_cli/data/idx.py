"""Reader and writer for the IDX files MNIST and Fashion-MNIST ship as
(train-images-idx3-ubyte[.gz] and friends).  No download: point --data-dir at a
folder that holds them.

An IDX file: two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the data, row-major.

Files come from users, so reading is bounded: the header is checked (magic,
type, 1 to 4 dimensions, none of them 0) and the size it declares is checked
against MAX_DATA_BYTES before anything is allocated; a gzipped file is
decompressed as a stream, never further than the declared size plus one byte,
so a gzip bomb costs at most the declared size in memory.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

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

# MNIST's largest file (train images) holds 47 MB of data; 256 MiB admits it five
# times over (EMNIST digits, 188 MB, fits) and bounds what one file may cost.
MAX_DATA_BYTES = 256 * 2**20
MAX_NDIM = 4  # images are N x H x W (N x H x W x C at most), labels N


def read_idx(path: Path, flag: str = "--data-dir", max_bytes: int = MAX_DATA_BYTES) -> np.ndarray:
    """The array in an IDX file (gzipped or raw); a malformed, oversized or
    unreadable one is a SpecError for `flag` naming the file and what is wrong."""
    try:
        with _open_regular(path, flag) as fh:
            size = os.fstat(fh.fileno()).st_size
            gzipped = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            if size > max_bytes + 4 + 4 * MAX_NDIM:
                raise SpecError(flag, f"{path}: {size} bytes, more than the {_mib(max_bytes)} allowed")
            if gzipped:
                with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
                    return _read_stream(stream, path, flag, max_bytes, None)
            return _read_stream(fh, path, flag, max_bytes, size)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise SpecError(flag, f"{path}: cannot be read ({why})") from None


def _read_stream(stream: BinaryIO, path: Path, flag: str, max_bytes: int, size: int | None) -> np.ndarray:
    """Header, then exactly the data it declares; `size` is the file's length
    when it is known before reading (a raw file)."""
    magic = _read_exact(stream, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES:
        raise SpecError(flag, f"{path}: not an IDX file (bad magic number {magic.hex() or 'none'})")
    ndim = magic[3]
    if not 1 <= ndim <= MAX_NDIM:
        raise SpecError(flag, f"{path}: declares {ndim} dimensions; an IDX file here has 1 to {MAX_NDIM}")
    dims = _read_exact(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise SpecError(flag, f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims)
    if 0 in shape:
        raise SpecError(flag, f"{path}: declares shape {_shape(shape)}, which holds no data")
    dtype = np.dtype(_TYPES[magic[2]])
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))  # Python ints: no overflow
    if nbytes > max_bytes:
        what = f"declares shape {_shape(shape)}: {nbytes} bytes, more than the {_mib(max_bytes)} allowed"
        raise SpecError(flag, f"{path}: {what}")
    head = 4 + 4 * ndim
    if size is not None and size != head + nbytes:
        raise SpecError(flag, f"{path}: holds {size - head} data bytes, its header declares {nbytes}")
    data = _read_exact(stream, nbytes)
    if len(data) < nbytes:
        raise SpecError(flag, f"{path}: holds {len(data)} data bytes, its header declares {nbytes}")
    if stream.read(1):  # also checks a gzip stream's CRC and length
        raise SpecError(flag, f"{path}: holds more data than the {nbytes} bytes its header declares")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _read_exact(stream: BinaryIO, n: int) -> bytearray:
    """Up to `n` bytes (fewer only at the end of the stream), in one buffer."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            break
        got += k
    view.release()
    del buf[got:]
    return buf


def _open_regular(path: Path, flag: str) -> BinaryIO:
    """`path` opened for reading if it is a regular file.  O_NONBLOCK: opening a
    FIFO with no writer returns at once (and is then refused) instead of hanging."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SpecError(flag, f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write `array` (uint8 or int8) as an IDX file; used to make test data."""
    a = np.ascontiguousarray(array)
    data = bytes([0, 0, _CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
