r"""CPU kernels of the LIF scan (equations: :mod:`spikegrad.kernels.lif_scan`), compiled by Numba.

One parallel task per block of ``BLOCK`` neurons (of the B·N flattened ones) walks the T steps in order,
keeping the state (V, I forward; a_V, a_I backward) of its block in registers and reading and writing each
step's row of the block contiguously, so that the inner loop over the block vectorises. Constants are cast to
the array dtype and no operations are fused (no fast-math), so the results equal the eager PyTorch reference
bit for bit, as the Triton kernels do.

Roofline: the same bytes per element-step as the Triton kernels (3s forward, 5s backward for s-byte elements,
:mod:`spikegrad.kernels.lif_scan`) against the machine's memory bandwidth; a handful of flops per element-step,
so memory-bound. Absent gradients (``has_gz``/``has_gu`` False) are passed as the ``u`` array and never read.

Arrays are 2-D [T, M] views (M = B·N) of contiguous tensors; every neuron is independent, so the result does
not depend on the number of threads.
"""

import numba
import numpy as np

BLOCK = 1024  # neurons per task: 4 KiB of float32 per state variable and per step's row, which the prefetcher streams


@numba.njit(parallel=True, cache=True)
def scan_fwd(h, z, u, alpha, beta, c, theta, spiking, subtract):  # pragma: no cover (compiled)
    """Forward scan: U_t, z_t into ``u``, ``z`` (z untouched when not ``spiking``) from h [T, M]."""
    T, M = h.shape
    alpha, beta, c, theta = h.dtype.type(alpha), h.dtype.type(beta), h.dtype.type(c), h.dtype.type(theta)
    one, zero = h.dtype.type(1.0), h.dtype.type(0.0)
    for block in numba.prange((M + BLOCK - 1) // BLOCK):
        lo = block * BLOCK
        n = min(BLOCK, M - lo)
        v = np.zeros(n, h.dtype)
        i = np.zeros(n, h.dtype)
        for t in range(T):
            for k in range(n):
                # spikegrad.model.membrane_step (the one definition of the update)
                i_in = i[k] + h[t, lo + k]
                u_t = alpha * v[k] + c * i_in
                i[k] = beta * i_in
                u[t, lo + k] = u_t
                if spiking:
                    z_t = one if u_t >= theta else zero
                    z[t, lo + k] = z_t
                    v[k] = u_t - theta * z_t if subtract else u_t * (one - z_t)
                else:
                    v[k] = u_t


@numba.njit(parallel=True, cache=True)
def scan_bwd(
    gz, gu, u, sg, gh, alpha, beta, c, theta, has_gz, has_gu, spiking, subtract, detach
):  # pragma: no cover (compiled)
    """Reverse scan: ∂L/∂h into ``gh`` [T, M] (which may be ``gu`` itself: each step reads before it writes)."""
    T, M = u.shape
    alpha, beta, c, theta = u.dtype.type(alpha), u.dtype.type(beta), u.dtype.type(c), u.dtype.type(theta)
    one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
    for block in numba.prange((M + BLOCK - 1) // BLOCK):
        lo = block * BLOCK
        n = min(BLOCK, M - lo)
        a_v = np.zeros(n, u.dtype)
        a_i = np.zeros(n, u.dtype)
        for t in range(T - 1, -1, -1):
            for k in range(n):
                m = lo + k
                g_u = gu[t, m] if has_gu else zero
                if spiking:
                    u_t = u[t, m]
                    g_z = gz[t, m] if has_gz else zero
                    if subtract:
                        if not detach:
                            g_z = g_z - a_v[k] * theta
                        g_u = g_u + a_v[k]
                    else:
                        if not detach:
                            g_z = g_z - a_v[k] * u_t
                        g_u = g_u + a_v[k] * (one - (one if u_t >= theta else zero))
                    g_u = g_u + g_z * sg[t, m]
                else:
                    g_u = g_u + a_v[k]
                g_i = g_u * c + a_i[k] * beta
                gh[t, m] = g_i
                a_v[k] = g_u * alpha
                a_i[k] = g_i
