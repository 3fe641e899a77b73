r"""Analyses of trained networks for the EventProp study (Nowotny, Turner & Knight, arXiv 2212.01232, §"gradient
flow"): how much error signal reaches the hidden layer at each time of the trial.

With a constant drive A (loss ``sum``), λ_V and λ_I both relax to A, so λ_V − λ_I — what a hidden spike receives
through the readout weights, ∂L/∂t_k = Σ_i w_ik (λ_V − λ_I)_i — is non-zero only within a few τ_m of the trial's
end; a time-weighted drive (``sum_weigh_exp``) keeps it non-zero throughout (λ_V − λ_I ≈ τ_s dA/ds for a slowly
varying drive in backward time s).
"""

from pathlib import Path

import pandas as pd
import torch

from spikegrad import results
from spikegrad.data import load
from spikegrad.data.augment import Transform, apply
from spikegrad.engines import eventprop
from spikegrad.losses import cross_entropy
from spikegrad.network import SNN
from spikegrad.runs import GridRun, build_grid


def gradient_flow(model: SNN, x: torch.Tensor, labels: torch.Tensor, loss: str) -> pd.DataFrame:
    """Per time step t = nΔt of one batch x [T, B, n_in] (one hidden layer, LI readout, EventProp engine):

    - ``error_signal``: mean over samples and hidden neurons of |Σ_i w_ik (λ_V − λ_I)_i(t)|, the ∂L/∂t a hidden
      spike at t would receive;
    - ``input_gradient``: ‖τ_s Σ_b λ_I(t)ᵀ x_t‖, the Frobenius norm of step t's contribution to ∂L/∂W_in.
    """
    if model.engine != "eventprop" or len(model.hidden) != 1 or model.reads != "voltage":
        raise ValueError("gradient_flow needs a one-hidden-layer EventProp network with an LI readout")
    model.zero_grad(set_to_none=True)
    with eventprop.record_adjoints() as traces:
        out = model(x)
        cross_entropy(loss, out.voltage, labels)[0].backward()
    model.zero_grad(set_to_none=True)
    readout, hidden = traces
    w_out = model.readout.weight.detach()
    signal = ((readout["lambda_v"] - readout["lambda_i"]) @ w_out).abs().mean(dim=(1, 2))
    per_step = torch.einsum("tbn,tbi->tni", hidden["lambda_i"], x) * model.spec.neuron.tau_syn
    steps = torch.arange(x.shape[0], dtype=torch.float64) * model.dt
    return pd.DataFrame(
        {
            "time": steps.numpy(),
            "error_signal": signal.cpu().double().numpy(),
            "input_gradient": per_step.flatten(1).norm(dim=1).cpu().double().numpy(),
        }
    )


BATCH = 32  # test samples analysed (the first ones)


def test_batch(metrics: dict, data_root) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The first ``BATCH`` test samples as the run saw them: raster [T, B, n_in], labels [B], and the split."""
    data = load(metrics["dataset"], "test", root=data_root)
    if metrics.get("preprocess"):
        data = apply(data, [Transform(*t) for t in metrics["preprocess"]])
    dt, n_steps, indices = metrics["network"]["dt"], metrics["train_config"]["n_steps"], range(min(BATCH, len(data)))
    x = data.to_dense(dt, n_steps=n_steps, indices=indices, dtype=torch.float32)
    return x, torch.as_tensor(data.labels[list(indices)]), data


NETWORK_FIELDS = ("hidden", "recurrent", "tau_mem", "tau_syn", "threshold", "reset", "dt", "active_band", "train_tau",
                  "surrogate", "sharpness", "hidden_init", "readout_init", "recurrent_init")  # fmt: skip


def untrained_network(metrics: dict, data) -> SNN:
    """The run's network at initialisation: :func:`spikegrad.runs.build_grid`, as the notebook called it, on the
    settings the run's metrics.json records (network, engine, loss and seed) and a split like ``data``."""
    net = metrics["network"]
    run = GridRun(engine=metrics["engine"], loss=metrics["train_config"]["loss"], seed=metrics["seed"], device="cpu",
                  **{name: net[name] for name in NETWORK_FIELDS})  # fmt: skip
    return build_grid(run, data)[0]


def run_flow(weights: Path, expected_loss: str, data_root) -> pd.DataFrame:
    metrics = results.read_json(Path(weights).parent / "metrics.json")
    loss = metrics["train_config"]["loss"]
    if loss != expected_loss:
        raise ValueError(f"{weights} was trained with loss {loss!r}, expected {expected_loss!r}")
    if metrics["engine"] != "eventprop":
        raise ValueError(f"{weights} was trained with engine {metrics['engine']!r}, not eventprop")
    x, labels, data = test_batch(metrics, data_root)
    model = untrained_network(metrics, data)
    frames = [gradient_flow(model, x, labels, loss).assign(state="untrained")]
    model.load_state_dict(results.load_tensors(weights)[0])
    frames.append(gradient_flow(model, x, labels, loss).assign(state="trained"))
    return pd.concat(frames, ignore_index=True).assign(loss=loss, run_dir=str(Path(weights).parent))


def flow_table(sum_weights: Path, shaped_weights: Path, data_root) -> pd.DataFrame:
    """Gradient flow of the selected ``sum`` and ``sum_weigh_exp`` runs (their ``weights.safetensors``), each
    untrained (the run's own initialisation, rebuilt from its metrics.json as the notebook built it) and trained
    (the run's selected weights), on the first :data:`BATCH` test samples."""
    frames = [run_flow(sum_weights, "sum", data_root), run_flow(shaped_weights, "sum_weigh_exp", data_root)]
    return pd.concat(frames, ignore_index=True)
