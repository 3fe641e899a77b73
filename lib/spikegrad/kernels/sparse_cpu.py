r"""CPU kernels of the sparse surrogate-gradient engine, compiled by Numba: the backward pass of one LIF layer
(``layer_bwd``; equations: :mod:`spikegrad.engines.sparse`) and the selection of its active set and spikes from
U (``select_count``, ``select_fill``). Launchers (``layer_backward_cpu``, ``select_cpu``) and PyTorch references
with the same signatures (``layer_backward_ref``, ``select_ref``) are in :mod:`spikegrad.kernels.sparse_grad`.

One task per chunk of samples (samples b, b + P, b + 2P, … for P chunks) walks each sample's steps
t = T − 1 … 0 with the adjoint state (a_V, a_I) of the layer's neurons, never materialising δ [T, B, N]:

1. e_t at the active entries of step t: a_V[j] += σ'_A (∂L/∂z_t[j] + [recurrent] δ_{t+1}·W_rec[:, j]), where
   δ_{t+1} is a_I before the update;
2. δ_t = c a_V + β a_I, then a_V ← α a_V, a_I ← δ_t (an O(N) vector update);
3. what needs δ_t, at once: ∇Wᵀ[i, :] += x δ_t for each non-zero input x = x_t[b, i] (an axpy on a row of the
   [N_in, N] accumulator); the input gradient W[:, i]·δ_t for each upstream-active entry (t, b, i), or for every
   i (dense, no upstream set); for recurrent layers ∇W_recᵀ[n, :] += δ_t at each spike z_{t−1}[b, n].

Steps after a sample's last active entry are skipped (δ = 0 there). Cost: O(T·B·N) for the scans plus
O((nnz(x) + |A_in| + [recurrent] (|A| + spikes))·N) multiply-adds for the events, each reading one element of a
row of Wᵀ, W_recᵀ or an accumulator (4 bytes in float32). Measured (2 cores, float32,
:mod:`spikegrad.bench.sparse` layer 2 at batch 32): 32 M multiply-adds in 3.1 ms at N = 200 and 826 M in 57 ms at
N = 1000, 10–15 GMAC/s, i.e. 40–60 GB/s of row reads from L2/L3 and 15–20 % of the cores' AVX2 FMA peak.

Race-free: each chunk accumulates ∇Wᵀ and ∇W_recᵀ in its own slice [p] of the outputs (the launcher sums the P
slices in a fixed order) and writes the input gradient and the gathered ∂L/∂z only at its own samples' entries,
so results are deterministic for a given P (the launcher's P = min(B, threads)).

Rounding: the scan is the reference's (:func:`spikegrad.kernels.lif_scan_cpu.scan_bwd` with e as ∂L/∂U)
operation for operation, except that values below the smallest normal number are flushed to zero (subnormal
arithmetic is ~100× slower, and a silent neuron's adjoint decays into that range within a few hundred steps);
the dots (``_dot``, ``_dot4``) are reassociated and fused so that they vectorise, and the sums run in event
order. The gradients therefore equal the reference's to rounding.
"""

import numba
import numpy as np

FAST = {"reassoc", "nsz", "contract"}  # fast-math flags of the dot products only: reassociated so that they vectorise


@numba.njit(fastmath=FAST, cache=True)
def _dot(d, m, row):  # pragma: no cover (compiled)
    """Σ_j d_j m[row, j]."""
    s = d.dtype.type(0.0)
    for j in range(np.uint64(d.shape[0])):  # unsigned: no negative-index wraparound, which stops vectorisation
        s += d[j] * m[row, j]
    return s


@numba.njit(fastmath=FAST, cache=True)
def _dot4(d, m, r0, r1, r2, r3):  # pragma: no cover (compiled)
    """(Σ_j d_j m[r0, j], …, Σ_j d_j m[r3, j]): four rows per load of d."""
    s0 = s1 = s2 = s3 = d.dtype.type(0.0)
    for j in range(np.uint64(d.shape[0])):
        d_j = d[j]
        s0 += d_j * m[r0, j]
        s1 += d_j * m[r1, j]
        s2 += d_j * m[r2, j]
        s3 += d_j * m[r3, j]
    return s0, s1, s2, s3


