"""Edge cases of the infinite-width theory that a grid's solver gets wrong
without care: fixed points that are rounding, and fixed points the cells
never reach."""

from __future__ import annotations

import numpy as np

from nninit_cli import meanfield as mf


def test_softplus_at_sigma_w2_2_has_no_fixed_point():
    """softplus^2 > relu^2 everywhere, so at sigma_w2 = 2 the q-map exceeds q
    for every q: q* is infinite, not the ~1e6 where the quadrature can no
    longer tell softplus from ReLU."""
    f = mf.act_fn("softplus")
    cells = mf.phase_grid(f, [1.99, 2.0, 2.01], [0.0, 0.0, 0.0])
    assert cells[0].phase == "ordered" and 50 < cells[0].q_star < 52
    assert [c.phase for c in cells[1:]] == ["unbounded", "unbounded"]
    assert mf.critical_line(f, [0.0])[0].sigma_w2 is None


def test_critical_points_are_where_the_cells_are_critical():
    """A point of the critical line is a stable fixed point the cells reach
    from q = 1, so the cell there is critical.  GELU's chi_1 = 1 points at
    small sigma_b2 are unstable fixed points of the q-map (from q = 1 the
    stack explodes there; the cells go from ordered to unbounded): none.  At
    sigma_b2 = 0.5 it has a stable one (q* = 22)."""
    for act in ("tanh", "gelu", "silu", "elu", "selu", "sigmoid"):
        f = mf.act_fn(act)
        for p in mf.critical_line(f, [0.0, 0.05, 0.5, 1.0]):
            if p.sigma_w2 is None:
                continue
            cell = mf.phase_grid(f, [p.sigma_w2], [p.sigma_b2], rule=mf.FINE)[0]
            assert cell.phase == "critical", (act, p, cell)
            assert np.isclose(cell.q_star, p.q_star, rtol=1e-4, atol=1e-9), (act, p, cell)
    assert all(p.sigma_w2 is None for p in mf.critical_line(mf.act_fn("gelu"), [0.0, 0.05]))


def test_tanh_without_bias_keeps_its_q0_critical_point():
    f = mf.act_fn("tanh")
    p = mf.critical_line(f, [0.0])[0]
    assert p.q_star == 0.0 and abs(p.sigma_w2 - 1.0) < 1e-4


def test_relu_below_criticality_without_bias_has_chi1_sigma_w2_over_2():
    """q* = 0 there, and chi_1 and the q-map's slope are their q -> 0+ limits,
    sigma_w2 E[phi'^2] = sigma_w2 / 2 (phi'(0) itself, at the kink, would
    give a quarter of sigma_w2)."""
    for sw2 in (1.0, 1.5):
        cell = mf.phase_grid(mf.act_fn("relu"), [sw2], [0.0])[0]
        assert cell.q_star == 0.0 and cell.phase == "ordered"
        assert abs(cell.chi1 - sw2 / 2) < 1e-9
        assert abs(cell.xi_c - (-1 / np.log(sw2 / 2))) < 1e-6
        assert abs(cell.xi_q - (-1 / np.log(sw2 / 2))) < 1e-6
