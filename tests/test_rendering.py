"""What a user sees: tables at 80 columns never cut a number, the train table
always shows its best epoch, grad-norms says which step each number is, and
figures keep legends off the data, label their axes and scale to the
measurement."""

from __future__ import annotations

import io
import math

import pytest
from rich.cells import cell_len
from rich.console import Console

from nninit_cli import specs
from nninit_cli.render import plot, table

# ---------------------------------------------------------------------------
# results, computed once


@pytest.fixture(scope="module")
def explode():
    from nninit_cli.experiments.std_trace import run_std_trace

    return run_std_trace(specs.std_trace_spec({"backward": True}))


@pytest.fixture(scope="module")
def saturating():
    from nninit_cli.experiments.std_trace import run_std_trace

    return run_std_trace(specs.std_trace_spec({"act": "tanh", "layers": 40, "backward": True}))


@pytest.fixture(scope="module")
def grads6():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    return run_grad_norms(specs.grad_norms_spec({"act": "sigmoid,relu,lrelu,tanh,elu,selu"}))


@pytest.fixture(scope="module")
def grads_steps():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    return run_grad_norms(specs.grad_norms_spec({"act": "sigmoid,relu,tanh", "steps": 3}))


@pytest.fixture(scope="module")
def compare6():
    from nninit_cli.experiments.init_compare import run_init_compare

    flags = {"acts": "relu,tanh,sigmoid,lrelu,elu,selu", "layers": 8, "width": 32, "seeds": 1}
    return run_init_compare(specs.init_compare_spec(flags))


@pytest.fixture(scope="module")
def lessons():
    from nninit_cli.experiments.lessons import run_activations, run_gain, run_init_hist

    acts = "linear,sigmoid,tanh,relu,lrelu,elu,selu,gelu,silu,softplus"
    inits = "normal,uniform,xavier,kaiming-uniform,orthogonal,trunc-normal,sparse,constant,eye,default"
    return {
        "gain": run_gain(specs.gain_spec({"samples": 500, "repeats": 3})),
        "activations": run_activations(specs.activations_spec({"act": acts})),
        "init-hist": run_init_hist(specs.init_hist_spec({"init": inits, "act": "relu", "samples": 2000})),
    }


def render(items, width: int = 80) -> str:
    out = Console(file=io.StringIO(), width=width, highlight=False, markup=False, emoji=False)
    for item in items:
        out.print(item)
    return out.file.getvalue()


def cells_of(items) -> list[str]:
    """Every cell of every table among the renderables that must stay on one
    line (numbers); a text column that may wrap gives its words."""
    out = []
    for item in items:
        if isinstance(item, table.Grid):
            for cells, _ in item.rows:
                for col, cell in zip(item.cols, cells, strict=True):
                    out += cell.split() if col.wrap else [cell] if cell else []
    return out


def assert_whole(items) -> str:
    """At 80 columns: no ellipsis, no line over 80 cells, every cell shown whole."""
    text = render(items)
    assert "…" not in text
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    for cell in cells_of(items):
        assert any(cell in line for line in lines), f"{cell!r} is not shown whole"
    return text


# ---------------------------------------------------------------------------
# tables at 80 columns


def test_six_activations_of_grad_norms_are_split_not_cut(grads6):
    items = table.grad_norms_tables(grads6, show_all=False)
    text = assert_whole(items)
    # every gradient norm of the JSON, as the table formats it, is on the screen
    for run in grads6.to_dict()["runs"]:
        for p in run["params"]:
            assert table.num(p["grad_norm"]) in text
    # split into more than one table, each repeating the parameter names
    assert text.count("fc1.weight") >= 2


def test_every_command_table_fits_80_columns_whole(explode, saturating, grads_steps, compare6, lessons):
    from nninit_cli.catalog import catalog

    cases = {
        "std-trace": table.std_trace_tables(explode, None, False),
        "std-trace --all --backward tanh": table.std_trace_tables(saturating, None, True),
        "grad-norms --steps 3": table.grad_norms_tables(grads_steps, False),
        "init-compare 6 acts": table.compare_tables(compare6),
        "list": table.catalog_tables(catalog()),
        "gain": table.gain_tables(lessons["gain"]),
        "activations": table.activations_tables(lessons["activations"]),
        "init-hist": table.init_hist_tables(lessons["init-hist"]),
    }
    for name, items in cases.items():
        try:
            assert_whole(items)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e