@numba.njit(cache=True)
def _dots(d, m, index, lo, hi, offset, out, shift):  # pragma: no cover (compiled)
    """out[k − shift] = Σ_j d_j m[index[k] − offset, j] for k in [lo, hi)."""
    k = lo
    while k + 4 <= hi:
        i0, i1, i2, i3 = index[k] - offset, index[k + 1] - offset, index[k + 2] - offset, index[k + 3] - offset
        out[k - shift], out[k + 1 - shift], out[k + 2 - shift], out[k + 3 - shift] = _dot4(d, m, i0, i1, i2, i3)
        k += 4
    for q in range(k, hi):
        out[q - shift] = _dot(d, m, index[q] - offset)


@numba.njit(cache=True)
def _axpy(acc, p, row, v, d):  # pragma: no cover (compiled)
    """acc[p, row, :] += v d."""
    for j in range(np.uint64(d.shape[0])):
        acc[p, row, j] += v * d[j]


@numba.njit(cache=True)
def _row_ptr(index, m, ptr):  # pragma: no cover (compiled)
    """Row pointers ``ptr`` [R + 1] of the sorted flat ``index`` into [R, m]: row r's entries are
    index[ptr[r]:ptr[r + 1]]."""
    k = 0
    for r in range(ptr.shape[0]):
        while k < index.shape[0] and index[k] < r * m:
            k += 1
        ptr[r] = k


@numba.njit(parallel=True, cache=True)
def layer_bwd(
    gz, g_idx, g_val, a_idx, sg, x_ptr, x_col, x_val, w_t, up_idx, wr_t, z_ptr, z_col, z_val,
    g_up, up_coo, gw_t, gr_t, ptrs, ga, T, B, alpha, beta, c, tiny,
    grad_sparse, need_x, dense_up, need_w, recurrent, need_rec,
):  # fmt: skip  # pragma: no cover (compiled)
    """The backward pass of the module docstring over rows r = t·B + b of [R, ·] (R = T·B).

    ∂L/∂z is the dense flat ``gz`` [R·N] or, for ``grad_sparse``, the sorted flat indices ``g_idx`` into [R, N]
    with values ``g_val``. Events: the active set (sorted flat indices ``a_idx`` into [R, N], σ'_A ``sg``), the
    inputs (CSR ``x_ptr``, ``x_col``, ``x_val``), the upstream active set (sorted flat ``up_idx`` into [R, N_in])
    and the layer's spikes (CSR ``z_ptr``, ``z_col``, ``z_val``). ``w_t`` is Wᵀ [N_in, N], ``wr_t`` W_recᵀ [N, N].
    Outputs: ∂L/∂x into ``g_up`` (zero-filled), at the upstream entries (aligned with ``up_idx``; their
    coordinates (t, b, i) into ``up_coo`` [3, |A_in|]) or, for ``dense_up``, at every flat position of [R, N_in];
    ∇Wᵀ and ∇W_recᵀ into the zero-filled per-chunk slices ``gw_t`` [P, N_in, N] and ``gr_t`` [P, N, N]. Work space
    from the caller (so that its memory is the caller's to count): ``ptrs`` [3, R + 1] (row pointers) and ``ga``
    [|A|] (∂L/∂z at A)."""
    n_in, N = w_t.shape
    R = T * B
    P = gw_t.shape[0]
    alpha, beta, c, tiny = gz.dtype.type(alpha), gz.dtype.type(beta), gz.dtype.type(c), gz.dtype.type(tiny)
    zero = gz.dtype.type(0.0)
    a_ptr, up_ptr, g_ptr = ptrs[0], ptrs[1], ptrs[2]
    _row_ptr(a_idx, N, a_ptr)
    _row_ptr(up_idx, n_in, up_ptr)
    _row_ptr(g_idx, N, g_ptr)
    for r in numba.prange(R):  # the upstream entries' coordinates and ga = ∂L/∂z at A
        if need_x and not dense_up:
            for k in range(up_ptr[r], up_ptr[r + 1]):
                up_coo[0, k], up_coo[1, k], up_coo[2, k] = r // B, r % B, up_idx[k] - r * n_in
        q = g_ptr[r]
        for k in range(a_ptr[r], a_ptr[r + 1]):
            if not grad_sparse:
                ga[k] = gz[a_idx[k]]
                continue
            while q < g_ptr[r + 1] and g_idx[q] < a_idx[k]:
                q += 1
            ga[k] = g_val[q] if q < g_ptr[r + 1] and g_idx[q] == a_idx[k] else zero
    for p in numba.prange(P):
        a_v = np.zeros(N, gz.dtype)
        a_i = np.zeros(N, gz.dtype)  # δ_{t+1} before step t's update
        d = np.zeros(N, gz.dtype)  # δ_t
        rec = np.zeros(N, gz.dtype)  # δ_{t+1}·W_rec[:, j] at step t's active entries
        for b in range(p, B, P):
            top = -1  # the last step with an active entry
            for t in range(T - 1, -1, -1):
                if a_ptr[t * B + b + 1] > a_ptr[t * B + b]:
                    top = t
                    break
            a_v[:] = 0.0
            a_i[:] = 0.0
            for t in range(top, -1, -1):
                r = t * B + b
                lo = a_ptr[r]
                if recurrent:
                    _dots(a_i, wr_t, a_idx, lo, a_ptr[r + 1], r * N, rec, lo)
                for k in range(lo, a_ptr[r + 1]):
                    j = a_idx[k] - r * N
                    g = ga[k] + rec[k - lo] if recurrent else ga[k]
                    a_v[j] = a_v[j] + g * sg[k]
                for j in range(N):
                    g_u = a_v[j]
                    d_j = g_u * c + a_i[j] * beta
                    a_j = g_u * alpha
                    d_j = zero if abs(d_j) < tiny else d_j  # flush subnormals (slow arithmetic) to zero
                    a_j = zero if abs(a_j) < tiny else a_j
                    d[j] = d_j
                    a_v[j] = a_j
                    a_i[j] = d_j
                if need_w:
                    for k in range(x_ptr[r], x_ptr[r + 1]):
                        _axpy(gw_t, p, x_col[k], x_val[k], d)
                if need_x and dense_up:
                    for i in range(n_in):
                        g_up[r * n_in + i] = _dot(d, w_t, i)
                elif need_x:
                    _dots(d, w_t, up_idx, up_ptr[r], up_ptr[r + 1], r * n_in, g_up, 0)
                if need_rec and t > 0:
                    for k in range(z_ptr[r - B], z_ptr[r - B + 1]):
                        _axpy(gr_t, p, z_col[k], z_val[k], d)


