"""What `nninit phase`, `jacobian` and `std-trace` show at the edges: grids
with no finite depth scale still draw, every null has its reason, the
trainability plot shows its 6 xi_c curve on rows centred on their depths,
bad lists are refused naming their fault, a fit far from theory is flagged,
help fits 80 columns, and jacobian's CSV holds the table's every row."""

from __future__ import annotations

import csv
import json
import math

import pytest

from nninit_cli.experiments.phase import fit_note, run_phase
from nninit_cli.jacobian_theory import predict_jacobian
from nninit_cli.render import plot as plots
from nninit_cli.results import EVERY_Q_FIXED, PHASE_FIT_TOL
from nninit_cli.specs import jacobian_spec, phase_spec

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line(r, *words: str) -> None:
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and "Traceback" not in r.err, r.err
    assert all(w in lines[0] for w in words), lines[0]


def _labels(fig) -> list[str]:
    """The entries of every legend drawn (an empty one is an entry too)."""
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------
# A grid with no finite xi_c: the table prints, the figure draws


@pytest.mark.parametrize(
    "args",
    [
        ("--act", "relu", "--sigma-w2", "3", "--sigma-b2", "0"),  # unbounded only
        ("--act", "relu", "--sigma-w2", "2,3", "--sigma-b2", "0"),  # critical and unbounded
        ("--act", "linear", "--sigma-w2", "1", "--sigma-b2", "0"),  # critical only
    ],
)
def test_plot_of_a_grid_with_no_finite_depth_scale(cli, tmp_path, args):
    png = tmp_path / "p.png"
    r = cli("phase", *args, "--plot", str(png))
    assert r.code == 0, r.err
    assert "critical line (chi1 = 1)" in r.out and png.stat().st_size > 0


def test_each_cell_without_a_depth_scale_is_marked_in_the_curves():
    fig = plots.phase_figure(run_phase(phase_spec({"act": "relu", "sigma_w2": "2,3", "sigma_b2": "0"})))
    ax = fig.axes[0]
    marks = {line.get_label(): list(line.get_xdata()) for line in ax.get_lines()}
    assert marks["xi_c infinite (critical)"] == [2.0]  # ReLU at sigma_w2 = 2, no bias: chi_1 = 1
    assert marks["unbounded (q* infinite)"] == [3.0]  # the q-map grows by 3/2 a layer


def test_an_all_unbounded_heatmap_has_a_grey_key_and_no_empty_line_entry():
    """ReLU's only critical point here is (2, 0), off the sigma_w2 3..4 grid."""
    res = run_phase(phase_spec({"act": "relu", "sigma_w2": "3,4", "sigma_b2": "0,0.1"}))
    labels = _labels(plots.phase_figure(res))
    assert "unbounded (q* infinite)" in labels
    assert not any("critical line" in lab for lab in labels)
    tanh = _labels(plots.phase_figure(run_phase(phase_spec({"sigma_w2": "1:3:5", "sigma_b2": "0,0.5"}))))
    assert "critical line (chi_1 = 1)" in tanh and "unbounded (q* infinite)" not in tanh


# ---------------------------------------------------------------------------
# Every null beside its reason


@pytest.mark.parametrize(("act", "sw2"), [("relu", "2"), ("linear", "1"), ("lrelu", "1.9998000199980002")])
def test_a_homogeneous_marginal_point_has_no_single_q_star(cli, act, sw2):
    """Without a bias, phi(a x) = a phi(x) makes the q-map q -> chi_1 q:
    at chi_1 = 1 every q is a fixed point, so q* is null with that reason
    (lrelu's point is 2 / (1 + 0.01^2))."""
    data = json.loads(cli("phase", "--act", act, "--sigma-w2", sw2, "--sigma-b2", "0", "--json").out)
    (cell,) = data["cells"]
    assert cell["phase"] == "critical"
    assert cell["q_star"] is None and cell["q_star_reason"] == EVERY_Q_FIXED
    (point,) = data["critical"]
    assert point["sigma_w2"] == pytest.approx(float(sw2), rel=1e-8)
    assert point["q_star"] is None and point["reason"] == EVERY_Q_FIXED
    table = cli("phase", "--act", act, "--sigma-w2", sw2, "--sigma-b2", "0").out
    row = next(line.split() for line in table.splitlines() if "critical" in line.split()[2:3])
    assert row[3] == "-" and EVERY_Q_FIXED in " ".join(table.split())