def test_init_compare_cells_are_never_wrapped(compare6):
    text = render(table.compare_tables(compare6))
    for init in compare6.inits:
        line = next(line for line in text.splitlines() if line.strip().startswith(init + " "))
        # a whole row on one line: one 'value verdict #rank' per activation shown
        assert line.count("#") >= 2, line


def test_a_wide_terminal_gets_one_table(grads6):
    text = render(table.grad_norms_tables(grads6, False), width=200)
    assert text.count("fc1.weight") == 1


def test_cli_at_80_columns_has_no_ellipsis(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("grad-norms", "--act", "sigmoid,relu,lrelu,tanh,elu,selu")
    assert r.code == 0 and "…" not in r.out
    assert max(cell_len(line) for line in r.out.splitlines()) <= 80


# ---------------------------------------------------------------------------
# grad-norms: the table and the ratio line say which step they describe


def test_grad_norms_table_and_ratio_line_agree_on_steps(grads_steps):
    items = table.grad_norms_tables(grads_steps, False)
    text = render(items, width=200)
    assert "|grad| at step 1 and at step 3" in text
    ratio_table = items[3]
    headers = [c.header for c in ratio_table.cols]
    assert "|g1|/|gN|\nstep 1" in headers and "|g1|/|gN|\nstep 3" in headers
    for run, (cells, _) in zip(grads_steps.runs, ratio_table.rows, strict=True):
        by_name = {p.name: p.grad_norm_per_step for p in run.params}
        last = f"fc{grads_steps.config['layers']}.weight"
        for k in (1, 3):
            expected = by_name["fc1.weight"][k - 1] / by_name[last][k - 1]
            assert cells[headers.index(f"|g1|/|gN|\nstep {k}")] == table.num(expected)
        assert run.grad_ratio == pytest.approx(by_name["fc1.weight"][0] / by_name[last][0])
    grad_table = items[2]
    step3 = [c.header for c in grad_table.cols].index("relu\nstep 3")
    relu = grads_steps.runs[1]
    assert grad_table.rows[0][0][step3] == table.num(relu.params[0].grad_norm_per_step[2])
    summary = table.grad_norms_summary(grads_steps)
    assert "(ratio at step 1)" in summary


def test_grad_norms_one_step_names_step_one(grads6):
    items = table.grad_norms_tables(grads6, False)
    assert items[1].startswith("|grad| at step 1 (")
    assert [c.header for c in items[3].cols][1] == "|g1|/|gN|"


def test_overflow_after_updates_is_said_with_its_step():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    flags = {"act": "relu", "layers": 12, "width": 64, "init": "kaiming", "lr": 10.0, "steps": 3}
    res = run_grad_norms(specs.grad_norms_spec(flags))
    run = res.runs[0]
    # seed 0: finite at steps 1 and 2, inf/nan after the second lr-10 update
    assert "exploding" in run.verdicts
    assert table._first_nonfinite_step(run) == 3
    assert "exploding (inf/nan at step 3)" in table.grad_norms_summary(res)


# ---------------------------------------------------------------------------
# train: the best epoch is never hidden, a linear model names no activation


def _train_result(n: int, best: int, hidden: list[int]):
    from nninit_cli.experiments.train import EpochRecord, TrainResult

    history = []
    running = math.inf
    for e in range(1, n + 1):
        dev = 1.0 / e if e <= best else 1.0 / best + 0.01 * (e - best)
        history.append(EpochRecord(e, 1.0 / e, 0.5, dev, dev, dev < running))
        running = min(running, dev)
    config = {
        "dataset": "linreg" if not hidden else "moons",
        "hidden": hidden,
        "act": "sigmoid",
        "init": "normal",
        "optimizer": "sgd",
        "lr": 0.003,
        "seed": 0,
        "weight_decay": 3.0,
        "dropout": [],
    }
    return TrainResult(config, "mse", history, best, 1.0 / best, 0.1, 0.1, [], "completed", "runs/x", ["ok"])


def test_best_epoch_row_is_shown_and_marked_when_rows_are_skipped():
    res = _train_result(1000, 23, [5])
    grid = table.train_tables(res)[1]
    epochs = [cells[0] for cells, _ in grid.rows]
    assert "..." in epochs and "23" in epochs  # rows are skipped, 23 is not
    row, style = next((cells, style) for cells, style in grid.rows if cells[0] == "23")
    assert row[-1] == "best" and style == "bold"
    assert sum(cells[-1] == "best" for cells, _ in grid.rows) == 1
    assert "best dev mse" in table.train_summary(res) and "epoch 23" in table.train_summary(res)


def test_linear_model_title_names_no_activation():
    title = table.train_tables(_train_result(10, 5, []))[0]
    assert "act" not in title and "no hidden layer" in title and "weight decay 3" in title
    assert "act sigmoid" in table.train_tables(_train_result(10, 5, [5]))[0]


# ---------------------------------------------------------------------------
# figures


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def _plot_axes(fig):
    """The axes that draw curves (not colour bars, heatmaps or hidden ones)."""
    return [a for a in fig.axes if a.get_visible() and a.get_lines()]


def assert_readable(fig) -> None:
    """Legends off the data, labelled axes, tick labels that do not overlap."""
    _drawn(fig)
    axes = _plot_axes(fig)
    assert axes
    for ax in axes:
        assert ax.get_legend() is None, "a legend inside the axes covers data"
        assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent() for t in ticks if t.get_text() and t.get_visible()]
            for a, b in zip(boxes, boxes[1:], strict=False):
                assert not a.overlaps(b), f"tick labels overlap in {ax.get_title()!r}"
    for legend in fig.legends:
        box = legend.get_window_extent()
        assert not any(box.overlaps(ax.get_window_extent()) for ax in axes)


