r"""Continuous-time EventProp: the exact gradient of the event-based LIF layer of
:mod:`spikegrad.engines.events` from the adjoint ODE integrated backward in time, with jumps at events
(Wunderlich & Pehle 2021, Sci. Rep. 11:12829, Table 2). An independent check of
:mod:`spikegrad.engines.spiketime`, which applies the same chain rule through the spike times.

**Adjoint.** With x = (V, I), ẋ = Ax, A = [[−1/τ_m, 1/τ_m], [0, −1/τ_s]] between events, the sensitivities
p = ∂L/∂x(t) obey ṗ = −Aᵀp. In W&P's scaling λ_V = −(1/τ_m)∂L/∂V, λ_I = −(1/τ_s)∂L/∂I, with ' = −d/dt
(reverse time) and λ = 0 after the neuron's last spike,

.. math::

    \tau_m \lambda_V' = -\lambda_V, \qquad \tau_s \lambda_I' = -\lambda_I + \lambda_V,

solved exactly over a gap s (the transpose of the forward propagator V(s) = e^{-s/τ_m}V + κ(s)I):

.. math::

    \lambda_V \leftarrow e^{-s/\tau_m} \lambda_V, \qquad
    \lambda_I \leftarrow e^{-s/\tau_s} \lambda_I + \frac{\tau_m}{\tau_s}\kappa(s)\, \lambda_V
    \qquad \left(\tfrac{\tau_m}{\tau_s}\kappa(s) = 2(y - y^2) \text{ if } \tau_m = 2\tau_s,\
    \tfrac{s}{\tau_m} y \text{ if } \tau_m = \tau_s;\ y = e^{-s/\tau_m}\right).

**Own spike t_k** (V(t_k⁻) = ϑ, V ← 0, I continuous, no recurrence). A state perturbation δx⁻ just before the
spike shifts it by δt_k = −δV⁻/V̇⁻ and, at a fixed time after it, gives δV⁺ = −V̇⁺δt_k (V̇⁺ = I/τ_m, the slope
after the reset), δI⁺ = δI⁻. Matching p⁻·δx⁻ = p⁺·δx⁺ + (∂L/∂t_k)δt_k, with I/τ_m = V̇⁻ + ϑ/τ_m:

.. math::

    \lambda_V^- = \lambda_V^+ + \frac{\vartheta \lambda_V^+ + \partial L/\partial t_k}{\tau_m \dot V^-},
    \qquad \lambda_I^- = \lambda_I^+, \qquad \tau_m \dot V^- = I(t_k) - \vartheta,

W&P's rule with the same signs (their recurrent term is absent); ∂L/∂t_k comes from the loss and later layers.

**Input spike t_q of channel j** (I ← I + w_nj). λ is continuous there; the weight enters as a jump of I and the
time as the shift of the jump, δx⁺ = (f⁻ − f⁺)δt_q = (−w_nj/τ_m, w_nj/τ_s)δt_q, so

.. math::

    \frac{\partial L}{\partial w_{nj}} = -\tau_s \sum_q \lambda_I(t_q), \qquad
    \frac{\partial L}{\partial t_q} = \sum_n w_{n j_q} \left(\lambda_{V,n}(t_q) - \lambda_{I,n}(t_q)\right).

For every (sample, neuron) the backward pass walks the merged, time-descending list of the sample's input stream
and the neuron's own spikes (inputs after t_max and padding are skipped), vectorised over [B, N].
"""

import math

import torch

from spikegrad.engines.events import EventOptions, finite_grad, ratio_of, simulate, slope
from spikegrad.model import LIFParams


def propagate(lam_v: torch.Tensor, lam_i: torch.Tensor, s: torch.Tensor, tau_mem: float, ratio: int):
    """(λ_V, λ_I) carried s ≥ 0 ms backward in time without events, τ_m/τ_s = ratio (module docstring)."""
    y = torch.exp(-s / tau_mem)
    if ratio == 2:
        return y * lam_v, y * y * lam_i + 2 * (y - y * y) * lam_v
    return y * lam_v, y * lam_i + s / tau_mem * y * lam_v