@numba.njit(cache=True)
def _keep(u, r, j, theta, band, spikes):  # pragma: no cover (compiled)
    """Whether U[r, j] is kept: a spike (U ≥ ϑ) if ``spikes``, else active (|U − ϑ| < B_th)."""
    return u[r, j] >= theta if spikes else abs(u[r, j] - theta) < band


@numba.njit(cache=True)
def _fill_row(u, r, theta, band, lo, hi, index, value, spikes):  # pragma: no cover (compiled)
    """Row r's kept entries into index[lo:hi] (the column j for ``spikes``, else the flat index r·N + j, with
    U − ϑ into value[lo:hi])."""
    N = u.shape[1]
    busy = 4 * (hi - lo) >= N  # write every entry and advance on the kept ones: no mispredicted branches
    k = lo
    for j in range(N):
        keep = _keep(u, r, j, theta, band, spikes)
        if (busy and k < hi) or (not busy and keep):
            index[k] = j if spikes else r * N + j
            if not spikes:
                value[k] = u[r, j] - theta
        k += keep


@numba.njit(parallel=True, cache=True)
def select_count(u, theta, band, ptrs):  # pragma: no cover (compiled)
    """Row pointers of the active set |U − ϑ| < B_th (``ptrs[0]``) and of the spikes U ≥ ϑ (``ptrs[1]``) of
    U [R, N], into ``ptrs`` [2, R + 1] (zero-filled): counts per row, then their prefix sums."""
    R, N = u.shape
    theta, band = u.dtype.type(theta), u.dtype.type(band)
    for r in numba.prange(R):
        n_a = n_z = 0
        for j in range(N):
            n_a += _keep(u, r, j, theta, band, False)
            n_z += _keep(u, r, j, theta, band, True)
        ptrs[0, r + 1], ptrs[1, r + 1] = n_a, n_z
    for r in range(R):
        ptrs[0, r + 1] += ptrs[0, r]
        ptrs[1, r + 1] += ptrs[1, r]


@numba.njit(parallel=True, cache=True)
def select_fill(u, theta, band, ptrs, index, value, col):  # pragma: no cover (compiled)
    """The sorted flat indices r·N + j of the active set (``index``), U − ϑ there (``value``) and, unless ``col``
    is empty, the spikes' columns (``col``), at the row pointers of :func:`select_count`."""
    theta, band = u.dtype.type(theta), u.dtype.type(band)
    for r in numba.prange(u.shape[0]):
        _fill_row(u, r, theta, band, ptrs[0, r], ptrs[0, r + 1], index, value, False)
        if col.shape[0] > 0:
            _fill_row(u, r, theta, band, ptrs[1, r], ptrs[1, r + 1], col, value, True)