def test_std_trace_ylim_follows_the_measurement_not_the_theory(explode):
    fig = plot.std_trace_figure(explode)
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    measured = [r.std for r in explode.layers if math.isfinite(r.std)]
    assert bottom <= min(measured) and top >= max(measured)
    assert top < max(measured) * 1e3  # the theory reaches ~1e120 at layer 100
    assert max(v for v in explode.predicted_all if v is not None and math.isfinite(v)) > top
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("off the chart" in t for t in labels)
    assert any("inf/nan at layer 32" in t for t in labels)
    assert_readable(fig)


def test_std_trace_small_range_uses_plain_ticks(saturating):
    fig = plot.std_trace_figure(saturating)
    assert fig.axes[0].get_yscale() == "linear"
    assert fig.axes[1].get_yscale() == "log" and "log scale" in fig.axes[1].get_ylabel()
    assert_readable(fig)


def test_grad_norms_figures_are_readable(grads6, grads_steps):
    for res in (grads6, grads_steps):
        assert_readable(plot.grad_norms_figure(res))
    fig = plot.grad_norms_figure(grads6)
    assert "relu = lrelu = elu" in fig._suptitle.get_text()
    labels = [t.get_text() for t in plot.grad_norms_figure(grads_steps).legends[0].get_texts()]
    assert "relu, step 1" in labels and "relu, step 3" in labels


def test_grad_norms_fifty_layers_keeps_a_sane_size():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    res = run_grad_norms(specs.grad_norms_spec({"act": "relu", "layers": 50, "width": 8}))
    fig = plot.grad_norms_figure(res)
    assert fig.get_figwidth() < 12
    assert_readable(fig)


def test_compare_activation_and_init_hist_figures_are_readable(compare6, lessons):
    assert_readable(plot.compare_figure(compare6))
    assert_readable(plot.activations_figure(lessons["activations"]))
    fig = plot.init_hist_figure(lessons["init-hist"])
    assert_readable(fig)
    shown = [a for a in fig.axes if a.get_visible()]
    assert all(a.get_xlabel() == "weight value" and a.get_ylabel() == "density" for a in shown)


# ---------------------------------------------------------------------------
# the residual MLP: per-block tables, the stream's figure, Linear-named gradients


