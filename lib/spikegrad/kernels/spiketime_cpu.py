r"""CPU kernel of the spike-time backward pass of one continuous-time layer (equations: the module docstring of
:mod:`spikegrad.engines.spiketime`; κ, κ' and V̇ as :mod:`spikegrad.engines.events`), compiled by Numba.

Per sample and neuron: the total errors Ē_k by the own-spike recursion from the last spike to the first and
g_k = −Ē_k / V̇_k; then, for each input spike q before the neuron's last spike (the stream is sorted: binary
searches find the inputs before each spike), the sums S_q = Σ_{k: t_k > t_q} g_k κ(t_k − t_q) and
D_q = Σ_k g_k κ'(t_k − t_q), added to ∂L/∂w_{n,c_q} and, times −w_{n,c_q}, to ∂L/∂t_q. The exponentials of a pair
factorise about an anchor a, e^{−(t_k − t_q)/τ} = e^{−(t_k − a)/τ} e^{(t_q − a)/τ}: each sample's stream is cut
into blocks that span at most ``SPAN``·τ_s from their first input a (so that e^{(t_q − a)/τ} ≤ e^``SPAN``), the
second factor is computed once per input and sample, the first once per spike and block, and the loop over the
inputs of a block before a spike is a product per pair, which vectorises. Cost: O(pairs) vectorised
multiply-adds (the pairs being (post spike, earlier input spike)), O(K · blocks) exps per neuron, O(Q) exps per
sample.

Parallel over chunks of consecutive samples: ∂L/∂t_q of a sample is written by its chunk only, and each chunk
adds its ∂L/∂W into its own slice of ``grad_w_parts`` [C, N, N_in], which the launcher sums (race-free). The
number of chunks is fixed (``CHUNKS``, not the thread count), so the result does not depend on the threads.
Constants are cast to the array dtype and nothing is fused (no fast-math), but the factorised exponentials (a few
ulp each), C's exp in place of PyTorch's and another order of summation make the results agree with the
reference to rounding
(float64: 1e-12 of the largest gradient in the tests).
"""

import math

import numba
import numpy as np

SPAN = 4.0  # longest block of inputs, in units of τ_s: e^{(t_q − a)/τ} ≤ e⁴
CHUNKS = 4  # chunks of samples (parallel tasks) of the backward pass


def chunks(batch: int) -> int:
    """The number C of chunks of samples: ``CHUNKS``, at least one and at most one per sample."""
    return max(1, min(batch, CHUNKS))


@numba.njit(parallel=True, cache=True, error_model="numpy")
def layer_backward(
    grad_out, out, current, times, channels, weight, grad_t, grad_w_parts, tau_mem, tau_syn, theta, ratio, floor
):  # pragma: no cover (compiled)
    """∂L/∂t into ``grad_t`` [B, Q] and ∂L/∂W of each chunk of samples into ``grad_w_parts`` [C, N, N_in] (both
    zero-filled), from ∂L/∂t_k ``grad_out``, the spike times ``out`` and currents ``current`` [B, N, K] of the
    layer and its input stream ``times``, ``channels`` [B, Q]. ``floor``: the floor of V̇ (SLOPE_FLOOR·ϑ/τ_m)."""
    B, N, K = out.shape
    Q = times.shape[1]
    C = grad_w_parts.shape[0]
    f = out.dtype.type
    tau_m, tau_s, th, floor_, one = f(tau_mem), f(tau_syn), f(theta), f(floor), f(1.0)
    c = f(tau_syn / (tau_mem - tau_syn)) if ratio == 2 else f(0.0)
    span = f(SPAN * tau_syn)
    for chunk in numba.prange(C):
        grad_w = grad_w_parts[chunk]
        g = np.zeros(K, out.dtype)
        s_sum = np.zeros(Q, out.dtype)  # S_q and D_q of one neuron
        d_sum = np.zeros(Q, out.dtype)
        p_m = np.zeros(Q, out.dtype)  # e^{(t_q − a)/τ_m}, e^{(t_q − a)/τ_s}
        p_s = np.zeros(Q, out.dtype)
        starts = np.zeros(Q + 1, np.int64)  # the blocks of inputs: [starts[j], starts[j + 1]), anchor times[starts[j]]
        for b in range((chunk * B) // C, ((chunk + 1) * B) // C):
            n_in = 0
            n_blocks = 0
            while n_in < Q and times[b, n_in] < np.inf:
                if n_in == 0 or times[b, n_in] - times[b, starts[n_blocks - 1]] > span:
                    starts[n_blocks] = n_in
                    n_blocks += 1
                rel = times[b, n_in] - times[b, starts[n_blocks - 1]]
                p_m[n_in] = math.exp(rel / tau_m)
                if ratio == 2:
                    p_s[n_in] = math.exp(rel / tau_s)
                n_in += 1
            starts[n_blocks] = n_in
            t_in = times[b, :n_in]
            for n in range(N):
                count = 0
                while count < K and out[b, n, count] < np.inf:
                    count += 1
                if count == 0:
                    continue
                carry = f(0.0)  # R_k
                for k in range(count - 1, -1, -1):
                    vdot = max((current[b, n, k] - th) / tau_m, floor_)
                    total = grad_out[b, n, k] + carry
                    g[k] = -total / vdot
                    if k > 0:
                        decay = math.exp(-(out[b, n, k] - out[b, n, k - 1]) / tau_m)
                        carry = decay * (th * total / (tau_m * vdot) + carry)
                q_end = np.searchsorted(t_in, out[b, n, count - 1])  # the inputs before the neuron's last spike
                s_sum[:q_end] = 0.0
                d_sum[:q_end] = 0.0
                for k in range(count):
                    t_k = out[b, n, k]
                    q_k = np.searchsorted(t_in, t_k)  # the inputs before spike k
                    g_k = g[k]
                    if g_k == 0.0:
                        continue
                    for j in range(n_blocks):
                        lo, hi = starts[j], min(starts[j + 1], q_k)
                        if lo >= hi:
                            break
                        rel = t_k - times[b, lo]
                        a_m = math.exp(-rel / tau_m)
                        s_q, d_q, pm_q = s_sum[lo:hi], d_sum[lo:hi], p_m[lo:hi]  # (slices: the loops vectorise)
                        if ratio == 2:
                            a_s = math.exp(-rel / tau_s)
                            ps_q = p_s[lo:hi]
                            for q in range(hi - lo):
                                em = a_m * pm_q[q]
                                es = a_s * ps_q[q]
                                s_q[q] += g_k * (c * (em - es))
                                d_q[q] += g_k * (c * (es / tau_s - em / tau_m))
                        else:
                            t_q = times[b, lo:hi]
                            for q in range(hi - lo):
                                em = a_m * pm_q[q]
                                s = t_k - t_q[q]
                                s_q[q] += g_k * (s / tau_m * em)
                                d_q[q] += g_k * (em * (one - s / tau_m) / tau_m)
                for q in range(q_end):
                    j = channels[b, q]
                    grad_w[n, j] += s_sum[q]
                    grad_t[b, q] -= weight[n, j] * d_sum[q]
