"""The output contract every command keeps: tables, strict JSON, files, exit codes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nninit_cli import __version__
from tests.conftest import run_subprocess


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"nninit {__version__}"


def test_python_dash_m_runs_the_same_cli():
    r = run_subprocess("std-trace", "--layers", "3", "--width", "8", "--json")
    assert r.code == 0, r.err
    assert r.json()["command"] == "std-trace"


def test_json_is_strict_and_says_where_numbers_overflowed(cli):
    r = cli("std-trace", "--json")
    assert r.code == 0 and r.err == ""
    text = r.out
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict token {c}"))
    assert list(data)[:3] == ["command", "nninit_version", "config"]
    assert data["nninit_version"] == __version__
    k = data["first_nonfinite_layer"]
    assert 29 <= k <= 35 and data["verdict"] == "nonfinite"
    last = data["layers"][-1]
    assert last["layer"] == k and last["std"] is None
    paths = {f["path"] for f in data["nonfinite_values"]}
    assert f".layers[{k - 1}].std" in paths
    cfg = data["config"]
    assert cfg["seed"] == 0 and cfg["layers"] == 100 and cfg["width"] == 256 and cfg["bias"] == "none"


def test_json_config_records_resolved_gain(cli):
    data = cli("std-trace", "--layers", "2", "--act", "relu", "--init", "kaiming", "--json").json()
    assert data["config"]["gain"] == pytest.approx(math.sqrt(2))
    assert data["config"]["gain_mode"] == "auto"
    data = cli(
        "std-trace", "--layers", "2", "--act", "relu", "--init", "xavier", "--gain", "torch", "--json"
    ).json()
    assert data["config"]["gain"] == 1.0 and data["config"]["gain_mode"] == "torch"


def test_same_seed_gives_byte_identical_json(cli):
    args = ("std-trace", "--act", "relu", "--init", "kaiming", "--seed", "7", "--backward", "--json")
    first, second = cli(*args), cli(*args)
    assert first.out == second.out
    assert cli("std-trace", "--act", "relu", "--init", "kaiming", "--seed", "8", "--json").out != first.out


def test_fail_on_exit_codes(cli):
    assert cli("std-trace", "--fail-on", "nonfinite").code == 1
    assert cli("std-trace", "--std", "0.0625", "--fail-on", "nonfinite").code == 0
    r = cli("std-trace", "--std", "0.0625", "--fail-on", "exploding,stable", "--json")
    assert r.code == 1 and json.loads(r.out)["verdict"] == "stable"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--layers", "0"], "--layers"),
        (["--width", "-3"], "--width"),
        (["--act", "foo"], "--act"),
        (["--gain", "-1"], "--gain"),
        (["--std", "nan"], "--std"),
        (["--init", "xavierr"], "--init"),
        (["--dtype", "float16"], "--dtype"),
        (["--fail-on", "nope"], "--fail-on"),
        (["--plot", "x.jpg"], "--plot"),
        (["--layers", "many"], "--layers"),
        (["--sparsity", "1"], "--sparsity"),
        (["--bias", "lots"], "--bias"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, flag):
    r = cli("std-trace", *args)
    assert r.code == 2
    assert r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], r.err
    assert "Traceback" not in r.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: see test_cuda_matches_cpu")
def test_cuda_where_absent_is_bad_input(cli):
    r = cli("std-trace", "--device", "cuda", "--layers", "2")
    assert r.code == 2 and "--device" in r.err and len(r.err.strip().splitlines()) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_matches_cpu(cli):
    args = ("std-trace", "--layers", "20", "--std", "0.0625", "--dtype", "float64", "--json")
    cpu = cli(*args).json()
    gpu = cli(*args, "--device", "cuda").json()
    for a, b in zip(cpu["layers"], gpu["layers"], strict=True):
        assert a["std"] == pytest.approx(b["std"], rel=1e-9)


def test_config_errors_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("wdth = 3\n")
    r = cli("std-trace", "--config", str(bad))
    assert r.code == 2 and "unknown key 'wdth'" in r.err and "width" in r.err
    bad.write_text("width = [\n")
    r = cli("std-trace", "--config", str(bad))
    assert r.code == 2 and "not valid TOML" in r.err


def test_csv_and_plot_are_written(cli, tmp_path):
    csv_path, png = tmp_path / "t.csv", tmp_path / "t.png"
    r = cli("std-trace", "--csv", str(csv_path), "--plot", str(png))
    assert r.code == 0
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith(
        "layer,mean,std,pre_std,zero_frac,saturated_frac,predicted_std,predicted_band_lo"
    )
    assert 29 <= len(rows) - 1 <= 35  # one row per layer run, up to the non-finite one
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
        path = tmp_path / f"t{suffix}"
        assert cli("std-trace", "--layers", "5", "--backward", "--plot", str(path)).code == 0
        assert path.read_bytes().startswith(magic)


def test_bad_input_does_not_touch_existing_files(cli, tmp_path):
    csv_path = tmp_path / "keep.csv"
    csv_path.write_text("precious\n")
    r = cli("std-trace", "--layers", "0", "--csv", str(csv_path))
    assert r.code == 2 and csv_path.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]  # no temp files left


def test_table_fits_80_columns_without_colour(cli):
    r = cli("std-trace", "--act", "tanh", "--init", "xavier")
    assert r.code == 0
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "\x1b[" not in r.out  # not a TTY: no colour codes
    assert "verdict: stable" in r.out
    std_table = r.out.split("cosine between examples")[0]  # the correlation table follows
    shown = [line.split()[0] for line in std_table.splitlines() if line.strip()[:1].isdigit()]
    assert shown[:5] == ["1", "2", "3", "4", "5"] and shown[-1] == "100" and len(shown) < 30


def test_all_and_every_choose_rows(cli):
    def rows(*extra):
        out = cli("std-trace", "--std", "0.0625", *extra).out.split("cosine between examples")[0]
        return [int(line.split()[0]) for line in out.splitlines() if line.strip()[:1].isdigit()]

    assert rows("--all") == list(range(1, 101))
    assert {25, 50, 75}.issubset(rows("--every", "25"))
    assert len(rows("--layers", "30")) == 30


def test_help_and_usage_errors_do_not_import_torch():
    code = (
        "import sys\n"
        "from nninit_cli.cli import main\n"
        "for argv in (['--help'], ['std-trace', '--help'], ['list'], ['std-trace', '--layers', '0']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_list_shows_gains_and_inits(cli):
    data = cli("list", "--json").json()
    acts = {a["name"]: a for a in data["activations"]}
    assert acts["tanh"]["torch_gain"] == pytest.approx(5 / 3)
    assert acts["relu"]["fixed_point_gain"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert (
        acts["gelu"]["torch_gain"] is None and acts["gelu"]["auto_gain"] == acts["gelu"]["fixed_point_gain"]
    )
    inits = {i["name"]: i for i in data["inits"]}
    assert inits["kaiming-uniform"]["flags"] == ["--gain", "--fan-mode"]
    assert "std-explode" in {p["name"] for p in data["presets"]}
    table = cli("list").out
    assert "kaiming-normal" in table and "std-explode" in table


def test_sigint_exits_130_and_keeps_files(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    csv_path = tmp_path / "keep.csv"
    csv_path.write_text("precious\n")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nninit_cli",
            "std-trace",
            "--layers",
            "100000",
            "--width",
            "1024",
            "--std",
            "0.03125",
            "--csv",
            str(csv_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert csv_path.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["keep.csv"]


def test_written_files_get_the_usual_permissions(cli, tmp_path):
    import os
    import stat

    path = tmp_path / "t.csv"
    assert cli("std-trace", "--layers", "2", "--csv", str(path)).code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
