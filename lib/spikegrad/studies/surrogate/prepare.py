"""What the surrogate-gradient study does to a :class:`spikegrad.sgnet.SGNet` before training (Herranz-Celotti &
Rouat, arXiv 2202.00282): apply the stability conditions (:func:`stabilize_network`), report what they predict
(:func:`predictions`) and set the initial firing rate by bias pre-training (:func:`adjust_initial_rate`)."""

import torch

from spikegrad.losses import sparsity_penalty
from spikegrad.sgnet import SGNet
from spikegrad.studies.surrogate import stability


def stabilize_network(
    model: SGNet, conditions: list[str], input_mean: float, input_var: float, seed: int = 0
) -> list[stability.Stabilized]:
    """Apply stability ``conditions`` (a subset of I–IV) layer by layer
    (:func:`spikegrad.studies.surrogate.stability.stabilize`):
    the first layer sees the data's input moments, deeper ones Bernoulli(½) spikes. Replaces each layer's
    recurrent weights (I, II) and surrogate parameters (III, IV) in place; returns what each layer got."""
    cell, moments, chosen = model.spec.neuron, (input_mean, input_var), []
    for k, (layer, sg) in enumerate(zip(model.hidden, model.surrogate, strict=True)):
        out = stability.stabilize(
            layer.weight, layer.recurrent, cell.alpha, cell.threshold, cell.reset, sg, *moments, conditions, seed + k
        )
        with torch.no_grad():
            layer.recurrent.copy_(out.w_rec)
        chosen.append(out)
        moments = stability.SPIKE_INPUT_MOMENTS
    model.surrogate = tuple(out.sg for out in chosen)
    return chosen


def predictions(model: SGNet) -> dict[str, float | None]:
    """What conditions III, IV and IV-tail predict for the first layer as it stands: the dampening γ, the
    sharpness β at the layer's γ, and (q_pseudospike only) the tail q at its γ, β; None where no value solves."""
    cell, layer, sg = model.spec.neuron, model.hidden[0], model.surrogate[0]
    args = (layer.weight, layer.recurrent, cell.alpha, cell.threshold, cell.reset, sg)
    solvers = {
        "dampening": lambda: stability.dampening(*args[1:5]).mean().item(),
        "sharpness": lambda: stability.solve_sharpness(*args),
        "tail": lambda: stability.solve_tail(*args) if sg.shape == "q_pseudospike" else None,
    }
    predicted = {}
    for name, solve in solvers.items():
        try:
            predicted[name] = solve()
        except stability.NoSolution:
            predicted[name] = None
    return predicted


def adjust_initial_rate(model: SGNet, data, cfg, target: float, epochs: int = 15, lr: float = 1e-2) -> None:
    """Train only the hidden biases for ``epochs`` with Adam on Σ_layers (⟨z⟩ − target)² so that every layer
    starts at spike probability ``target`` per step (Herranz-Celotti & Rouat's initial-rate adjustment); batches
    as :func:`spikegrad.train.fit` draws them under ``cfg`` (:class:`spikegrad.train.TrainConfig`)."""
    from spikegrad.train import GridTask

    if not 0 < target < 1:
        raise ValueError(f"the initial firing rate must be a spike probability in (0, 1), got {target!r}")
    biases = [layer.bias for layer in model.hidden]
    opt = torch.optim.Adam(biases, lr=lr)
    task = GridTask(model, cfg)
    model.train()
    for epoch in range(epochs):
        for idx in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch):
            loss = sparsity_penalty(model(task.inputs(data, idx)[0]).spikes, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.zero_grad(set_to_none=True)
