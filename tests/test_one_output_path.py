"""Every command takes the one output path and declares each setting once.

The commands are read from the app, so a new command is covered as soon as it
is registered (and fails here until it has a cheap run in CHEAP).  For each:
--json is one strict JSON object with the envelope; --csv (where offered)
holds the rows the JSON holds; --fail-on is offered exactly where the JSON
has verdicts, --plot exactly where there is a figure; the output paths are
checked before any work; and every option in --help is a declared `Flag`,
accepted as a config key and recorded in the JSON's config.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from nninit_cli import __version__
from nninit_cli.cli import app, run
from nninit_cli.cli._options import OUTPUT_FLAGS, Shared, options
from nninit_cli.specs import RESMLP_ONLY, Flag, int_range, resolve, std_trace_flags
from tests.conftest import CliResult

REGISTERED = {c.name: c.callback for c in app.registered_commands}
DISPATCHERS = {"run"}  # runs a preset's command: its outputs are that command's
COMMANDS = sorted(set(REGISTERED) - DISPATCHERS)
CLICK = typer.main.get_command(app).commands

RUN = "<run folder>"  # eval's argument: a run the `done_run` fixture trains
# The cheapest run of each command.  A new command adds its line here.
CHEAP = {
    "std-trace": ["--layers", "3", "--width", "8"],
    "grad-norms": ["--steps", "2"],
    "init-compare": ["--layers", "2", "--width", "4", "--seeds", "1", "--inits", "normal,xavier"],
    "train": ["--epochs", "2"],
    "eval": [RUN],
    "gain": ["--act", "tanh,relu", "--samples", "200", "--repeats", "2"],
    "activations": ["--act", "relu,tanh", "--step", "0.5"],
    "init-hist": ["--samples", "100", "--bins", "5", "--fan-in", "10", "--fan-out", "10"],
    "list": [],
    "coord-check": ["--widths", "8,16", "--seeds", "2", "--steps", "1"],
    "phase": ["--sigma-w2", "1,2.5", "--sigma-b2", "0,0.05"],
    "jacobian": ["--layers", "3", "--width", "8", "--samples", "2"],
}


def _grad_rows(d: dict) -> list[dict]:
    return [{"act": r["act"], **p} for r in d["runs"] for p in r["params"]]


def _train_rows(d: dict) -> list[dict | None]:
    return [None] * (d["epochs_run"] - 1) + [d["final"]]  # the JSON has the last epoch's row


def _list_rows(d: dict) -> list[dict]:
    return [
        {"kind": kind, **item}
        for kind, key in (("activation", "activations"), ("init", "inits"), ("preset", "presets"))
        for item in d[key]
    ]


def _coord_rows(d: dict) -> list[dict]:
    """One row per layer, step and width, in that order: the sizes at that
    width (mean over seeds) beside the step's slopes and their intervals."""
    rows = []
    for layer in d["layers"]:
        for step in layer["steps"]:
            slopes = {}
            for what in ("size", "change"):
                sl = step[f"{what}_slope"]
                lo, hi = sl["ci"] if sl["ci"] is not None else (None, None)
                slopes[f"{what}_slope"] = sl["slope"]
                slopes[f"{what}_slope_lo"], slopes[f"{what}_slope_hi"] = lo, hi
                slopes[f"{what}_slope_reason"] = sl["reason"]
            for i, width in enumerate(d["widths"]):
                where = {"layer": layer["name"], "role": layer["role"], "step": step["step"], "width": width}
                rows.append({**where, "size": step["size"][i], "change": step["change"][i], **slopes})
    return rows


# Where each command's CSV rows sit in its JSON (None: a row the JSON does not hold).
JSON_ROWS = {
    "std-trace": lambda d: d.get("blocks") or d["layers"],
    "grad-norms": _grad_rows,
    "init-compare": lambda d: d["cells"],
    "train": _train_rows,
    "eval": lambda d: [{k: v for k, v in d.items() if k not in ("command", "nninit_version", "config")}],
    "gain": lambda d: d["acts"],
    "activations": lambda d: [{"act": r["act"], **p} for r in d["acts"] for p in r["points"]],
    "init-hist": lambda d: d["inits"],
    "list": _list_rows,
    "coord-check": _coord_rows,
    "phase": lambda d: d["cells"],
    "jacobian": lambda d: [
        *d["samples"],
        {"sample": "all", **d["pooled"]},
        {"sample": "theory", "mean_sq": d["theory"]["mean_sq"], "spread": d["theory"]["spread"]},
    ],
}
# A setting the JSON config records under another name (python names).
RECORDED_AS = {
    "no_bias": "bias",  # --no-bias is bias = "none"
    "no_batch": "batched",
    ("init-compare", "act"): "acts",
    ("gain", "act"): "acts",
    ("activations", "act"): "acts",
}
# where a grid runs, not what it computes: left out so that the JSON is the
# same bytes whatever the executor (tests/test_init_compare.py holds it to that)
NOT_RECORDED = {
    ("init-compare", "workers"),
    ("init-compare", "executor"),
    ("init-compare", "ray_address"),
    ("phase", "workers"),
}