def test_q_star_zero_and_a_bias_keep_their_q_star(cli):
    """linear at sigma_w2 0.995: q* = 0 is the one fixed point; tanh has a
    bias, so its q* is a true one."""
    lin = json.loads(cli("phase", "--act", "linear", "--sigma-w2", "0.995", "--sigma-b2", "0", "--json").out)
    assert lin["cells"][0]["q_star"] == 0 and lin["cells"][0]["q_star_reason"] is None
    tanh = json.loads(cli("phase", "--sigma-w2", "1.761", "--json").out)
    assert tanh["cells"][0]["q_star"] == pytest.approx(0.57, abs=0.01)
    assert tanh["critical"][0]["reason"] is None


def test_training_six_xi_c_null_has_a_reason(cli):
    data = json.loads(
        cli(
            "phase", "--act", "relu", "--sigma-w2", "1,2,3", "--sigma-b2", "0", "--train-depths", "2",
            "--train-epochs", "1", "--train-width", "4", "--seeds", "1", "--json",
        ).out
    )  # fmt: skip
    by = {r["sigma_w2"]: r for r in data["training"]}
    xi = {c["sigma_w2"]: c["xi_c"] for c in data["cells"]}
    assert by[1.0]["six_xi_c"] == pytest.approx(6 * xi[1.0]) and by[1.0]["six_xi_c_reason"] is None
    assert by[2.0]["six_xi_c"] is None and by[2.0]["six_xi_c_reason"].startswith("infinite")
    assert by[3.0]["six_xi_c"] is None and by[3.0]["six_xi_c_reason"].startswith("q* is infinite")


@pytest.mark.parametrize(
    "flags",
    [
        {"arch": "resmlp", "layers": "2"},
        {"init": "sparse"},
        {"init": "zeros"},
        {"init": "lsuv"},
        {"init": "normal", "mean": "1"},
        {"init": "orthogonal"},
        {},
    ],
)
def test_jacobian_weights_null_has_a_reason(flags):
    net = jacobian_spec({"layers": "3", "width": "8", "samples": "2", **flags}).net
    th = predict_jacobian(net, 1.0).to_dict()
    assert (th["weights"] is None) == (th["weights_reason"] is not None), th


# ---------------------------------------------------------------------------
# The trainability plot


def _training_figure(sigma_w2: str, depths: str):
    spec = phase_spec(
        {"sigma_w2": sigma_w2, "train_depths": depths, "train_epochs": "1", "train_width": "4", "seeds": "1"}
    )
    res = run_phase(spec)
    return res, plots.phase_figure(res).axes[1]


def test_the_six_xi_c_curve_is_on_the_axis_and_rows_centre_on_their_depths():
    """tanh at sigma_b2 0.05: 6 xi_c is 21.8, 151 and 54.3 at sigma_w2 1, 2,
    3, all above the deepest row (4 and 16); the axis reaches them."""
    res, ax = _training_figure("1,2,3", "4,16")
    six = [r["six_xi_c"] for r in res.training if r["depth"] == 4]
    (curve,) = [line for line in ax.get_lines() if line.get_label() == "6 xi_c"]
    assert list(curve.get_ydata()) == pytest.approx(six)
    lo, hi = ax.get_ylim()
    assert lo <= min(six) and max(six) <= hi
    mesh = ax.collections[0]
    edges = mesh.get_coordinates()[:, 0, 1]  # row edges, bottom to top
    centres = [math.sqrt(a * b) for a, b in zip(edges, edges[1:], strict=False)]  # centres on a log axis
    assert centres == pytest.approx([4, 16])


def test_a_critical_six_xi_c_is_marked_at_the_top():
    """At tanh's critical sigma_w2 (1.761 at sigma_b2 0.05) 6 xi_c is ~6e5,
    far over 10 x the deepest row: marked, not drawn off the axis."""
    res, ax = _training_figure("1,1.761", "4")
    marks = {line.get_label(): list(line.get_xdata()) for line in ax.get_lines()}
    off = [k for k in marks if k.startswith("6 xi_c off-scale")]
    assert off and marks[off[0]] == [1.761]
    _, hi = ax.get_ylim()
    assert hi <= 10 * 4 * math.sqrt(2) * 1.0001  # SIX_XI_HEADROOM x the row's top edge


