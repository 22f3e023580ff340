"""Dropout with a cheaper random draw on the CPU.

torch's dropout on a CPU draws one number from its Mersenne Twister for each element (`bernoulli_`): 6 to 9 ms for
the 448,000 activations of one language-model batch, a tenth of a training step. Here one 64-bit draw from the same
generator decides four elements, 16 bits each, so the probability is exact to 1/65,536 and a seeded run is
repeatable as before (bench/RESULTS.md, "Dropout on the CPU"). On other devices it is torch's own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_INT64 = (-2**63, 2**63 - 1)      # randint's bounds for 64 random bits a draw


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """F.dropout's contract: in training, each element zeroed with probability p and the rest scaled by 1/(1-p)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    draws = torch.randint(*_INT64, ((x.numel() + 3) // 4,), dtype=torch.int64)
    bits = draws.view(torch.int16)[:x.numel()].view(x.shape)     # uniform over -32,768 .. 32,767
    cut = round(p * 65536) - 32768                               # keep a draw >= cut: P(keep) = 1 - p
    # 1/(1-p) where kept, else 0, in float arithmetic only: sign(draw - cut + 0.5) is +1 or -1, never 0. A bool
    # mask would be shorter, but multiplying by a bool tensor is 4 times slower on the CPU than by a float one.
    mask = bits.to(torch.float32).sub_(cut - 0.5).sign_().clamp_(min=0.0).mul_(1.0 / (1.0 - p))
    return x * mask.to(x.dtype)


class Dropout(nn.Dropout):
    """nn.Dropout through `dropout`: the same module in a state dict and a repr."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