def declared(name: str):
    return REGISTERED[name].declared


def offered(name: str) -> set[str]:
    return {opt for p in CLICK[name].params for opt in p.opts if opt.startswith("--")}


@pytest.fixture(scope="module")
def done_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval") / "run"
    assert run(["train", "--epochs", "2", "--out", str(folder), "--json"]) == 0
    return folder


@pytest.fixture
def invoke(cli, done_run, tmp_path, monkeypatch):
    """Run a command's cheap line plus `extra`, in tmp_path (train's run folders land there)."""
    monkeypatch.chdir(tmp_path)

    def go(name: str, *extra: str):
        args = [str(done_run) if a == RUN else a for a in CHEAP[name]]
        return cli(name, *args, *extra)

    return go


def strict(text: str) -> dict:
    def refuse(token: str):
        raise AssertionError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def one_line(r, code: int, *words: str) -> None:
    lines = r.err.strip().splitlines()
    assert r.code == code, r.err
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    assert all(w in lines[0] for w in words), lines[0]


def test_every_command_is_declared_and_has_a_cheap_run():
    for name in COMMANDS:
        assert hasattr(REGISTERED[name], "declared"), f"{name} is not built with cli._options.options"
    assert set(CHEAP) == set(COMMANDS) == set(JSON_ROWS)


def _csv_cell(v) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def _same_row(json_row: dict, csv_row: dict, prefix: str = "") -> None:
    """Every number or word of the JSON row is in the CSV row at full precision;
    nested {a, b} are columns k_a, k_b; lists are the JSON's alone."""
    for k, v in json_row.items():
        col = f"{prefix}{k}"
        if isinstance(v, dict):
            _same_row(v, csv_row, f"{col}_")
        elif isinstance(v, list):
            continue
        elif v is None and col not in csv_row:  # a missing pair: both columns empty
            split = [c for c in csv_row if c.startswith(f"{col}_")]
            assert split and all(csv_row[c] == "" for c in split), (col, csv_row)
        else:
            assert csv_row[col] == _csv_cell(v), (col, csv_row[col], v)


@pytest.mark.parametrize("name", COMMANDS)
def test_json_csv_and_fail_on_follow_one_path(invoke, tmp_path, name):
    table = tmp_path / "rows.csv"
    with_csv = "--csv" in offered(name)
    r = invoke(name, "--json", *(["--csv", str(table)] if with_csv else []))
    assert r.code == 0, r.err
    data = strict(r.out)
    assert list(data)[:3] == ["command", "nninit_version", "config"] and list(data)[-1] == "nonfinite_values"
    assert data["command"] == name and data["nninit_version"] == __version__
    assert isinstance(data["config"], dict)

    # --csv: offered by every command with rows (all of them today), holding the JSON's rows
    assert with_csv == (OUTPUT_FLAGS["csv"] in declared(name).outputs)
    if with_csv:
        rows = list(csv.DictReader(table.open()))
        expected = JSON_ROWS[name](data)
        assert rows and len(rows) == len(expected), (len(rows), len(expected))
        for json_row, csv_row in zip(expected, rows, strict=True):
            if json_row is not None:
                _same_row(json_row, csv_row)
        assert f"wrote table to {table}" in r.err

    # --fail-on: exactly where the JSON gives verdicts; a verdict that held exits 1, output intact
    assert ("--fail-on" in offered(name)) == ("verdicts" in data)
    if "verdicts" in data:
        held = invoke(name, "--json", "--fail-on", data["verdicts"][0])
        assert held.code == 1 and f"--fail-on: {data['verdicts'][0]} held" in held.err
        assert strict(held.out)["verdicts"] == data["verdicts"]
        one_line(invoke(name, "--fail-on", "no-such-verdict"), 2, "--fail-on", "no-such-verdict")
    else:
        one_line(invoke(name, "--fail-on", "ok"), 2, "--fail-on")


FIGURES = [n for n in COMMANDS if "--plot" in offered(n)]


def test_plot_is_offered_where_there_is_a_figure_and_refused_elsewhere(invoke, tmp_path):
    assert set(FIGURES) == {
        "std-trace",
        "grad-norms",
        "init-compare",
        "train",
        "activations",
        "init-hist",
        "coord-check",
        "jacobian",
        "phase",
    }
    for name in sorted(set(COMMANDS) - set(FIGURES)):
        r = invoke(name, "--plot", str(tmp_path / "f.png"))
        one_line(r, 2, "--plot")
        assert r.out == "" and not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("name", FIGURES)
