r"""Analyses of trained networks for the EventProp study (Nowotny, Turner & Knight, arXiv 2212.01232, §"gradient
flow"): how much error signal reaches the hidden layer at each time of the trial.

With a constant drive A (loss ``sum``), λ_V and λ_I both relax to A, so λ_V − λ_I — what a hidden spike receives
through the readout weights, ∂L/∂t_k = Σ_i w_ik (λ_V − λ_I)_i — is non-zero only within a few τ_m of the trial's
end; a time-weighted drive (``sum_weigh_exp``) keeps it non-zero throughout (λ_V − λ_I ≈ τ_s dA/ds for a slowly
varying drive in backward time s).
"""

import pandas as pd
import torch

from spikegrad.engines import eventprop
from spikegrad.losses import cross_entropy
from spikegrad.network import SNN


def gradient_flow(model: SNN, x: torch.Tensor, labels: torch.Tensor, loss: str) -> pd.DataFrame:
    """Per time step t = nΔt of one batch x [T, B, n_in] (one hidden layer, LI readout, EventProp engine):

    - ``error_signal``: mean over samples and hidden neurons of |Σ_i w_ik (λ_V − λ_I)_i(t)|, the ∂L/∂t a hidden
      spike at t would receive;
    - ``input_gradient``: ‖τ_s Σ_b λ_I(t)ᵀ x_t‖, the Frobenius norm of step t's contribution to ∂L/∂W_in.
    """
    if model.engine is not eventprop or len(model.hidden) != 1 or model.spec.readout != "li":
        raise ValueError("gradient_flow needs a one-hidden-layer EventProp network with an LI readout")
    model.zero_grad(set_to_none=True)
    with eventprop.record_adjoints() as traces:
        out = model(x)
        cross_entropy(loss, out.voltage, labels)[0].backward()
    model.zero_grad(set_to_none=True)
    readout, hidden = traces
    w_out = model.readout.weight.detach()
    signal = ((readout["lambda_v"] - readout["lambda_i"]) @ w_out).abs().mean(dim=(1, 2))
    per_step = torch.einsum("tbn,tbi->tni", hidden["lambda_i"], x) * model.spec.lif.tau_syn
    steps = torch.arange(x.shape[0], dtype=torch.float64) * model.spec.lif.dt
    return pd.DataFrame(
        {
            "time": steps.numpy(),
            "error_signal": signal.cpu().double().numpy(),
            "input_gradient": per_step.flatten(1).norm(dim=1).cpu().double().numpy(),
        }
    )
