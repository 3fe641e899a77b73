import math

import numpy as np
import pytest
import torch

from spikegrad.data.cochlea import (
    CochleaParams,
    _first_order,
    basilar_membrane,
    centre_frequencies,
    cochlea,
    cochlea_lauscher,
    erb,
    erb_rate,
    erb_rate_inv,
    filterbank_envelope,
    firing_rate,
    gammatone_response,
    lauscher_available,
    lauscher_centre_frequencies,
    spikes_from_rate,
)

FS = 22050
DUR = 0.5  # s; one length for all tones, so the cached filterbank is reused


def tone(f: float, amp: float, dur: float = DUR, fs: int = FS) -> np.ndarray:
    t = np.arange(int(dur * fs)) / fs
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms on/off ramps
    return (amp * np.sin(2 * np.pi * f * t) * ramp).astype(np.float32)


def test_erb_scale_golden():
    assert erb(1000.0) == pytest.approx(24.7 * 5.37)  # 132.639 Hz
    assert erb_rate(1000.0) == pytest.approx(21.4 * math.log10(5.37))  # 15.62 Cams
    f = np.array([50.0, 440.0, 8000.0])
    assert np.allclose(erb_rate_inv(erb_rate(f)), f)


def test_centre_frequencies_monotone_and_erb_spaced():
    cf = centre_frequencies()
    assert cf.shape == (700,)
    assert cf[0] == pytest.approx(50.0) and cf[-1] == pytest.approx(8000.0)
    assert np.all(np.diff(cf) > 0)
    steps = np.diff(erb_rate(cf))
    assert np.allclose(steps, (erb_rate(8000.0) - erb_rate(50.0)) / 699, rtol=1e-9)
    # ~0.045 ERB apart: neighbouring filters overlap heavily, as in SHD
    assert steps[0] == pytest.approx(0.0450, abs=1e-3)


def test_gammatone_gain_and_bandwidth():
    p = CochleaParams()
    k = int(np.argmin(np.abs(centre_frequencies(p) - 1000.0)))
    fk = centre_frequencies(p)[k]
    b = p.bandwidth * erb(fk)
    half = b * math.sqrt(2 ** (1 / p.order) - 1)  # |H| = 1/sqrt(2) at f_k ± b sqrt(2^(1/n) - 1)
    H = gammatone_response(np.array([fk, fk - half, fk + half, fk + 10 * b]), p, channels=[k])[0].abs()
    assert H[0] == pytest.approx(1.0, abs=2e-3)
    assert H[1] == pytest.approx(2**-0.5, abs=2e-3) and H[2] == pytest.approx(2**-0.5, abs=2e-3)
    assert H[3] == pytest.approx(101.0**-2, rel=0.05)  # (1 + 10²)^(-n/2), n = 4