def test_plot_draws_the_figure(invoke, tmp_path, name):
    png = tmp_path / "f.png"
    r = invoke(name, "--plot", str(png))
    assert r.code == 0, r.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote figure to {png}" in r.err


@pytest.mark.parametrize("name", COMMANDS)
def test_output_paths_are_checked_before_any_work(invoke, tmp_path, name):
    missing = tmp_path / "no-such-folder" / "rows.csv"
    r = invoke(name, "--json", "--csv", str(missing))
    one_line(r, 2, "--csv", "does not exist")
    assert r.out == "" and not (tmp_path / "runs").exists()
    if "--config" in offered(name):
        config = tmp_path / "c.toml"
        config.write_text("")
        one_line(invoke(name, "--config", str(config), "--csv", str(config)), 2, "--csv", "--config")
        assert config.read_text() == ""


@pytest.mark.parametrize("name", COMMANDS)
def test_stdout_is_refused_as_a_file_under_json(done_run, tmp_path, name):
    args = [str(done_run) if a == RUN else a for a in CHEAP[name]]
    p = subprocess.run(
        [sys.executable, "-m", "nninit_cli", name, *args, "--json", "--csv", "/dev/stdout"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    r = CliResult(p.returncode, p.stdout, p.stderr)
    one_line(r, 2, "--csv", "stdout")
    assert r.out == "" and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_in_help_is_declared_once(cli, name):
    d = declared(name)
    settings = {f"--{f.name}" for f in d.flags}
    outputs = {f"--{f.name}" for f in d.outputs}
    switches = {
        opt for p in CLICK[name].params if p.name in d.switches for opt in p.opts if opt.startswith("--")
    }
    assert offered(name) == settings | outputs | switches
    assert not settings & switches and not outputs & switches
    assert ("--config" in outputs) == bool(settings)
    help_text = "".join(cli(name, "--help").out.split())  # as wrapped: compare without spaces
    for f in d.flags:
        assert f"--{f.name}" in help_text
        assert "".join(f.help.split()) in help_text, f.name


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return json.dumps(list(v))
    return json.dumps(v)


@pytest.mark.parametrize("name", [n for n in COMMANDS if declared(n).flags])
def test_every_setting_is_a_config_key_and_in_the_json_config(invoke, tmp_path, name):
    flags = declared(name).flags
    lines = [f"{f.name} = {_toml_value(f.default)}" for f in flags if f.default is not None]
    config = tmp_path / "defaults.toml"
    config.write_text("\n".join(lines) + "\n")
    tomllib.loads(config.read_text())
    plain = invoke(name, "--json").json()
    same = invoke(name, "--json", "--config", str(config)).json()
    plain.pop("artifacts", None), same.pop("artifacts", None)  # train: each run its own folder
    assert same == plain  # every key accepted, and the defaults change nothing
    recorded = plain["config"]
    for f in flags:
        key = RECORDED_AS.get((name, f.key)) or RECORDED_AS.get(f.key) or f.key
        if f.key in RESMLP_ONLY and recorded.get("arch") == "mlp":
            continue  # the residual knobs are left out of a plain MLP's config
        if (name, f.key) in NOT_RECORDED:
            assert key not in recorded, f"--{f.name} would make {name}'s JSON depend on the executor"
            continue
        assert key in recorded, f"--{f.name} is not in {name}'s JSON config"


def test_a_flag_declared_once_reaches_help_config_and_the_command(tmp_path):
    extra = Flag("new-knob", int_range(1, 9), 3, "A setting added in one place.", kind="int")
    flags = [*std_trace_flags(), extra]
    seen: list[Shared] = []
    demo = typer.Typer(rich_markup_mode=None)

    @demo.command()
    @options(flags)
    def command(shared: Shared) -> None:
        """Demo."""
        seen.append(shared)

    from typer.testing import CliRunner

    out = CliRunner().invoke(demo, ["--help"]).output
    assert "--new-knob" in out and "Asettingaddedinoneplace.[default:3]" in "".join(out.split())
    assert CliRunner().invoke(demo, ["--new-knob", "5", "--json"]).exit_code == 0
    assert seen[-1].flags == {"new_knob": 5} and seen[-1].as_json
    config = tmp_path / "c.toml"
    config.write_text("new-knob = 7\n")
    assert resolve("std-trace", flags, {}, config)["new_knob"] == 7
    assert resolve("std-trace", flags, {"new_knob": 2}, config)["new_knob"] == 2
    config.write_text("new-knob = 12\n")
    with pytest.raises(Exception, match="new-knob"):
        resolve("std-trace", flags, {}, config)
