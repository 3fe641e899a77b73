import numpy as np
import pytest

from spikegrad.data.speech import SAMPLE_RATE, available, synthesize, voice_variants


def f0(x: np.ndarray) -> float:
    """Median fundamental frequency (Hz) of the loud 40 ms frames, from the autocorrelation peak in 60-400 Hz."""
    n = int(0.04 * SAMPLE_RATE)
    frames = [x[i : i + n] - x[i : i + n].mean() for i in range(0, len(x) - n, n // 2)]
    energy = np.array([np.sum(f**2) for f in frames])
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    out = []
    for f, e in zip(frames, energy, strict=True):
        if e >= 0.3 * energy.max():
            ac = np.correlate(f, f, "full")[n - 1 :]
            out.append(SAMPLE_RATE / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(out))


def test_available_and_variants():
    assert available()
    variants = voice_variants()
    assert {"m1", "m3", "m7", "f1", "f5", "klatt"} <= set(variants)
    assert variants == sorted(variants)


def test_deterministic_and_independent_of_call_order():
    a = synthesize("seven", "en+m3", pitch=40, rate=150)
    synthesize("sieben", "de+f2", pitch=70, rate=300)  # changes espeak-ng's global state in between
    b = synthesize("seven", "en+m3", pitch=40, rate=150)
    assert a.dtype == np.float32
    assert np.array_equal(a, b)


def test_non_silent_and_in_range():
    x = synthesize("three", "en")
    assert np.abs(x).max() <= 1.0
    assert np.abs(x).max() > 0.2
    assert np.sqrt(np.mean(x**2)) > 0.02


def test_duration_plausible_and_follows_rate():
    normal = len(synthesize("seven", "en", rate=175)) / SAMPLE_RATE
    assert 0.25 < normal < 0.8  # one two-syllable word
    slow = len(synthesize("seven", "en", rate=90)) / SAMPLE_RATE
    fast = len(synthesize("seven", "en", rate=350)) / SAMPLE_RATE
    assert slow > 1.5 * normal and fast < 0.75 * normal


def test_voices_and_pitch_differ():
    male, female = synthesize("seven", "en+m3"), synthesize("seven", "en+f2")
    assert not np.array_equal(male[: min(len(male), len(female))], female[: min(len(male), len(female))])
    assert f0(female) > 1.4 * f0(male)  # ~170 Hz vs ~95 Hz
    low, high = f0(synthesize("seven", "en+m3", pitch=30)), f0(synthesize("seven", "en+m3", pitch=70))
    assert 1.3 < high / low < 2.0  # espeak scales the base pitch by 2^((pitch - 50) / 50)-ish: ~1.55
    german, english = synthesize("sieben", "de"), synthesize("sieben", "en")  # German vs English phonemes
    assert len(german) != len(english) or not np.array_equal(german, english)


def test_errors():
    with pytest.raises(ValueError, match="no voice"):
        synthesize("a", "xx-nonexistent")
    with pytest.raises(ValueError, match="variant"):
        synthesize("a", "en+nope")
    with pytest.raises(ValueError, match="pitch"):
        synthesize("a", "en", pitch=101)
    with pytest.raises(ValueError, match="rate"):
        synthesize("a", "en", rate=20)
    with pytest.raises(ValueError, match="text"):
        synthesize("  ", "en")
