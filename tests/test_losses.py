import math

import pytest
import torch

from spikegrad.losses import VOLTAGE_LOSSES, FirstSpikeParams, cross_entropy, first_spike_loss

# U [T=4, B=1, C=2]; s_n = (n + 1)/4 = 0.25, 0.5, 0.75, 1
U = torch.tensor([[[0.0, 1.0]], [[2.0, 0.5]], [[1.0, 0.0]], [[4.0, -1.0]]], dtype=torch.float64)


def ce(logits, label):
    return -math.log(math.exp(logits[label]) / sum(math.exp(z) for z in logits))


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("sum", [1.0, 1.0, 1.0, 1.0]),
        ("sum_weigh_exp", [math.exp(-0.25), math.exp(-0.5), math.exp(-0.75), math.exp(-1.0)]),
        ("sum_weigh_linear", [0.75, 0.5, 0.25, 0.0]),
        ("sum_weigh_sigmoid", [1 / (1 + math.exp((s - 0.5) / 0.2)) for s in (0.25, 0.5, 0.75, 1.0)]),
    ],
)
def test_time_weighted_sums_by_hand(name, weights):
    expected = [sum(w * u for w, u in zip(weights, U[:, 0, k].tolist(), strict=True)) / 4 for k in range(2)]
    loss, logits = cross_entropy(name, U, torch.tensor([1]))
    assert logits[0].tolist() == pytest.approx(expected)
    assert loss.item() == pytest.approx(ce(expected, 1))


def test_max_and_per_step_cross_entropy_by_hand():
    loss, logits = cross_entropy("max", U, torch.tensor([0]))
    assert logits.tolist() == [[4.0, 1.0]]
    assert loss.item() == pytest.approx(ce([4.0, 1.0], 0))
    loss, logits = cross_entropy("avg_xentropy", U, torch.tensor([0]))
    per_step = [ce(U[n, 0].tolist(), 0) for n in range(4)]
    assert loss.item() == pytest.approx(sum(per_step) / 4)
    assert logits[0].tolist() == pytest.approx([7.0 / 4, 0.5 / 4])


def test_batch_mean_and_every_loss_is_differentiable():
    u = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 1])
    for name in VOLTAGE_LOSSES:
        loss, _ = cross_entropy(name, u, labels)
        single = sum(cross_entropy(name, u[:, b : b + 1], labels[b : b + 1])[0] for b in range(3)) / 3
        assert loss.item() == pytest.approx(single.item()), name
        assert torch.autograd.gradcheck(lambda u, name=name: cross_entropy(name, u, labels)[0], (u,)), name


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        cross_entropy("median", torch.zeros(2, 1, 2), torch.tensor([0]))


def test_first_spike_loss_without_regulariser_is_finite_in_long_trials():
    """α = 0: plain cross-entropy of −t/τ_0, also where e^{T/τ_1} overflows float32 (T = 1000 ms, τ_1 = 1 ms)."""
    times = torch.tensor([[3.0, math.inf, 900.0]], requires_grad=True)
    params = FirstSpikeParams(tau0=5.0, tau1=1.0, alpha=0.0)
    loss, logits = first_spike_loss("first_spike_exp", times, torch.tensor([1]), 1000.0, params)
    expected = -torch.log_softmax(torch.tensor([-3.0, -1000.0, -900.0]) / 5.0, 0)[1]
    assert torch.isclose(loss, expected) and torch.equal(logits, torch.tensor([[-0.6, -200.0, -180.0]]))
    loss.backward()
    assert torch.isfinite(times.grad).all() and times.grad[0, 1] == 0  # silent: no cross-entropy gradient
    assert times.grad[0, 0] < 0  # the wrong, earliest neuron: descent moves it later
