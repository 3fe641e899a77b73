r"""A vectorised cochlea model: sound waveform -> spike trains in (by default) 700 frequency channels.

Built in the spirit of the Lauscher model that made the Spiking Heidelberg Datasets (Cramer et al. 2020,
IEEE TNNLS, doi:10.1109/TNNLS.2020.3044364; hydrodynamic basilar membrane, Meddis hair cell, bushy cells),
with each stage replaced by a standard textbook stage that runs as a few batched FFTs and scans in torch.
Channel ``k`` has centre frequency :math:`f_k`, **ascending** with ``k`` (Lauscher and the published SHD
files order the channels the other way: unit 0 is the cochlear base, ~20 kHz). Frequencies in Hz; the time
constants in :class:`CochleaParams` in ms (the package convention); returned spike times in **s**, as in
the SHD files.

**1. Basilar membrane: gammatone filterbank.** Centre frequencies are equally spaced on the ERB-number
scale of Glasberg & Moore (1990, Hear. Res. 47:103),

.. math::

    \mathrm{ERB}(f) = 24.7\,(4.37 f/1000 + 1), \qquad E(f) = 21.4 \log_{10}(4.37 f / 1000 + 1),
    \qquad f_k = E^{-1}\!\Big(E(f_\min) + \tfrac{k}{K-1}\big(E(f_\max) - E(f_\min)\big)\Big).

Channel ``k`` is an order-:math:`n` gammatone filter (Patterson et al. 1992; Holdsworth et al. 1988) with
bandwidth :math:`b_k = \beta\,\mathrm{ERB}(f_k)` (:math:`n = 4`, :math:`\beta = 1.019`),

.. math::

    g_k(t) \propto t^{n-1} e^{-2\pi b_k t} \cos(2\pi f_k t), \qquad
    H_k(f) = \Big(1 + i\,\tfrac{f - f_k}{b_k}\Big)^{-n} + \Big(1 + i\,\tfrac{f + f_k}{b_k}\Big)^{-n},

normalised to gain ≈ 1 at :math:`f_k`. The code multiplies the DFT of the zero-padded waveform by
:math:`H_k` on the DFT grid, :math:`y_k = \mathrm{IDFT}(H_k X)` (a circular convolution; the padding of at
least ``pad`` ms makes wrap-around negligible). A pure tone at :math:`f_k` gives :math:`y_k` of the tone's
amplitude.

**2. Inner hair cell: rectification, compression, low-pass, adaptation.** At the audio rate
(:math:`\Delta t = 1/f_s`)

.. math::

    h = \max(y, 0)^{\nu}, \qquad \tilde h = L * h, \qquad a = (w_f A_f + w_s A_s) * \tilde h,

where :math:`L` is two cascaded first-order low-passes at :math:`f_\mathrm{ihc}`
(:math:`x_j \leftarrow \gamma x_{j-1} + (1-\gamma) x_j`, :math:`\gamma = e^{-2\pi f_\mathrm{ihc}\Delta t}`),
which removes the fine structure above ~1 kHz as the hair-cell membrane does, and :math:`A_i` are
first-order low-passes with time constants :math:`\tau_f, \tau_s` (:math:`\alpha_i = e^{-\Delta t/\tau_i}`):
fast and short-term adaptation (Westerman & Smith 1984). All three are linear and time-invariant, so the code
applies their transfer functions to the DFT of :math:`h`, e.g. :math:`L(\omega) = [(1-\gamma)/(1 - \gamma
e^{-i\omega})]^2`, and keeps only the lowest bins of the spectrum: an ideal resampling to a rate of at least
``rate_out`` Hz (4 kHz; the low-pass has already removed what lies above its Nyquist frequency). The
adapted drive and the firing rate of the auditory-nerve / bushy-cell unit are then

.. math::

    g = \frac{\tilde h}{h_0 + a}, \qquad
    \lambda = \lambda_\mathrm{sp} + \lambda_\max \frac{g^p}{1 + g^p},

a divisive adaptation in the spirit of the adaptation loops of Dau et al. (1996, JASA 99:3615): a sound
onset (:math:`a \approx 0`) drives the unit up to :math:`\lambda_\max`, a sustained loud sound settles at
about :math:`\lambda_\max / (1 + (w_f + w_s)^p)`, and :math:`h_0` acts as a soft threshold (rate
:math:`\propto (\tilde h/h_0)^p` below it), so louder sounds excite more channels and more spikes. The
defaults are calibrated for speech at an RMS of about 0.1 (-20 dB re full scale): a spoken word of 0.4-0.5 s
then gives about 3000-5000 spikes over the 700 channels, the order of the SHD files.

**3. Spike generation: time-rescaled renewal process with dead time.** With
:math:`\Lambda(t) = \int_0^t \lambda\,\mathrm d s` (cumulative sum, :math:`\lambda` constant within a
resampled sample), a stationary renewal process of unit rate in :math:`\Lambda`-space is drawn per channel:
intervals :math:`\xi \sim \mathrm{Gamma}(\kappa, 1/\kappa)` (unit mean, CV :math:`1/\sqrt\kappa`) and a first
event at :math:`U\,\xi_0`, :math:`U \sim \mathcal U(0, 1)`, :math:`\xi_0 \sim \mathrm{Gamma}(\kappa + 1,
1/\kappa)` (the equilibrium forward-recurrence time, so there is no artificial synchrony at t = 0). The
spike times are :math:`t_m = \Lambda^{-1}(u_m)` (time-rescaling theorem, Brown et al. 2002, Neural Comput.
14:325), found by ``searchsorted`` and linear interpolation within the sample, and a spike closer than
:math:`t_\mathrm{ref}` to the previous *kept* spike of its channel is deleted (absolute refractoriness, as
the 1 ms dead time of Lauscher's bushy cells). Silence (:math:`\lambda = \lambda_\mathrm{sp} = 0`) gives no
spikes.

:func:`cochlea_lauscher` runs the original Lauscher chain instead (slow, pure Python loops; needs the optional
``lauscher`` package).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch


class CochleaParams(NamedTuple):
    """Parameters of the cochlea model (module docstring). Frequencies and rates in Hz, times in ms."""

    n_channels: int = 700  # K, number of channels (SHD: 700)
    f_min: float = 50.0  # Hz, centre frequency of channel 0
    f_max: float = 8000.0  # Hz, centre frequency of channel K - 1
    order: int = 4  # n, gammatone order
    bandwidth: float = 1.019  # β, gammatone bandwidth in ERBs
    pad: float = 250.0  # ms of zeros appended before the FFTs (≥ ~5 τ_s keeps wrap-around below 1 %)
    compression: float = 0.5  # ν, exponent of the hair-cell power law
    f_ihc: float = 1000.0  # Hz, corner of the hair-cell low-pass (two first-order stages)
    rate_out: float = 4000.0  # Hz, least sample rate after the hair cell
    tau_fast: float = 5.0  # ms, τ_f, fast adaptation
    tau_slow: float = 50.0  # ms, τ_s, short-term adaptation
    w_fast: float = 1.0  # w_f
    w_slow: float = 1.0  # w_s
    h0: float = 0.15  # h_0, soft threshold in units of the compressed basilar-membrane output
    p: float = 2.0  # exponent of the rate nonlinearity
    rate_max: float = 400.0  # Hz, λ_max
    rate_spont: float = 0.0  # Hz, λ_sp
    regularity: float = 2.0  # κ, gamma shape of the renewal intervals (1 = Poisson)
    t_ref: float = 1.0  # ms, absolute refractory period
    chunk: int = 100  # channels processed at once (memory ~ 8 · chunk · padded length bytes)
    model: str = "fast"  # "fast": this module's model; "lauscher": the reference chain (slow, optional package)


# ---------------------------------------------------------------------------------------- frequency scale


def erb(f):
    """Equivalent rectangular bandwidth (Hz) at frequency ``f`` (Hz), Glasberg & Moore (1990)."""
    return 24.7 * (4.37 * np.asarray(f, dtype=np.float64) / 1000.0 + 1.0)


def erb_rate(f):
    """ERB-number E(f) (Cams) of frequency ``f`` (Hz)."""
    return 21.4 * np.log10(4.37 * np.asarray(f, dtype=np.float64) / 1000.0 + 1.0)


def erb_rate_inv(e):
    """Frequency (Hz) of ERB-number ``e``; inverse of :func:`erb_rate`."""
    return (10.0 ** (np.asarray(e, dtype=np.float64) / 21.4) - 1.0) * 1000.0 / 4.37


def centre_frequencies(params: CochleaParams | None = None) -> np.ndarray:
    """Centre frequencies f_k (Hz, float64, ascending) of the channels, equally spaced in ERB-number."""
    p = params or CochleaParams()
    if not 0 < p.f_min < p.f_max:
        raise ValueError(f"need 0 < f_min < f_max, got {p.f_min} and {p.f_max}")
    return erb_rate_inv(np.linspace(erb_rate(p.f_min), erb_rate(p.f_max), p.n_channels))


# ---------------------------------------------------------------------------------------- transfer functions


def gammatone_response(freqs, params: CochleaParams | None = None, channels=None) -> torch.Tensor:
    """Transfer functions H_k(f) (module docstring) at ``freqs`` (Hz): complex64 ``[len(channels), len(freqs)]``.

    ``channels`` (indices) defaults to all channels; ``freqs`` may be a tensor, whose device is used.
    """
    p = params or CochleaParams()
    f = torch.as_tensor(freqs, dtype=torch.float32)
    cf_all = centre_frequencies(p)
    cf_np = cf_all if channels is None else cf_all[np.asarray(channels)]
    cf = torch.as_tensor(cf_np, dtype=torch.float32, device=f.device)[:, None]
    bw = torch.as_tensor(p.bandwidth * erb(cf_np), dtype=torch.float32, device=f.device)[:, None]

    def term(u: torch.Tensor) -> torch.Tensor:  # (1 + iu)^(-n) via real arithmetic: 1/(1+iu) = (1-iu)/(1+u²)
        d = 1.0 / (1.0 + u * u)
        z = torch.complex(d, -u * d)
        out = z
        for _ in range(p.order - 1):
            out = out * z
        return out

    return term((f - cf) / bw) + term((f + cf) / bw)


def _first_order(alpha: float, n_fft: int, n_bins: int, device) -> torch.Tensor:
    """Transfer function (1 - α) / (1 - α e^{-iω}) of x_j ← α x_{j-1} + (1 - α) x_j on the first ``n_bins``
    bins of an ``n_fft``-point DFT (complex64)."""
    w = 2 * math.pi * torch.arange(n_bins, dtype=torch.float64, device=device) / n_fft
    z = torch.complex(1.0 - alpha * torch.cos(w), alpha * torch.sin(w))
    return ((1.0 - alpha) / z).to(torch.complex64)


def _filterbank(params: CochleaParams, n_fft: int, sample_rate: float, device) -> torch.Tensor:
    """H_k on the rfft grid of an ``n_fft``-point DFT, ``[K, n_fft // 2 + 1]``, cached (it costs more than
    the filtering itself; the datasets pad every utterance to one length, so one entry serves them all)."""
    key = (params.n_channels, params.f_min, params.f_max, params.order, params.bandwidth)
    return _filterbank_cached(key, int(n_fft), float(sample_rate), str(device))


@functools.lru_cache(maxsize=2)
def _filterbank_cached(key: tuple, n_fft: int, sample_rate: float, device: str) -> torch.Tensor:
    n_channels, f_min, f_max, order, bandwidth = key
    p = CochleaParams(n_channels=n_channels, f_min=f_min, f_max=f_max, order=order, bandwidth=bandwidth)
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sample_rate, device=device)
    return gammatone_response(freqs, p)


def _smooth_size(n: int, min_twos: int) -> int:
    """Smallest 2^a 3^b 5^c >= n with a >= min_twos (FFT sizes with a few factors 2 are the fast ones)."""
    best = None
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            size = p35 << min_twos
            while size < n:
                size *= 2
            best = size if best is None else min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def _plan(n: int, sample_rate: float, p: CochleaParams) -> tuple[int, int, int]:
    """(n_fft, n_dec, n_out): padded FFT length at the audio rate, length of the resampled hair-cell signal
    (rate sample_rate * n_dec / n_fft >= rate_out) and the number of its samples that cover the wave."""
    n_fft = _smooth_size(n + int(math.ceil(p.pad * 1e-3 * sample_rate)), 5)
    n_dec = min(n_fft, _smooth_size(int(math.ceil(n_fft * p.rate_out / sample_rate)), 1))
    return n_fft, n_dec, int(math.ceil(n * n_dec / n_fft))


def _as_wave(wave, device) -> torch.Tensor:
    x = torch.as_tensor(wave)
    if x.ndim != 1:
        raise ValueError(f"wave must be one-dimensional (mono), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"wave must hold floats (full scale ±1), got dtype {x.dtype}")
    if device is not None:
        x = x.to(device)
    return x.to(torch.float32)


# ---------------------------------------------------------------------------------------- stages


def basilar_membrane(
    wave, sample_rate: float, params: CochleaParams | None = None, channels=None, device=None
) -> torch.Tensor:
    """Basilar-membrane output y_k(t) ``[K, n]`` (float32) at the audio rate (module docstring, stage 1).

    Costs K·n floats of memory; for plots prefer :func:`filterbank_envelope`. ``channels`` selects a subset.
    """
    p = params or CochleaParams()
    x = _as_wave(wave, device)
    n = x.shape[0]
    n_fft, _, _ = _plan(n, sample_rate, p)
    X = torch.fft.rfft(x, n=n_fft)
    H = _filterbank(p, n_fft, sample_rate, x.device)
    if channels is not None:
        H = H[torch.as_tensor(np.asarray(channels), device=x.device)]
    out = [torch.fft.irfft(H[s : s + p.chunk] * X, n=n_fft)[:, :n] for s in range(0, H.shape[0], p.chunk)]
    return torch.cat(out) if out else torch.zeros(0, n, device=x.device)


def filterbank_envelope(
    wave, sample_rate: float, params: CochleaParams | None = None, hop: float = 10.0, db: bool = True, device=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cochleagram for plots: RMS of y_k in frames of ``hop`` ms, ``[K, n_frames]`` (in dB re full scale
    with ``db``, floored at -120 dB), with the frame centre times (s) and the centre frequencies (Hz)."""
    p = params or CochleaParams()
    x = _as_wave(wave, device)
    n = x.shape[0]
    step = max(1, int(round(hop * 1e-3 * sample_rate)))
    n_frames = -(-n // step)
    n_fft, _, _ = _plan(n_frames * step, sample_rate, p)
    X = torch.fft.rfft(x, n=n_fft)
    H = _filterbank(p, n_fft, sample_rate, x.device)
    env = []
    for s in range(0, H.shape[0], p.chunk):
        y = torch.fft.irfft(H[s : s + p.chunk] * X, n=n_fft)[:, : n_frames * step]
        env.append(y.pow(2).reshape(y.shape[0], n_frames, step).mean(-1).sqrt())
    e = torch.cat(env).cpu().numpy().astype(np.float64)
    if db:
        e = 20.0 * np.log10(np.maximum(e, 1e-6))
    times = (np.arange(n_frames) + 0.5) * step / sample_rate
    return e, times, centre_frequencies(p)


def firing_rate(
    wave, sample_rate: float, params: CochleaParams | None = None, device=None
) -> tuple[torch.Tensor, float]:
    """Instantaneous firing rate λ_k(t) (Hz) ``[K, m]`` after the hair cell (module docstring, stages 1-2),
    sampled every ``dt`` s (returned; ``dt <= 1 / rate_out``), covering the ``n`` samples of the wave."""
    p = params or CochleaParams()
    x = _as_wave(wave, device)
    n = x.shape[0]
    n_fft, n_dec, m = _plan(n, sample_rate, p)
    n_bins = n_dec // 2 + 1
    dt = 1.0 / sample_rate
    X = torch.fft.rfft(x, n=n_fft)
    H = _filterbank(p, n_fft, sample_rate, x.device)
    lowpass = _first_order(math.exp(-2 * math.pi * p.f_ihc * dt), n_fft, n_bins, x.device) ** 2
    adapt = p.w_fast * _first_order(math.exp(-dt / (p.tau_fast * 1e-3)), n_fft, n_bins, x.device)
    adapt = adapt + p.w_slow * _first_order(math.exp(-dt / (p.tau_slow * 1e-3)), n_fft, n_bins, x.device)
    scale = n_dec / n_fft  # irfft of the truncated spectrum on n_dec points keeps amplitudes with this factor
    k_h, k_a = lowpass * scale, lowpass * adapt * scale
    out = []
    for s in range(0, H.shape[0], p.chunk):
        y = torch.fft.irfft(H[s : s + p.chunk] * X, n=n_fft)
        h = y.clamp_min_(0.0)
        h = h.sqrt_() if p.compression == 0.5 else h.pow_(p.compression)
        Hh = torch.fft.rfft(h, n=n_fft)[:, :n_bins]
        h_lp = torch.fft.irfft(Hh * k_h, n=n_dec)[:, :m].clamp_min_(0.0)
        a = torch.fft.irfft(Hh * k_a, n=n_dec)[:, :m].clamp_min_(0.0)
        g = (h_lp / (p.h0 + a)).pow_(p.p)
        out.append(p.rate_spont + p.rate_max * g / (1.0 + g))
    rate = torch.cat(out) if out else torch.zeros(0, m, device=x.device)
    return rate, n_fft / (n_dec * sample_rate)


def spikes_from_rate(
    rate: torch.Tensor, dt: float, params: CochleaParams | None = None, seed=0, duration: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s, float64) and channel ids (int64) from rates λ ``[K, m]`` (Hz) sampled every ``dt`` s
    (module docstring, stage 3), sorted by time (ties by channel). Spikes at t ≥ ``duration`` (s; default
    m·dt) are dropped. ``seed`` (int or sequence) seeds a numpy Generator; the result does not depend on the
    device of ``rate``."""
    p = params or CochleaParams()
    if p.regularity <= 0:
        raise ValueError(f"regularity (gamma shape) must be positive, got {p.regularity}")
    rate = torch.as_tensor(rate)
    if rate.ndim != 2:
        raise ValueError(f"rate must be [channels, samples], got shape {tuple(rate.shape)}")
    n_ch, m = rate.shape
    duration = m * dt if duration is None else float(duration)
    if n_ch == 0 or m == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    dev = rate.device
    lam = rate.to(torch.float64).clamp_min(0.0) * dt  # expected spikes per sample
    cum = torch.cumsum(lam, dim=1)  # Λ at the end of each sample
    total = cum[:, -1]
    rng = np.random.default_rng(seed)
    kappa = float(p.regularity)
    most = float(total.max())
    n_draw = int(math.ceil(most + 6.0 * math.sqrt(most / kappa + 1.0) + 4.0))
    first = rng.uniform(size=(n_ch, 1)) * rng.gamma(kappa + 1.0, 1.0 / kappa, size=(n_ch, 1))
    u = np.cumsum(np.concatenate([first, rng.gamma(kappa, 1.0 / kappa, size=(n_ch, n_draw - 1))], 1), 1)
    while np.any(u[:, -1] <= total.cpu().numpy()):  # rare: extend the channels that ran out of events
        more = np.cumsum(rng.gamma(kappa, 1.0 / kappa, size=(n_ch, n_draw)), 1) + u[:, -1:]
        u = np.concatenate([u, more], 1)
    u_t = torch.as_tensor(u, device=dev)
    valid = u_t <= total[:, None]
    n_max = int(valid.sum(1).max())
    u_t, valid = u_t[:, :n_max].contiguous(), valid[:, :n_max]
    idx = torch.searchsorted(cum, u_t).clamp_(max=m - 1)  # sample in which Λ reaches u
    before = torch.where(idx > 0, torch.gather(cum, 1, (idx - 1).clamp_min(0)), torch.zeros_like(u_t))
    step = torch.gather(lam, 1, idx).clamp_min(1e-300)
    t = (idx.to(torch.float64) + ((u_t - before) / step).clamp(0.0, 1.0)) * dt
    t = torch.where(valid & (t < duration), t, torch.full_like(t, math.inf))
    keep = torch.zeros_like(valid)
    if p.t_ref > 0:
        t_ref = p.t_ref * 1e-3
        last = torch.full((n_ch,), -math.inf, dtype=torch.float64, device=dev)
        for k in range(n_max):  # dead time: compare with the last *kept* spike of the channel
            ok = torch.isfinite(t[:, k]) & (t[:, k] - last >= t_ref)
            keep[:, k] = ok
            last = torch.where(ok, t[:, k], last)
    else:
        keep = torch.isfinite(t)
    ch = torch.arange(n_ch, device=dev)[:, None].expand_as(t)
    times, units = t[keep].cpu().numpy(), ch[keep].cpu().numpy().astype(np.int64)
    order = np.lexsort((units, times))
    return times[order], units[order]


def cochlea(
    wave, sample_rate: float, params: CochleaParams | None = None, seed=0, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s, float64, sorted) and channel ids (int64) of the cochlea model for a mono ``wave``
    (float, full scale ±1; numpy or torch, computed on the tensor's device or ``device``).

    No level normalisation happens here: scale the wave first (the spoken datasets normalise the RMS).
    Deterministic given ``seed``. All spikes lie in [0, len(wave) / sample_rate). With ``params.model ==
    "lauscher"`` the reference chain :func:`cochlea_lauscher` runs instead (high fidelity, minutes per word).
    """
    p = params or CochleaParams()
    if p.model == "lauscher":
        wave = wave.cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
        return cochlea_lauscher(
            wave, int(sample_rate), p.n_channels, seed=int(np.random.default_rng(seed).integers(2**31))
        )
    if p.model != "fast":
        raise ValueError(f"CochleaParams.model must be 'fast' or 'lauscher', got {p.model!r}")
    rate, dt = firing_rate(wave, sample_rate, p, device=device)
    return spikes_from_rate(rate, dt, p, seed=seed, duration=len(wave) / sample_rate)


# ---------------------------------------------------------------------------------------- Lauscher


def lauscher_available() -> bool:
    """Whether the optional ``lauscher`` package (the reference implementation) can be imported."""
    try:
        import lauscher.transformations  # noqa: F401
    except ImportError:
        return False
    return True


def lauscher_centre_frequencies(n_channels: int = 700, f_lo: float = 20.0, f_hi: float = 20000.0) -> np.ndarray:
    """Characteristic frequency (Hz) of each channel of Lauscher's basilar membrane with ``n_channels``
    channels: the peak of its velocity transfer function, searched on a log grid in [f_lo, f_hi] (descending
    with the channel index; e.g. ~1 kHz at channel 401 of 700). Needs ``lauscher``."""
    from lauscher.transformations import BasilarMembrane

    bm = BasilarMembrane(channels=n_channels)
    grid = np.geomspace(f_lo, f_hi, 1200)
    with np.errstate(all="ignore"):
        return np.array([grid[np.nanargmax(np.abs(bm._v(2 * np.pi * grid, c)))] for c in bm.ch])


def cochlea_lauscher(
    wave, sample_rate: int, n_channels: int = 700, seed: int = 0, rms: float | None = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """The original Lauscher chain (``lauscher`` 1.0.1: RMS normalisation to ``rms``, Hanning window,
    hydrodynamic basilar membrane, Meddis hair cell, bushy cells) as spike times (s) and channel ids.

    High fidelity but slow (pure Python loops over samples: about 80 s per second of audio and 100 channels
    on 2 cores; its bushy-cell stage holds n_channels x samples/2 x 40 float64, 2.5 GB for 700 channels and
    1 s at 22.05 kHz). Lauscher's channel 0 is the cochlear
    base (~20 kHz), unlike :func:`cochlea`. Its global numpy random state is seeded with ``seed`` and
    restored afterwards. Raises ImportError with instructions when ``lauscher`` is not installed.
    """
    try:
        from lauscher.audiowaves import MonoAudioWave
        from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer
    except ImportError as err:
        raise ImportError(
            "cochlea_lauscher needs the optional package 'lauscher' (pip install lauscher==1.0.1; it depends on "
            "numpy, scipy, numba, soundfile and matplotlib)"
        ) from err
    x = np.array(torch.as_tensor(wave).cpu().numpy(), dtype=np.float64)
    audio = MonoAudioWave(x, int(sample_rate))
    if rms is not None:
        audio = audio.transform(RmsNormalizer(rms))
    # lauscher draws from numpy's legacy global generator: seed it, and put the caller's state back afterwards
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002
        spikes = (
            audio.transform(HanningWindow())
            .transform(BasilarMembrane(channels=n_channels))
            .transform(HairCell())
            .transform(BushyCell())
        )
    finally:
        np.random.set_state(state)  # noqa: NPY002
    times = np.asarray(spikes.spike_times, dtype=np.float64)
    units = np.asarray(spikes.spike_labels, dtype=np.int64)
    order = np.lexsort((units, times))
    return times[order], units[order]


__all__ = (
    "CochleaParams",
    "basilar_membrane",
    "centre_frequencies",
    "cochlea",
    "cochlea_lauscher",
    "erb",
    "erb_rate",
    "erb_rate_inv",
    "filterbank_envelope",
    "firing_rate",
    "gammatone_response",
    "lauscher_available",
    "lauscher_centre_frequencies",
    "spikes_from_rate",
)
