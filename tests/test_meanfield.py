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


def test_gelu_critical_line_is_where_the_cells_are():
    """GELU's q = 0 is a fixed point with chi_1 = 1 at sigma_w2 = 4, but from
    q = 1 (where the cells start) the stack explodes there: no critical point
    at sigma_b2 = 0.  With a bias the line is finite and the cell on it is
    critical."""
    f = mf.act_fn("gelu")
    at0, at05 = mf.critical_line(f, [0.0, 0.05])
    assert at0.sigma_w2 is None
    assert mf.phase_grid(f, [4.0], [0.0])[0].phase == "unbounded"
    cell = mf.phase_grid(f, [at05.sigma_w2], [0.05])[0]
    assert cell.phase == "critical" and abs(cell.chi1 - 1) < 1e-4
    assert np.isclose(cell.q_star, at05.q_star, rtol=1e-4)


def test_tanh_without_bias_keeps_its_q0_critical_point():
    f = mf.act_fn("tanh")
    p = mf.critical_line(f, [0.0])[0]
    assert p.q_star == 0.0 and abs(p.sigma_w2 - 1.0) < 1e-4
