import math

import pytest
import torch

from spikegrad.losses import cross_entropy


def test_logits_and_loss_by_hand():
    # U [T=3, B=1, C=2]
    u = torch.tensor([[[0.0, 1.0]], [[2.0, 0.5]], [[1.0, 0.0]]])
    loss, logits = cross_entropy("max", u, torch.tensor([0]))
    assert logits.tolist() == [[2.0, 1.0]]
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + math.exp(1))))
    loss, logits = cross_entropy("sum", u, torch.tensor([1]))
    assert logits.tolist() == [[1.0, 0.5]]
    assert loss.item() == pytest.approx(-math.log(math.exp(0.5) / (math.exp(1) + math.exp(0.5))))


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        cross_entropy("median", torch.zeros(2, 1, 2), torch.tensor([0]))
