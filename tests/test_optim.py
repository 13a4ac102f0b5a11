"""coord-check's own SGD and Adam step exactly as torch.optim's do (on the CPU,
where torch.optim takes its single-tensor path)."""

from __future__ import annotations

import pytest
import torch

from nninit_cli.optim import SGD, Adam


def _train(make, steps: int = 7) -> list[torch.Tensor]:
    """Two parameters with their own learning rates, a loss that is not quadratic."""
    gen = torch.Generator().manual_seed(3)
    params = [
        torch.randn(40, 24, generator=gen).requires_grad_(),
        torch.randn(24, generator=gen).requires_grad_(),
    ]
    x = torch.randn(9, 24, generator=gen)
    opt = make([{"params": [params[0]], "lr": 0.01}, {"params": [params[1]], "lr": 0.3}])
    for _ in range(steps):
        opt.zero_grad()
        (torch.tanh(x @ params[0].T).pow(2).sum() + params[1].pow(3).sum()).backward()
        opt.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize(
    ("ours", "theirs"), [(SGD, torch.optim.SGD), (Adam, torch.optim.Adam)], ids=["sgd", "adam"]
)
def test_steps_match_torch_optim_bit_for_bit(ours, theirs):
    mine, ref = _train(ours), _train(theirs)
    start = _train(ours, steps=0)
    for a, b, s in zip(mine, ref, start, strict=True):
        assert not torch.equal(a, s)  # the parameters did move
        assert torch.equal(a, b)


def test_a_parameter_without_gradient_is_left_alone():
    used, unused = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    opt = Adam([{"params": [used, unused], "lr": 0.1}])
    opt.zero_grad()
    used.sum().backward()
    opt.step()
    assert torch.equal(unused.detach(), torch.ones(3))
    # Adam's first step moves every coordinate by lr (m / sqrt(v) = sign(g) after bias correction)
    assert torch.allclose(used.detach(), torch.full((3,), 0.9), atol=1e-6)