def test_first_order_transfer_matches_recursion():
    # x_j <- a x_{j-1} + (1 - a) x_j has impulse response (1 - a) a^j: compare with the DFT transfer function
    a, n = 0.9, 256
    h = torch.fft.irfft(_first_order(a, n, n // 2 + 1, "cpu"), n=n)
    x, want = 0.0, []
    for j in range(n):
        x = a * x + (1 - a) * (1.0 if j == 0 else 0.0)
        want.append(x)
    assert torch.allclose(h.double(), torch.tensor(want, dtype=torch.float64) / (1 - a**n), atol=1e-6)


def test_basilar_membrane_tone_at_cf_has_unit_gain():
    cf = centre_frequencies()
    k = 300
    y = basilar_membrane(tone(cf[k], 0.1), FS, channels=[k - 100, k, k + 100])
    rms = y[:, int(0.1 * FS) : int(0.4 * FS)].pow(2).mean(1).sqrt()
    assert float(rms[1]) == pytest.approx(0.1 / math.sqrt(2), rel=0.01)
    assert float(rms[0]) < 0.05 * float(rms[1]) and float(rms[2]) < 0.05 * float(rms[1])


@pytest.mark.parametrize("f", [250.0, 500.0, 1000.0, 2000.0, 4000.0])
def test_tone_excites_channels_near_its_frequency(f):
    cf = centre_frequencies()
    times, units = cochlea(tone(f, 0.05), FS, seed=1)
    counts = np.bincount(units, minlength=700).astype(float)
    smooth = np.convolve(counts, np.ones(9) / 9, mode="same")
    best = cf[int(np.argmax(smooth))]
    assert abs(best / f - 1) < 0.10
    near = np.abs(erb_rate(cf) - erb_rate(f)) < 3.0  # within 3 ERB of the tone
    assert counts[near].sum() > 0.8 * counts.sum()
    rate, _ = firing_rate(tone(f, 0.05), FS)
    assert abs(cf[int(rate.mean(1).argmax())] / f - 1) < 0.05


def test_silence_and_level():
    assert len(cochlea(np.zeros(int(DUR * FS), np.float32), FS)[0]) == 0
    assert len(cochlea(tone(1000.0, 1e-5), FS)[0]) < 20  # -100 dB re full scale: (almost) nothing
    counts = [len(cochlea(tone(1000.0, amp), FS, seed=0)[0]) for amp in (0.005, 0.02, 0.08, 0.3)]
    assert counts[0] > 0 and all(b > 1.2 * a for a, b in zip(counts, counts[1:], strict=False))


def test_output_format_and_determinism():
    x = tone(700.0, 0.1) + tone(3000.0, 0.05)
    times, units = cochlea(x, FS, seed=3)
    assert times.dtype == np.float64 and units.dtype == np.int64
    assert len(times) == len(units) > 100
    assert np.all((units >= 0) & (units < 700))
    assert times.min() >= 0 and times.max() < len(x) / FS
    assert np.all(np.diff(times) >= 0)
    again = cochlea(torch.from_numpy(x), FS, seed=3)  # torch input, same result
    assert np.array_equal(times, again[0]) and np.array_equal(units, again[1])
    other = cochlea(x, FS, seed=4)
    assert not (len(other[0]) == len(times) and np.array_equal(other[0], times))


def test_refractoriness_and_onset():
    p = CochleaParams()
    times, units = cochlea(tone(1000.0, 0.2), FS, p, seed=0)
    order = np.lexsort((times, units))  # by channel, then time
    same = np.diff(units[order]) == 0
    assert same.sum() > 100
    assert np.diff(times[order])[same].min() >= p.t_ref * 1e-3 - 1e-12
    # adaptation: the most excited channel fires faster just after the onset ramp than later (~1.8x)
    rate, dt = firing_rate(tone(1000.0, 0.2), FS, p)
    k = int(rate.mean(1).argmax())
    early, late = rate[k, int(0.01 / dt) : int(0.03 / dt)].mean(), rate[k, int(0.3 / dt) : int(0.4 / dt)].mean()
    assert early > 1.4 * late


def test_renewal_statistics():
    # constant rate: Poisson (κ = 1) counts have mean λT and Fano factor 1; Erlang κ = 4 gives Fano ≈ 1/4
    dt, m, lam = 1e-3, 2000, 40.0
    rate = torch.full((2000, m), lam, dtype=torch.float64)
    for kappa, fano in ((1.0, 1.0), (4.0, 0.25)):
        p = CochleaParams(regularity=kappa, t_ref=0.0)
        _, units = spikes_from_rate(rate, dt, p, seed=7)
        counts = np.bincount(units, minlength=2000)
        assert counts.mean() == pytest.approx(lam * m * dt, rel=0.02)
        assert counts.var() / counts.mean() == pytest.approx(fano, rel=0.15)


def test_firing_rate_grid_and_bounds():
    p = CochleaParams()
    rate, dt = firing_rate(tone(1000.0, 0.3), FS, p)
    assert rate.shape[0] == 700 and dt <= 1 / p.rate_out
    assert rate.shape[1] * dt == pytest.approx(DUR, abs=dt)
    assert float(rate.min()) >= 0 and float(rate.max()) <= p.rate_max + p.rate_spont


def test_filterbank_envelope():
    env, t, cf = filterbank_envelope(tone(2000.0, 0.1), FS, hop=10.0)
    assert env.shape == (700, len(t)) and len(t) == math.ceil(DUR * FS / 220)  # 220-sample frames
    assert abs(cf[int(np.argmax(env[:, 25]))] / 2000.0 - 1) < 0.03
    assert env[:, 25].max() == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    x = tone(1000.0, 0.1) + tone(300.0, 0.05)
    t_cpu, u_cpu = cochlea(x, FS, seed=2)
    t_gpu, u_gpu = cochlea(torch.from_numpy(x).cuda(), FS, seed=2)
    assert abs(len(t_gpu) - len(t_cpu)) <= 0.01 * len(t_cpu)
    assert np.bincount(u_gpu, minlength=700).argmax() == pytest.approx(
        np.bincount(u_cpu, minlength=700).argmax(), abs=5
    )


@pytest.mark.skipif(not lauscher_available(), reason="optional package lauscher not installed")
def test_rate_profile_correlates_with_lauscher():
    """Spikes per frequency band of our model vs Lauscher (40 channels, its reference chain) on two words."""
    from spikegrad.data.speech import SAMPLE_RATE, synthesize

    n_l = 40
    cf_l = lauscher_centre_frequencies(n_l)  # descending
    log_cf = np.log(cf_l)
    edges = np.exp(np.concatenate([[np.inf], (log_cf[1:] + log_cf[:-1]) / 2, [-np.inf]]))
    cf = centre_frequencies()
    inside = (cf_l > 60.0) & (cf_l < 7500.0)  # bands our 50 Hz-8 kHz filterbank covers
    for word, voice in (("seven", "en+m3"), ("drei", "de+f4")):
        x = synthesize(word, voice)
        x = x * np.float32(0.1 / np.sqrt(np.mean(x**2)))
        _, units_l = cochlea_lauscher(x, SAMPLE_RATE, n_channels=n_l, seed=0)
        _, units = cochlea(x, SAMPLE_RATE, seed=0)
        ours_per_channel = np.bincount(units, minlength=700)
        bands = np.flatnonzero(inside)
        ours = np.array([ours_per_channel[(cf < edges[j]) & (cf >= edges[j + 1])].mean() for j in bands])
        theirs = np.bincount(units_l, minlength=n_l)[bands]
        r = np.corrcoef(ours, theirs)[0, 1]
        print(f"{word} ({voice}): {len(units)} spikes (700 ch), Lauscher {len(units_l)} ({n_l} ch), r = {r:.3f}")
        assert r > 0.5, f"{word}: Pearson r = {r:.2f}"


@pytest.mark.skipif(not lauscher_available(), reason="optional package lauscher not installed")
def test_lauscher_model_option_runs_the_reference_chain():
    x = np.sin(2 * np.pi * 1000.0 * np.arange(int(0.05 * FS)) / FS).astype(np.float32) * 0.1
    params = CochleaParams(n_channels=10, model="lauscher")
    t, u = cochlea(x, FS, params, seed=[3, 4])
    t_ref, u_ref = cochlea_lauscher(x, FS, n_channels=10, seed=int(np.random.default_rng([3, 4]).integers(2**31)))
    assert np.array_equal(t, t_ref) and np.array_equal(u, u_ref) and len(u) > 0
    with pytest.raises(ValueError, match="model must be"):
        cochlea(x, FS, CochleaParams(model="exact"))