def merged_events(times: torch.Tensor, out: torch.Tensor, t_max: float):
    """Per (sample, neuron), the Q input events and K own spikes in descending time: event times [B, N, M],
    a mask of own spikes [B, N, M], a mask of live events [B, N, M] and the sort order (index into the
    concatenation inputs ++ own spikes), M = Q + K."""
    B, N, K = out.shape
    Q = times.shape[1]
    ev = torch.cat([times.detach()[:, None, :].expand(B, N, Q), out], dim=2)
    own = torch.cat(
        [torch.zeros(B, N, Q, dtype=torch.bool, device=out.device), torch.ones_like(out, dtype=torch.bool)], 2
    )
    live = torch.isfinite(ev) & (own | (ev <= t_max))
    key = torch.where(live, ev, torch.full_like(ev, -math.inf))  # dead events last, never visited
    order = torch.argsort(key, dim=2, descending=True, stable=True)
    return ev.gather(2, order), own.gather(2, order), live.gather(2, order), order


def adjoint_sweep(times, out, errors, vdot, lif: LIFParams, t_max: float):
    """λ_V and λ_I [B, N, Q] at each input event, from the reverse sweep over the merged event lists."""
    B, N, K = out.shape
    Q, ratio = times.shape[1], ratio_of(lif)
    ev_t, ev_own, ev_live, order = merged_events(times, out, t_max)
    spike_slot = (order - Q).clamp(min=0)  # own spike index k where ev_own
    jump_e = errors.gather(2, spike_slot)  # ∂L/∂t_k at each own spike in the merged order
    jump_d = (lif.tau_mem * vdot).gather(2, spike_slot)  # τ_m V̇⁻
    lam_v = torch.zeros(B, N, dtype=out.dtype, device=out.device)
    lam_i = torch.zeros_like(lam_v)
    now = torch.full_like(lam_v, t_max)
    at_v = torch.zeros(B, N, Q + K, dtype=out.dtype, device=out.device)
    at_i = torch.zeros_like(at_v)
    for m in range(Q + K):
        live = ev_live[..., m]
        if not bool(live.any()):
            break  # the remaining events are dead for all (b, n)
        t = torch.where(live, ev_t[..., m], now)
        lam_v, lam_i = propagate(lam_v, lam_i, (now - t).clamp(min=0), lif.tau_mem, ratio)
        now = t
        at_v[..., m], at_i[..., m] = lam_v, lam_i  # continuous at inputs; recorded for them only
        spike = live & ev_own[..., m]
        jump = (lif.threshold * lam_v + jump_e[..., m]) / jump_d[..., m]
        lam_v = torch.where(spike, lam_v + jump, lam_v)
    keep = ev_live & ~ev_own
    at_v, at_i = torch.where(keep, at_v, 0.0), torch.where(keep, at_i, 0.0)
    lam_v_q = torch.zeros_like(at_v).scatter_(2, order, at_v)[..., :Q]  # back to input-stream order
    lam_i_q = torch.zeros_like(at_i).scatter_(2, order, at_i)[..., :Q]
    return lam_v_q, lam_i_q


class _Layer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, weight, channels, out, current, lif, t_max):
        ctx.lif, ctx.t_max = lif, t_max
        ctx.save_for_backward(times, weight, channels, out, current)
        return out.clone()

    @staticmethod
    def backward(ctx, grad_out):
        times, weight, channels, out, current = ctx.saved_tensors
        lif = ctx.lif
        errors = finite_grad(grad_out, out)
        lam_v, lam_i = adjoint_sweep(times, out, errors, slope(current, lif), lif, ctx.t_max)  # [B, N, Q]
        N = weight.shape[0]
        per_event = (-lif.tau_syn * lam_i).permute(1, 0, 2).reshape(N, -1)
        grad_w = torch.zeros_like(weight).index_add_(1, channels.reshape(-1), per_event)
        w_q = weight[:, channels].permute(1, 0, 2)  # w_{n, j_q} [B, N, Q]
        grad_t = (w_q * (lam_v - lam_i)).sum(1)
        return grad_t, grad_w, None, None, None, None, None


def layer(in_times: torch.Tensor, weight: torch.Tensor, lif: LIFParams, options: EventOptions) -> torch.Tensor:
    """Output spike times [B, N, K] (+inf padding) of a layer driven by ``in_times [B, N_in, K_in]``, the same
    forward pass as :func:`spikegrad.engines.spiketime.layer`; differentiable in ``in_times`` and ``weight`` by
    the adjoint sweep of the module docstring."""
    times, channels, out, current = simulate(in_times, weight, lif, options)
    return _Layer.apply(times, weight, channels, out, current, lif, options.t_max)