@pytest.fixture(scope="module")
def res_trace():
    from nninit_cli.experiments.std_trace import run_std_trace

    flags = {"arch": "resmlp", "layers": 40, "width": 64, "act": "relu", "init": "kaiming", "backward": True}
    return run_std_trace(specs.std_trace_spec(flags))


@pytest.fixture(scope="module")
def res_tanh():
    from nninit_cli.experiments.std_trace import run_std_trace

    flags = {"arch": "resmlp", "layers": 6, "width": 32, "act": "tanh", "init": "kaiming", "norm": "batch",
             "norm_position": "post", "residual_init": "skipinit", "backward": True}  # fmt: skip
    return run_std_trace(specs.std_trace_spec(flags))


@pytest.fixture(scope="module")
def res_grads():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    flags = {"arch": "resmlp", "layers": 4, "width": 16, "act": "relu,tanh", "init": "kaiming",
             "norm": "layer", "residual_init": "skipinit"}  # fmt: skip
    return run_grad_norms(specs.grad_norms_spec(flags))


def _block_rows(items) -> list[list[str]]:
    grid = next(item for item in items if isinstance(item, table.Grid))
    assert grid.cols[0].header == "block"
    return [cells for cells, _ in grid.rows if cells[0] != "..."]


@pytest.mark.parametrize(("every", "show_all"), [(None, False), (7, False), (None, True)])
def test_resmlp_trace_table_has_one_row_per_shown_block(res_trace, every, show_all):
    items = table.std_trace_tables(res_trace, every, show_all)
    assert_whole(items)
    rows = _block_rows(items)
    shown = table.pick_rows(40, 40, None, every, show_all)
    assert [int(cells[0]) for cells in rows] == shown
    assert len(rows) == (40 if show_all else len(shown)) and (show_all or len(rows) < 25)
    grid = next(item for item in items if isinstance(item, table.Grid))
    headers = [c.header for c in grid.cols]
    for cells in rows:
        r = res_trace.layers[int(cells[0]) - 1]
        by = dict(zip(headers, cells, strict=True))
        assert by["stream\nstd"] == table.num(r.std)
        assert by["branch\nstd"] == table.num(r.branch_std)
        assert by["ratio"] == table.num(r.branch_ratio)
        assert by["avg sq\nmean"] == table.num(r.sq_mean)
        assert by["zeros"] == table.pct(r.zero_frac)
        assert by["theory"] == table.num(r.predicted_std)
        assert by["90% band"] == f"{table.num(r.predicted_band[0])}-{table.num(r.predicted_band[1])}"
    # --backward: a second table, the same blocks, the gradient on the stream
    grads = [item for item in items if isinstance(item, table.Grid)][1]
    assert [int(cells[0]) for cells, _ in grads.rows if cells[0] != "..."] == shown
    first = grads.rows[0][0]
    assert first[1] == table.num(res_trace.layers[0].grad_std)


def test_resmlp_trace_title_and_summary_say_blocks_and_the_stream(res_trace, res_tanh):
    items = table.std_trace_tables(res_trace, None, False)
    assert items[0].startswith("std-trace: resmlp, 40 blocks x 64, act relu")
    assert items[1] == "x <- x + branch(x), branch = Linear relu Linear (gains 1, 1.414)"
    summary = table.std_trace_summary(res_trace)
    assert "after 40 blocks" in summary and "stream std" in summary and "layer" not in summary
    tanh = table.std_trace_tables(res_tanh, None, False)
    assert tanh[1].startswith("x <- BatchNorm(x + gate * branch(x)), branch = Linear tanh Linear")
    assert "skipinit: gate starts at 0" in tanh[1]
    headers = [c.header for c in _grid(tanh).cols]
    assert "sat" in headers  # tanh saturates: its column is shown, and the table still fits
    assert_whole(tanh)
    # skipinit: the branch adds exactly nothing, and the table says 0
    assert all(cells[2] == "0" for cells in _block_rows(tanh))


def _grid(items):
    return next(item for item in items if isinstance(item, table.Grid))


