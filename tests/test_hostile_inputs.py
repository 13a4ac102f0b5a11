"""Hostile input files: TOML configs and IDX folders a user may hand nninit.

Each case must end in exit 2 with one line on stderr that names the flag and
the file, no traceback, nothing on stdout, and no file in the folder changed.
Reading is bounded: a config from /dev/zero, a FIFO with no writer and a gzip
bomb in an IDX folder are refused quickly and in bounded memory.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nninit_cli.data.datasets import IDX_FILES
from tests.conftest import CliResult, run_subprocess

# ---------------------------------------------------------------------------
# Helpers


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """Every entry under `folder` (not following links): a regular file's mode
    and bytes (size and mtime above 4 MiB), else its type.  Never opens a FIFO
    or a device."""
    out: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if rel.split(os.sep)[0] in skip:
                continue
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) and path.stat().st_size <= 2**22:
                out[rel] = (stat.S_IMODE(mode), path.read_bytes())
            elif stat.S_ISREG(mode):  # the sparse giants: not read back
                st = path.stat()
                out[rel] = (stat.S_IMODE(mode), st.st_size, st.st_mtime_ns)
            else:
                out[rel] = stat.S_IFMT(mode)
    return out


def assert_refused(r: CliResult, *words: str) -> str:
    """Exit 2, one `nninit: error:` line holding `words`, no traceback, no stdout."""
    assert r.code == 2, (r.code, r.err[-2000:])
    assert "Traceback" not in r.err + r.out
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nninit: error: "), r.err[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    a = np.ascontiguousarray(array)
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def header(code: int, *dims: int) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


# ---------------------------------------------------------------------------
# TOML configs: `std-trace --config FILE` reads them through the same code as
# every command; `nninit run FILE` through the preset path.

DEEP = 10_000  # levels: the file stays under the 64 KiB cap, so the depth check answers

TOML_CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    # (id, file content, words the error line must hold)
    ("not-utf8", b"\xff\xfe layers = 3\n", ("--config", "not UTF-8 text", "0xff")),
    ("latin1", 'description = "café"\n'.encode("latin-1"), ("not UTF-8 text", "0xe9 at line 1, column 19")),
    ("utf16", "layers = 3\n".encode("utf-16"), ("not UTF-8 text",)),
    ("nul-byte", b"layers = 3\x00\n", ("holds a NUL byte", "line 1, column 11")),
    ("deep-arrays", b"a = " + b"[" * DEEP, ("brackets nested more than 16 deep", "line 1, column 21")),
    ("deep-arrays-closed", b"a = " + b"[" * 17 + b"]" * 17 + b"\n", ("nested more than 16",)),
    ("deep-inline-tables", b"a = " + b"{b = " * DEEP, ("brackets nested more than 16 deep",)),
    ("deep-on-line-3", b"layers = 2\n\nx = " + b"[" * 40, ("nested", "line 3, column 21")),
    ("dotted-key", b"a" + b".a" * DEEP + b" = 1\n", ("a dotted key of more than 16 parts",)),
    ("dotted-header", b"[a" + b".a" * DEEP + b"]\n", ("dotted key",)),
    ("dotted-quoted", b"a" + b'."a"' * DEEP + b" = 1\n", ("dotted key",)),
    ("too-big", b"# padding\n" * 7000, ("more than 64 KiB",)),
    ("int-5000-digits", b"layers = " + b"9" * 5000 + b"\n", ("not valid TOML", "4300 digits")),
    ("invalid", b"layers = \n", ("not valid TOML",)),
    ("duplicate-key", b"layers = 2\nlayers = 3\n", ("not valid TOML",)),
    ("bom-then-bad", b"\xef\xbb\xbf[[", ("not valid TOML",)),
    ("layers-table", b"layers = {a = 1}\n", ("key 'layers'", "whole number")),
    ("layers-huge", b"layers = 99999999999999999999999\n", ("key 'layers'", "1 to 100000")),
    ("layers-bool", b"layers = true\n", ("key 'layers'",)),
    ("layers-float", b"layers = 2.5\n", ("key 'layers'",)),
    ("width-nan", b"width = nan\n", ("key 'width'", "nan")),
    ("seed-inf", b"seed = 1e400\n", ("key 'seed'", "inf")),
    ("act-list-of-ints", b"act = [1, 2]\n", ("key 'act'",)),
    ("act-table", b"act = {a = 1}\n", ("key 'act'",)),
    ("std-date", b"std = 1979-05-27\n", ("key 'std'", "must be a number")),
    ("bias-table", b"bias = {a = 1}\n", ("key 'bias'",)),
    ("gain-negative", b"gain = -1\n", ("key 'gain'",)),
    ("no-bias-string", b'no-bias = "yes"\n', ("key 'no-bias'", "true or false")),
    ("dtype-unknown", b'dtype = "float16"\n', ("key 'dtype'",)),
    ("fail-on-nested", b"fail-on = [[1]]\n", ("key 'fail-on'",)),
    ("command-int", b"command = 5\n", ("key 'command' must be a string",)),
    ("description-list", b"description = [1]\n", ("key 'description' must be a string",)),
    ("command-other", b'command = "train"\n', ("preset for 'train'",)),
    ("unknown-key", b"layerz = 3\n", ("unknown key 'layerz'",)),
    ("unknown-table", b"[foo]\nx = 1\n", ("unknown key 'foo'",)),
    ("table-for-a-flag", b"[layers]\nx = 1\n", ("key 'layers'", "whole number")),
]


@pytest.mark.parametrize("content, words", [c[1:] for c in TOML_CASES], ids=[c[0] for c in TOML_CASES])
def test_hostile_config(cli, tmp_path, monkeypatch, content, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_bytes(content)
    before = snapshot(tmp_path)
    r = cli("std-trace", "--config", "bad.toml")
    assert_refused(r, "--config", "bad.toml", *words)
    assert snapshot(tmp_path) == before


PRESET_CASES = [
    ("not-utf8", b'command = "std-trace"\nact = "\xe9"\n', "not UTF-8 text"),
    ("deep", b'command = "std-trace"\nx = ' + b"[" * DEEP, "nested more than 16"),
    ("command-int", b"command = 5\n", "key 'command' must be a string"),
    ("empty", b"", "names no command"),
]


@pytest.mark.parametrize("content, word", [c[1:] for c in PRESET_CASES], ids=[c[0] for c in PRESET_CASES])
def test_hostile_preset_file(cli, tmp_path, monkeypatch, content, word):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_bytes(content)
    before = snapshot(tmp_path)
    assert_refused(cli("run", "p.toml"), "PRESET", "p.toml", word)
    assert snapshot(tmp_path) == before


def _missing(tmp: Path) -> str:
    return "nope.toml"


def _folder(tmp: Path) -> str:
    (tmp / "conf.toml").mkdir()
    return "conf.toml"


def _sparse_gigabyte(tmp: Path) -> str:
    with open(tmp / "big.toml", "wb") as fh:
        fh.truncate(2**30)  # reads as 1 GiB of NULs, takes no disk
    return "big.toml"


def _unreadable(tmp: Path) -> str:
    (tmp / "locked.toml").write_text("layers = 2\n")
    (tmp / "locked.toml").chmod(0)
    return "locked.toml"


def _link_to_zero(tmp: Path) -> str:
    (tmp / "zero.toml").symlink_to("/dev/zero")
    return "zero.toml"


CONFIG_PATH_CASES: list[tuple[str, Callable[[Path], str], str]] = [
    ("missing", _missing, "no such file"),
    ("folder", _folder, "is a folder"),
    ("sparse-1GiB", _sparse_gigabyte, "more than 64 KiB"),
    ("symlink-to-dev-zero", _link_to_zero, "not a regular file"),
    ("chmod-000", _unreadable, "cannot be read (Permission denied)"),
]


@pytest.mark.parametrize(
    "make, word", [c[1:] for c in CONFIG_PATH_CASES], ids=[c[0] for c in CONFIG_PATH_CASES]
)
def test_hostile_config_path(cli, tmp_path, monkeypatch, make, word):
    if make is _unreadable and os.geteuid() == 0:
        pytest.skip("root reads a chmod 000 file")
    if make is _link_to_zero and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    monkeypatch.chdir(tmp_path)
    name = make(tmp_path)
    before = snapshot(tmp_path)
    start = time.monotonic()
    assert_refused(cli("std-trace", "--config", name), "--config", name, word)
    assert time.monotonic() - start < 5
    assert snapshot(tmp_path) == before


DEVICE_CASES = [
    ("fifo-without-writer", None, "not a regular file"),
    ("dev-zero", "/dev/zero", "not a regular file"),
    ("dev-urandom", "/dev/urandom", "not a regular file"),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("path, word", [c[1:] for c in DEVICE_CASES], ids=[c[0] for c in DEVICE_CASES])
def test_config_from_a_device_or_fifo_does_not_hang(tmp_path, monkeypatch, path, word):
    """A real process: a blocking open or an endless read would hit the timeout."""
    monkeypatch.chdir(tmp_path)
    if path is None:
        os.mkfifo(tmp_path / "fifo.toml")
        path = "fifo.toml"
    before = snapshot(tmp_path)
    start = time.monotonic()
    r = run_subprocess("std-trace", "--config", path, timeout=30)
    assert_refused(r, "--config", path, word)
    assert time.monotonic() - start < 15
    assert snapshot(tmp_path) == before


def test_empty_config_and_bom_are_accepted(cli, tmp_path):
    """Empty is valid TOML (no keys); a UTF-8 BOM, as Notepad writes, is skipped."""
    (tmp_path / "empty.toml").write_bytes(b"")
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbflayers = 3\nwidth = 8\n")
    base = ["std-trace", "--width", "8", "--layers", "3", "--json"]
    plain = cli(*base)
    empty = cli(*base, "--config", str(tmp_path / "empty.toml"))
    bom = cli("std-trace", "--json", "--config", str(tmp_path / "bom.toml"))
    assert plain.code == empty.code == bom.code == 0, (empty.err, bom.err)
    assert plain.json()["final_std"] == empty.json()["final_std"] == bom.json()["final_std"]
    assert plain.json()["config"] == empty.json()["config"] == bom.json()["config"]


def test_nesting_cap_leaves_floats_strings_and_comments_alone(cli, tmp_path):
    """Dots in floats and times, brackets in strings and comments are not nesting."""
    text = (
        "# [[[[[[[[[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r\n"
        'description = "[[[[[[[[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r"\n'
        "std = 0.5\n"
        "fail-on = ['exploding', \"vanishing\"]\n"
        'command = """std-trace"""\n'
    )
    (tmp_path / "ok.toml").write_text(text)
    r = cli("std-trace", "--layers", "3", "--width", "8", "--config", str(tmp_path / "ok.toml"))
    assert r.code in (0, 1) and "error" not in r.err, r.err  # 1: a --fail-on verdict held


# ---------------------------------------------------------------------------
# IDX folders for `train --dataset mnist`: a valid tiny set, one file spoiled per case.

N_TRAIN, N_TEST, SIDE = 30, 10, 8


def valid_idx_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(
            rng.integers(0, 256, (n, SIDE, SIDE), dtype=np.uint8)
        )
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(rng.integers(0, 10, n, dtype=np.uint8))
    return files


def _labels(*values: int, code: int = 0x08) -> bytes:
    return header(code, len(values)) + bytes(v & 0xFF for v in values)


def _gz_truncated() -> bytes:
    data = gzip.compress(valid_idx_files()["train-images-idx3-ubyte"])
    return data[: len(data) // 2]


def _gz_bad_crc() -> bytes:
    data = bytearray(gzip.compress(valid_idx_files()["train-images-idx3-ubyte"]))
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    return bytes(data)


def _gz_corrupt() -> bytes:
    data = bytearray(gzip.compress(valid_idx_files()["train-images-idx3-ubyte"]))
    data[12:40] = b"\xff" * 28  # the deflate stream
    return bytes(data)


TI, TL, SI, SL = IDX_FILES  # train images / labels, test (t10k) images / labels
IMG = SIDE * SIDE

IDX_CASES: list[tuple[str, str, bytes | None, tuple[str, ...]]] = [
    # (id, file replaced, its new content (None: removed), words the error line must hold)
    ("bad-magic", TI, b"\x01\x02\x08\x03" + bytes(100), ("bad magic number 01020803",)),
    ("unknown-type", TI, header(0x07, N_TRAIN, SIDE, SIDE) + bytes(N_TRAIN * IMG), ("bad magic",)),
    ("empty-file", TL, b"", ("bad magic number none",)),
    ("ndim-0", TI, header(0x08), ("declares 0 dimensions",)),
    ("ndim-5", TI, header(0x08, 1, 1, 1, 1, 1) + b"\0", ("declares 5 dimensions", "1 to 4")),
    ("dim-zero", TI, header(0x08, 0, SIDE, SIDE), ("0 x 8 x 8", "holds no data")),
    ("dims-overflow", TI, header(0x08, 2**32 - 1, 2**32 - 1, 2**32 - 1), ("more than the 256 MiB allowed",)),
    ("dims-too-big", TI, header(0x0E, 70000, 28, 28) + bytes(64), ("439040000 bytes", "256 MiB")),
    ("truncated-header", TI, b"\x00\x00\x08\x03\x00\x00\x00", ("truncated IDX header",)),
    ("short-data", TI, header(0x08, N_TRAIN, SIDE, SIDE) + bytes(100), ("holds 100 data bytes",)),
    ("long-data", TL, _labels(*[1] * N_TRAIN) + b"\0", ("holds 31 data bytes", "declares 30")),
    ("gz-long-data", TL + ".gz", gzip.compress(_labels(*[1] * N_TRAIN) + b"xx"), ("more data than the 30",)),
    ("gz-truncated", TI + ".gz", _gz_truncated(), ("cannot be read",)),
    ("gz-bad-crc", TI + ".gz", _gz_bad_crc(), ("cannot be read", "CRC")),
    ("gz-corrupt", TI + ".gz", _gz_corrupt(), ("cannot be read",)),
    (
        "images-float32",
        TI,
        header(0x0D, N_TRAIN, SIDE, SIDE) + bytes(4 * N_TRAIN * IMG),
        ("uint8", "float32"),
    ),
    ("labels-int8", SL, _labels(*[1] * N_TEST, code=0x09), ("labels must be uint8", "int8")),
    ("labels-int32", TL, header(0x0C, N_TRAIN) + bytes(4 * N_TRAIN), ("labels must be uint8", "int32")),
    ("images-2d", TI, header(0x08, N_TRAIN, IMG) + bytes(N_TRAIN * IMG), ("images must be 3-D", "30 x 64")),
    ("images-4d", SI, header(0x08, N_TEST, SIDE, SIDE, 1) + bytes(N_TEST * IMG), ("images must be 3-D",)),
    ("labels-2d", TL, header(0x08, N_TRAIN, 1) + bytes(N_TRAIN), ("labels must be 1-D", "30 x 1")),
    ("images-as-labels", SL, header(0x08, N_TEST, SIDE, SIDE) + bytes(N_TEST * IMG), ("labels must be 1-D",)),
    ("label-count", TL, _labels(*[1] * (N_TRAIN - 1)), ("29 labels for the 30 images",)),
    ("test-label-count", SL, _labels(*[1] * (N_TEST + 1)), ("11 labels for the 10 images",)),
    ("label-10", TL, _labels(*[0] * (N_TRAIN - 1), 10), ("label 10 out of range", "0 to 9")),
    ("label-255-test", SL, _labels(255, *[0] * (N_TEST - 1)), ("label 255 out of range",)),
    (
        "test-shape-differs",
        SI,
        header(0x08, N_TEST, SIDE, SIDE + 1) + bytes(N_TEST * SIDE * (SIDE + 1)),
        ("images are 8 x 9", "8 x 8"),
    ),
    ("missing-labels", SL, None, ("no t10k-labels-idx1-ubyte",)),
]


def make_idx_folder(folder: Path, name: str | None, content: bytes | None) -> None:
    folder.mkdir()
    for stem, data in valid_idx_files().items():
        if name is None or not name.startswith(stem):
            (folder / stem).write_bytes(data)
    if name is not None and content is not None:
        (folder / name).write_bytes(content)


TRAIN = [
    "train",
    "--dataset",
    "mnist",
    "--hidden",
    "4",
    "--epochs",
    "1",
    "--train-size",
    "20",
    "--dev-size",
    "5",
]


@pytest.mark.parametrize("name, content, words", [c[1:] for c in IDX_CASES], ids=[c[0] for c in IDX_CASES])
def test_hostile_idx_folder(cli, tmp_path, monkeypatch, name, content, words):
    monkeypatch.chdir(tmp_path)
    make_idx_folder(tmp_path / "data", name, content)
    before = snapshot(tmp_path)
    r = cli(*TRAIN, "--data-dir", "data", "--out", "run")
    line = assert_refused(r, "--data-dir", *words)
    assert (f"data/{name}" if content is not None else name) in line, line  # the file at fault
    assert snapshot(tmp_path, skip=("run",)) == before


def test_valid_idx_folder_trains(cli, tmp_path, monkeypatch):
    """The folder every case above spoils, unspoiled, gzipped or raw: it trains."""
    monkeypatch.chdir(tmp_path)
    make_idx_folder(tmp_path / "data", None, None)
    for stem in (TI, SL):  # a mix, as downloads come
        path = tmp_path / "data" / stem
        path.with_name(stem + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    r = cli(*TRAIN, "--data-dir", "data", "--out", "run", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["config"]["dataset"] == "mnist"


def _data_dir_is_a_file(tmp: Path) -> tuple[str, str]:
    (tmp / "data").write_text("x")
    return "data", "not a folder"


def _data_dir_missing(tmp: Path) -> tuple[str, str]:
    return "nodata", "no such folder"


def _idx_oversized(tmp: Path) -> tuple[str, str]:
    make_idx_folder(tmp / "data", None, None)
    with open(tmp / "data" / TI, "r+b") as fh:
        fh.truncate(300 * 2**20)  # sparse: takes no disk
    return "data", "more than the 256 MiB allowed"


def _idx_unreadable(tmp: Path) -> tuple[str, str]:
    make_idx_folder(tmp / "data", None, None)
    (tmp / "data" / TL).chmod(0)
    return "data", "cannot be read (Permission denied)"


IDX_PATH_CASES = [
    ("data-dir-is-a-file", _data_dir_is_a_file),
    ("data-dir-missing", _data_dir_missing),
    ("sparse-300MiB-file", _idx_oversized),
    ("chmod-000", _idx_unreadable),
]


@pytest.mark.parametrize("make", [c[1] for c in IDX_PATH_CASES], ids=[c[0] for c in IDX_PATH_CASES])
def test_hostile_idx_path(cli, tmp_path, monkeypatch, make):
    if make is _idx_unreadable and os.geteuid() == 0:
        pytest.skip("root reads a chmod 000 file")
    monkeypatch.chdir(tmp_path)
    folder, word = make(tmp_path)
    before = snapshot(tmp_path)
    start = time.monotonic()
    assert_refused(cli(*TRAIN, "--data-dir", folder, "--out", "run"), "--data-dir", folder, word)
    assert time.monotonic() - start < 5
    assert snapshot(tmp_path, skip=("run",)) == before


# ---------------------------------------------------------------------------
# Real processes: a FIFO in the folder, and gzip bombs measured for time and memory.

# Runs nninit in a child and reports the child's peak memory: the test process's
# own children (other tests) do not count.
_MEASURE = """
import json, resource, subprocess, sys
p = subprocess.run([sys.executable, "-m", "nninit_cli", *sys.argv[1:]], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": p.returncode, "out": p.stdout, "err": p.stderr, "peak_kib": peak}))
"""


def run_measured(*args: str, timeout: float) -> tuple[CliResult, float, float]:
    """(result, seconds, peak resident MiB) of `nninit ARGS` in its own process."""
    start = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    seconds = time.monotonic() - start
    d = json.loads(p.stdout)
    peak = d["peak_kib"] / (2**20 if sys.platform == "darwin" else 2**10)  # macOS reports bytes
    return CliResult(d["code"], d["out"], d["err"]), seconds, peak


def gzip_bomb(head: bytes, gib: float = 1.0) -> bytes:
    """`head` then `gib` GiB of zeros, gzipped into about a megabyte: one member
    holding 1 MiB of zeros, repeated (a gzip file may hold many members)."""
    mib = bytes(2**20)
    first = gzip.compress(head + mib, compresslevel=9)
    rest = gzip.compress(mib, compresslevel=9)
    return first + rest * (int(gib * 1024) - 1)


BOMB_CASES = [
    # (id, IDX header inside the bomb, words): declared sizes small, huge, or no IDX at all
    ("valid-header", header(0x08, N_TRAIN, SIDE, SIDE), ("holds more data than the 1920 bytes",)),
    ("huge-header", header(0x08, 2**31, 28, 28), ("more than the 256 MiB allowed",)),
    ("no-header", b"", ("bad magic number 00000000",)),
]


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX only")
@pytest.mark.parametrize("head, words", [c[1:] for c in BOMB_CASES], ids=[c[0] for c in BOMB_CASES])
def test_gzip_bomb_is_refused_fast_in_bounded_memory(tmp_path, monkeypatch, head, words):
    monkeypatch.chdir(tmp_path)
    bomb = gzip_bomb(head)
    assert len(bomb) < 2 * 2**20  # 1 GiB inside
    make_idx_folder(tmp_path / "data", TI + ".gz", bomb)
    before = snapshot(tmp_path)
    r, seconds, peak_mib = run_measured(*TRAIN, "--data-dir", "data", "--out", "run", timeout=60)
    # Decompressing it all would take over 1 GiB; torch alone takes a few hundred MiB.
    assert peak_mib < 800, peak_mib
    assert seconds < 30, seconds
    assert_refused(r, "--data-dir", f"data/{TI}.gz", *words)
    assert snapshot(tmp_path, skip=("run",)) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_idx_folder_does_not_hang(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_idx_folder(tmp_path / "data", TL, None)
    os.mkfifo(tmp_path / "data" / TL)
    before = snapshot(tmp_path)
    r = run_subprocess(*TRAIN, "--data-dir", "data", "--out", "run", timeout=60)
    assert_refused(r, "--data-dir", "no train-labels-idx1-ubyte")
    assert snapshot(tmp_path, skip=("run",)) == before


def test_jacobian_refuses_minutes_of_uninterruptible_arithmetic(cli):
    """2 x 16384 fits in memory, but its SVD is one C call of minutes (Ctrl-C
    waits for it): refused before any work, naming the flag."""
    r = cli("jacobian", "--width", "16384", "--layers", "2")
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert "--width" in r.err and "GFLOP" in r.err
    assert cli("jacobian", "--width", "2048", "--layers", "2", "--samples", "1", "--json").code == 0
