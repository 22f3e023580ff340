"""rnnservice.ml.dropout: F.dropout's contract with four elements decided by one 64-bit draw."""
from __future__ import annotations

import math

import pytest
import torch

from rnnservice.ml.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.05, 0.2, 0.33, 0.5, 0.9])
def test_each_element_is_dropped_with_probability_p_and_the_rest_scaled(p):
    x = torch.randn(1_000_003)                  # not a multiple of 4: the last draw is cut
    torch.manual_seed(0)
    out = dropout(x, p)
    dropped = (out == 0).double().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / x.numel())
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / (1 - p))


def test_the_elements_of_a_draw_are_independent():
    torch.manual_seed(1)
    kept = dropout(torch.ones(4 * 250_000), 0.5).view(-1, 4) != 0
    # every pattern of the four elements decided by one draw is about equally likely (1/16 each)
    patterns = (kept.long() * torch.tensor([1, 2, 4, 8])).sum(1).bincount(minlength=16).double() / kept.size(0)
    assert (patterns - 1 / 16).abs().max() < 0.003


def test_a_seeded_draw_repeats_and_eval_mode_and_p_zero_change_nothing():
    x = torch.randn(7, 5, 3)
    torch.manual_seed(3)
    first = dropout(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(first, dropout(x, 0.3))
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0) is x
    module = Dropout(0.3).eval()
    assert module(x) is x and module.state_dict() == {} and isinstance(module, torch.nn.Dropout)


def test_the_gradient_is_the_mask_scaled():
    x = torch.randn(64, 10, requires_grad=True)
    out = dropout(x, 0.25)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() / 0.75)