def test_mlp_trace_table_keeps_its_columns_and_words():
    from nninit_cli.experiments.std_trace import run_std_trace

    res = run_std_trace(specs.std_trace_spec({"act": "relu", "init": "kaiming", "layers": 12, "width": 64}))
    items = table.std_trace_tables(res, None, False)
    assert items[0] == "std-trace: 12 x 64, act relu, init kaiming-normal (gain 1.414), seed 0"
    grid = _grid(items)
    assert [c.header for c in grid.cols] == ["layer", "mean", "std", "pre std", "zeros", "theory", "90% band"]
    cells = grid.rows[4][0]
    r = res.layers[4]
    assert cells == [
        "5", table.num(r.mean), table.num(r.std), table.num(r.pre_std), table.pct(r.zero_frac),
        table.num(r.predicted_std), f"{table.num(r.predicted_band[0])}-{table.num(r.predicted_band[1])}",
    ]  # fmt: skip
    # then the cosine between examples, measured and the c-map's, for the same rows
    assert len(items) == 4 and items[2].startswith("cosine between examples")
    assert items[3].rows[4][0] == ["5", table.num(r.corr), table.num(r.predicted_corr)]
    assert table.std_trace_summary(res).endswith(
        f"std {table.num(res.input_std)} in -> {table.num(res.final_std)} after 12 layers "
        f"(x{table.num(res.std_ratio)})"
    )