# ---------------------------------------------------------------------------
# Lists and ranges


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("phase", "--sigma-w2", "1,,2"), "--sigma-w2"),
        (("phase", "--sigma-b2", "0,"), "--sigma-b2"),
        (("phase", "--train-depths", ""), "--train-depths"),
        (("phase", "--train-depths", "4,,8"), "--train-depths"),
        (("jacobian", "--fail-on", ""), "--fail-on"),
        (("std-trace", "--fail-on", "stable,"), "--fail-on"),
    ],
)
def test_an_empty_list_item_is_refused(cli, args, flag):
    _one_line(cli(*args), flag, "empty item")


def test_an_empty_config_list_still_means_none(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('train-depths = []\nsigma-w2 = "1,2"\n')
    r = cli("phase", "--config", str(cfg), "--json")
    assert r.code == 0, r.err
    assert "training" not in json.loads(r.out)


@pytest.mark.parametrize(
    ("axis", "fault"),
    [
        ("1:4:0", "n from 1 to 10000, got n = 0"),
        ("1:4:1000000000", "n from 1 to 10000, got n = 1000000000"),
        ("4:1:3", "lo <= hi, got lo 4 > hi 1"),
        ("1:4:1", "n = 1 needs lo = hi"),
    ],
)
def test_the_range_error_names_its_fault(cli, axis, fault):
    r = cli("phase", "--sigma-w2", axis)
    _one_line(r, "--sigma-w2", fault)
    assert ("n = 1 needs lo = hi" in r.err) == (axis == "1:4:1")


def test_input_corr_needs_pairs(cli):
    _one_line(
        cli("std-trace", "--input-corr", "0.5", "--batch-size", "1"),
        "--input-corr: needs --batch-size 2 or more (pairs of examples)",
    )
    assert cli("std-trace", "--batch-size", "1", "--layers", "2", "--width", "8").code == 0


# ---------------------------------------------------------------------------
# A measured xi_c far from theory


def test_fit_note_is_set_exactly_beyond_the_tolerance():
    assert fit_note(10.0 * (1 + PHASE_FIT_TOL) * 0.999, 10.0, 6, 1024) is None
    assert fit_note(10.0 * (1 - PHASE_FIT_TOL) * 1.001, 10.0, 6, 1024) is None
    note = fit_note(7.38, 15.8, 5, 256)
    assert note is not None and note.startswith("53% from theory") and "5 layers at width 256" in note
    assert fit_note(None, 15.8, 5, 256) is None and fit_note(3.0, math.inf, 5, 256) is None


def test_a_narrow_fit_is_flagged_in_json_table_and_summary(cli):
    """tanh at sigma_w2 1.5 (xi_c 15.8) over width 256 and 2 seeds fits
    7.4 over 5 layers: 53% off, flagged; the summary counts 1 cell."""
    args = ("phase", "--measure", "--sigma-w2", "1.5", "--seeds", "2", "--layers", "30", "--width", "256")
    (cell,) = json.loads(cli(*args, "--json").out)["cells"]
    gap = abs(cell["measured_xi_c"] / cell["xi_c"] - 1)
    assert gap > PHASE_FIT_TOL and cell["fit_note"].startswith(f"{100 * gap:.0f}% from theory")
    out = " ".join(cli(*args).out.split())
    assert f"{cell['measured_xi_c']:.3g}*" in out
    assert f"measured xi_c in 1 cell: within {100 * gap:.0f}% of theory (worst cell)" in out
    assert "1 cell over 25%, marked * in the table" in out


# ---------------------------------------------------------------------------
# Help and CSV


@pytest.mark.parametrize("name", ["jacobian", "std-trace", "phase"])
def test_help_fits_80_columns(cli, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "80")
    text = cli(name, "--help").out
    assert max(len(line) for line in text.splitlines()) <= 80
    if name == "std-trace":
        example = text.split("Example:", 1)[1].split("\n\n", 1)[0]
        assert "--input-corr" in example and "--bias-std" in example


def test_jacobian_csv_holds_the_all_and_theory_rows(cli, tmp_path):
    out = tmp_path / "j.csv"
    data = json.loads(cli("jacobian", "--layers", "3", "--width", "8", "--samples", "2", "--json",
                          "--csv", str(out)).out)  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert [r["sample"] for r in rows] == ["1", "2", "all", "theory"]
    assert float(rows[2]["spread"]) == data["pooled"]["spread"]
    assert float(rows[3]["mean_sq"]) == data["theory"]["mean_sq"]
    assert float(rows[3]["spread"]) == data["theory"]["spread"]