def _written(path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert b"<svg" in data[:2000]
    return data


def test_resmlp_trace_figure_is_written_and_readable(res_trace, tmp_path):
    plot.std_trace_plot(res_trace, tmp_path / "trace.png")
    _written(tmp_path / "trace.png")
    fig = plot.std_trace_figure(res_trace)
    plot.save(fig, tmp_path / "trace.svg")
    _written(tmp_path / "trace.svg")
    assert_readable(fig)
    stream, drift, grads = fig.axes[:3]
    assert stream.get_title() == "the stream and the branch" and stream.get_xlabel() == "block"
    assert "mean drift" in drift.get_title() and "backward" in grads.get_title()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for want in (
        "stream std (block 0: the input)",
        "branch std",
        "avg squared mean",
        "90% band at this width",
    ):
        assert want in labels
    # the stream's line starts at block 0 with the input's std and has one point per block
    line = stream.get_lines()[0]
    assert list(line.get_xdata()) == list(range(41))
    assert line.get_ydata()[0] == pytest.approx(res_trace.input_std)
    assert line.get_ydata()[-1] == pytest.approx(res_trace.final_std)


def test_resmlp_skipinit_figure_says_the_branch_is_zero(res_tanh):
    fig = plot.std_trace_figure(res_tanh)
    assert_readable(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "branch std: exactly 0, not drawn" in labels
    # a stream that holds still is a flat line, not float noise blown up
    bottom, top = fig.axes[0].get_ylim()
    assert top / bottom > 1.05


def test_resmlp_grad_norms_table_shows_every_parameter(res_grads):
    items = table.grad_norms_tables(res_grads, show_all=False)
    text = assert_whole(items)
    assert items[0].startswith("resmlp, 2 in, 4 blocks x 16, 1 out, moons")
    assert items[1].startswith("x <- x + gate * branch(x), branch = LayerNorm Linear act Linear")
    grid = items[3]
    names = [cells[0] for cells, _ in grid.rows]
    assert names == [p.name for p in res_grads.runs[0].params]  # 4 blocks: all shown, in order
    assert "block2.branch.norm.weight" in names and "block3.branch.skip.gate" in names
    gate = next(cells for cells, _ in grid.rows if cells[0] == "block1.branch.skip.gate")
    assert gate[1] == "scalar"
    for run in res_grads.runs:
        by = {p.name: p.grad_norm for p in run.params}
        ratio = table.num(by["stem.weight"] / by["head.weight"])
        assert any(line.split()[:2] == [run.act, ratio] for line in text.splitlines())
        # skipinit: gate 0, so the branch's Linears get exactly zero gradient at step 1
        assert by["block1.branch.fc1.weight"] == 0.0


def test_resmlp_grad_norms_deep_table_thins_blocks_keeps_stem_and_head():
    from nninit_cli.experiments.grad_norms import run_grad_norms

    flags = {"arch": "resmlp", "layers": 40, "width": 8, "act": "tanh", "init": "kaiming", "steps": 2}
    res = run_grad_norms(specs.grad_norms_spec(flags))
    items = table.grad_norms_tables(res, show_all=False)
    assert_whole(items)
    names = [cells[0] for cells, _ in items[3].rows]
    assert names[:2] == ["stem.weight", "stem.bias"] and names[-2:] == ["head.weight", "head.bias"]
    blocks = sorted({int(n.split(".")[0][5:]) for n in names if n.startswith("block")})
    assert blocks == table.pick_rows(40, 40, None, None, False)
    assert "|grad stem.weight| / |grad head.weight|" in render(items, width=200)
    fig = plot.grad_norms_figure(res)
    assert_readable(fig)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0] == "stem" and ticks[-1] == "head" and "b5" in ticks


def test_resmlp_grad_norms_figure_is_written_and_labels_linears(res_grads, tmp_path):
    plot.grad_norms_plot(res_grads, tmp_path / "grads.png")
    _written(tmp_path / "grads.png")
    fig = plot.grad_norms_figure(res_grads)
    plot.save(fig, tmp_path / "grads.svg")
    _written(tmp_path / "grads.svg")
    assert_readable(fig)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [
        "stem",
        "b1.fc1",
        "b1.fc2",
        "b2.fc1",
        "b2.fc2",
        "b3.fc1",
        "b3.fc2",
        "b4.fc1",
        "b4.fc2",
        "head",
    ]
    # one point per Linear: norms and gates are left to the table
    relu = fig.axes[0].get_lines()[0]
    assert len(relu.get_xdata()) == 10
    assert "norm and gate gradients" in fig._suptitle.get_text()


def test_resmlp_init_compare_names_the_architecture():
    from nninit_cli.experiments.init_compare import run_init_compare

    flags = {"acts": "relu,tanh", "inits": "kaiming,normal", "layers": 6, "width": 16, "seeds": 1,
             "arch": "resmlp", "norm": "layer", "residual_scale": "invsqrt"}  # fmt: skip
    res = run_init_compare(specs.init_compare_spec(flags))
    items = table.compare_tables(res)
    assert_whole(items)
    assert items[0].startswith("init-compare: resmlp, 6 blocks x 16")
    assert items[1] == "x <- x + branch(x)/sqrt(6), branch = LayerNorm Linear act Linear"
    assert "final/input stream std" in items[-1]
    fig = plot.compare_figure(res)
    assert_readable(fig)
    assert fig.axes[0].get_xlabel() == "block" and "resmlp" in fig._suptitle.get_text()


def test_resmlp_trace_rows_go_to_csv_with_the_band_split(res_trace, tmp_path):
    import csv

    from nninit_cli.render.csv_out import write_rows

    rows = res_trace.to_dict()["blocks"]
    write_rows(tmp_path / "blocks.csv", rows)
    with open(tmp_path / "blocks.csv", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert len(read) == 40
    assert {"block", "std", "branch_std", "branch_ratio", "sq_mean", "predicted_band_lo"} <= set(read[0])
    assert float(read[9]["branch_std"]) == res_trace.layers[9].branch_std


def test_cli_resmlp_trace_table_csv_and_figure(cli, monkeypatch, tmp_path):
    import csv

    monkeypatch.setenv("COLUMNS", "80")
    args = ["--arch", "resmlp", "--layers", "5", "--width", "32", "--act", "relu", "--init", "kaiming"]
    r = cli(
        "std-trace",
        *args,
        "--norm",
        "layer",
        "--csv",
        str(tmp_path / "b.csv"),
        "--plot",
        str(tmp_path / "b.png"),
    )
    assert r.code == 0 and "Traceback" not in r.err
    assert max(cell_len(line) for line in r.out.splitlines()) <= 80 and "…" not in r.out
    assert "after 5 blocks" in r.out.splitlines()[-1]
    with open(tmp_path / "b.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["block"] for row in rows] == ["1", "2", "3", "4", "5"]
    _written(tmp_path / "b.png")
