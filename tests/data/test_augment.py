import numpy as np
import pytest

from spikegrad.data.augment import (
    DELAYS_MS,
    Transform,
    apply,
    bin_time,
    blend,
    crop_time,
    delay_line,
    is_random,
    resolve,
    shift_channels,
    transform_key,
)
from spikegrad.data.spikedata import SpikeData

F = np.float32


def small() -> SpikeData:
    """Two samples over four channels, 4 ms long.

    sample 0 (class 0): (t, u) = (0.0, 0), (0.4, 1), (1.2, 1), (2.5, 2)
    sample 1 (class 1): (0.5, 0), (3.0, 3), (3.9, 1)
    """
    return SpikeData(
        times=np.array([0.0, 0.4, 1.2, 2.5, 0.5, 3.0, 3.9], dtype=F),
        units=np.array([0, 1, 1, 2, 0, 3, 1]),
        offsets=np.array([0, 4, 7]),
        labels=np.array([0, 1]),
        n_units=4,
        n_classes=2,
        duration=4.0,
        name="small",
        meta={"seed": 1},
    )


def events(d: SpikeData, k: int) -> list[tuple[float, int]]:
    s = slice(d.offsets[k], d.offsets[k + 1])
    return list(zip(d.times[s].tolist(), d.units[s].tolist(), strict=True))


def snapshot(d: SpikeData):
    return [getattr(d, f).copy() for f in ("times", "units", "offsets", "labels")], dict(d.meta)


def unchanged(d: SpikeData, snap) -> bool:
    arrays, meta = snap
    now = [getattr(d, f) for f in ("times", "units", "offsets", "labels")]
    return all(np.array_equal(a, b) for a, b in zip(arrays, now, strict=True)) and d.meta == meta


def random_data(n=200, per=200, n_units=700, n_classes=4, seed=0) -> SpikeData:
    """Events in channels [300, 400) and times [400, 600) ms of 1000 ms: blending never pushes them out."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(per // 2, per + per // 2, size=n)
    sample = np.repeat(np.arange(n), counts)
    times = rng.uniform(400, 600, size=len(sample))
    units = rng.integers(300, 400, size=len(sample))
    return SpikeData.from_events(sample, times, units, rng.integers(0, n_classes, n), n_units, n_classes, 1000.0)


# ------------------------------------------------------------------ crop, bin


def test_crop_time_exact():
    d = small()
    snap = snapshot(d)
    c = crop_time(d, 2.5)
    assert c.duration == 2.5 and c.offsets.tolist() == [0, 3, 4]
    assert events(c, 0) == [(0.0, 0), (F(0.4).item(), 1), (F(1.2).item(), 1)]  # t = 2.5 is dropped
    assert events(c, 1) == [(0.5, 0)]
    assert c.labels.tolist() == [0, 1] and c.meta == {"seed": 1} and c.name == "small"
    assert unchanged(d, snap)
    with pytest.raises(ValueError, match="t_max"):
        crop_time(d, 0.0)


def test_bin_time_exact():
    # sample 0: two spikes of channel 1 in step 0 -> one; step 1 holds channels 2 and 0 -> ordered by channel
    # sample 1: t = 0.7 is step 7 at Δt = 0.1 (float32 0.69999999), t = 0.75 is step 7 too
    d = SpikeData(
        times=np.array([0.2, 0.3, 0.6, 0.8, 1.0, 0.7, 0.75], dtype=F),
        units=np.array([1, 1, 2, 0, 1, 0, 1]),
        offsets=np.array([0, 5, 7]),
        labels=np.array([0, 1]),
        n_units=3,
        n_classes=2,
        duration=2.0,
    )
    snap = snapshot(d)
    b = bin_time(d, 0.5)
    assert b.offsets.tolist() == [0, 4, 6]
    assert events(b, 0) == [(0.0, 1), (0.5, 0), (0.5, 2), (1.0, 1)]
    assert events(b, 1) == [(0.5, 0), (0.5, 1)]
    assert bin_time(b, 0.5) == b  # idempotent
    assert np.array_equal(b.to_dense(0.5).numpy(), d.to_dense(0.5).numpy())
    fine = bin_time(d, 0.1)
    assert events(fine, 1) == [(F(0.7).item(), 0), (F(0.7).item(), 1)]
    assert bin_time(fine, 0.1) == fine
    assert unchanged(d, snap)


def test_bin_time_matches_to_dense_on_random_data():
    d = random_data(n=20, per=300)
    for dt in (1.0, 2.0, 0.3):
        b = bin_time(d, dt)
        assert np.array_equal(b.to_dense(dt).numpy(), d.to_dense(dt).numpy())
        assert int(b.to_dense(dt).sum()) == len(b.times)  # at most one spike per channel and step


# ------------------------------------------------------------------ shift


def test_shift_channels_known_shift():
    assert np.random.default_rng(2).integers(-2, 3, size=2).tolist() == [2, -1]  # the draw used below
    d = small()
    snap = snapshot(d)
    s = shift_channels(d, 2, np.random.default_rng(2))
    # sample 0 by +2: channel 2 -> 4 leaves [0, 4); sample 1 by -1: channel 0 -> -1 leaves
    assert events(s, 0) == [(0.0, 2), (F(0.4).item(), 3), (F(1.2).item(), 3)]
    assert events(s, 1) == [(3.0, 2), (F(3.9).item(), 0)]
    assert s.labels.tolist() == [0, 1] and s.n_units == 4 and s.duration == 4.0
    assert unchanged(d, snap)
    assert shift_channels(d, 0, 0) == d


def test_shift_channels_distribution():
    d = random_data(n=400, per=20)
    s = shift_channels(d, 40, np.random.default_rng(1))
    # the shift of each sample: difference of mean channels (no event leaves [0, 700) here)
    shift = np.array([s.units[s.offsets[k] : s.offsets[k + 1]].mean() - d.units[d.offsets[k] : d.offsets[k + 1]].mean()
                      for k in range(len(d))])  # fmt: skip
    assert np.allclose(shift, np.round(shift))
    assert shift.min() >= -40 and shift.max() <= 40 and shift.min() < -30 and shift.max() > 30
    assert np.array_equal(s.counts(), d.counts())


# ------------------------------------------------------------------ blend


def pair(a_events, b_events, n_units=8, duration=10.0, labels=(0, 0)) -> SpikeData:
    ev = [(0, t, u) for t, u in a_events] + [(1, t, u) for t, u in b_events]
    s, t, u = (np.array(x) for x in zip(*ev, strict=True))
    return SpikeData.from_events(s, t, u, np.array(labels), n_units, 2, duration)


def test_blend_centroid_alignment_p1():
    # A: centroid (u, t) = (1, 2); B: centroid (5, 6); target (3, 4): A moves by (+2, +2), B by (-2, -2)
    d = pair([(1.0, 0), (3.0, 2)], [(5.0, 4), (6.0, 5), (7.0, 6)])
    snap = snapshot(d)
    out = blend(d, np.random.default_rng(0), p=1.0)
    assert len(out) == 4 and out.labels.tolist() == [0, 0, 0, 0]
    assert out.subset([0, 1]) == d  # originals first, unchanged
    for k in (2, 3):  # both blends pair A with B (a partner is never its anchor)
        assert sorted(events(out, k)) == [(3.0, 2), (3.0, 2), (4.0, 3), (5.0, 4), (5.0, 4)]
        s = slice(out.offsets[k], out.offsets[k + 1])
        assert out.units[s].mean() == 3.0 and out.times[s].mean() == 4.0  # the common centroid
    assert unchanged(d, snap)


def test_blend_drops_out_of_range_and_rounds_channels():
    # A: (0, 6), (8, 0) -> centroid (u=3, t=4); B: (1, 0) -> centroid (0, 1); target (1.5, 2.5)
    # A moves by (rint(-1.5) = -2, -1.5): (-1.5, 4) has t < 0, (6.5, -2) has u < 0 -> both dropped
    # B moves by (rint(+1.5) = +2, +1.5): (2.5, 2)
    d = pair([(0.0, 6), (8.0, 0)], [(1.0, 0)])
    out = blend(d, 0, p=1.0)
    assert events(out, 2) == [(2.5, 2)] and events(out, 3) == [(2.5, 2)]


def test_blend_empty_parent_and_single_member_class():
    # class 0: A empty, B one event -> the blend is B unshifted; class 1: a single sample -> blended with itself
    d = SpikeData.from_events([1, 2], [2.0, 3.0], [5, 1], [0, 0, 1], 8, 2, 10.0)
    out = blend(d, np.random.default_rng(3), p=1.0, n_new=30)
    assert len(out) == 33
    for k in range(3, 33):
        expected = [(2.0, 5)] if out.labels[k] == 0 else [(3.0, 1), (3.0, 1)]
        assert events(out, k) == expected


def test_blend_same_class_only():
    # two samples per class, far apart per class: with p = 1 every blend of class c is the aligned union U_c
    rng = np.random.default_rng(0)
    n_classes, per_sample = 3, 6
    sample, times, units = [], [], []
    for k in range(2 * n_classes):
        c = k // 2
        sample += [k] * per_sample
        times += list(rng.uniform(10 + 20 * c, 20 + 20 * c, per_sample))
        units += list(rng.integers(100 * c, 100 * c + 50, per_sample))
    labels = np.repeat(np.arange(n_classes), 2)
    d = SpikeData.from_events(sample, times, units, labels, 300, n_classes, 100.0)
    out = blend(d, np.random.default_rng(1), p=1.0, n_new=60)
    unions = {}
    for c in range(n_classes):
        ref = blend(d.subset([2 * c, 2 * c + 1]), 0, p=1.0, n_new=1)
        unions[c] = sorted(events(ref, 2))
    assert sorted(set(out.labels[6:].tolist())) == [0, 1, 2]
    for k in range(6, 66):
        assert sorted(events(out, k)) == unions[int(out.labels[k])]


def test_blend_thinning_and_size():
    d = random_data()
    snap = snapshot(d)
    full = blend(d, np.random.default_rng(5), p=1.0)
    half = blend(d, np.random.default_rng(5), p=0.5)  # same pairs (drawn before the thinning)
    n = len(d)
    assert len(half) == 2 * n and half.subset(np.arange(n)) == d
    assert np.array_equal(half.labels, full.labels)
    union = full.counts()[n:].sum()
    assert union == pytest.approx(2 * d.counts().mean() * n, rel=0.1)  # two parents each, none cut at edges
    ratio = half.counts()[n:].sum() / union
    assert ratio == pytest.approx(0.5, abs=0.01)  # ~80k Bernoulli(0.5) draws: sd 0.002
    assert np.all(np.bincount(half.labels[n:], minlength=4) > 0)
    assert len(blend(d, 0, n_new=7)) == n + 7
    assert unchanged(d, snap)
    with pytest.raises(ValueError, match="p must"):
        blend(d, 0, p=1.5)


# ------------------------------------------------------------------ delay line


def test_delay_line_exact():
    d = small()
    snap = snapshot(d)
    out = delay_line(d, delays=(0.0, 1.5, 3.0))
    assert out.n_units == 12 and out.duration == 4.0
    # sample 0: copies at +0 (channels 0-3), +1.5 (4-7), +3 (8-11); times >= 4 ms are dropped
    assert events(out, 0) == [
        (0.0, 0), (F(0.4).item(), 1), (F(1.2).item(), 1), (1.5, 4), ((F(0.4) + F(1.5)).item(), 5), (2.5, 2),
        ((F(1.2) + F(1.5)).item(), 5), (3.0, 8), ((F(0.4) + F(3.0)).item(), 9),
    ]  # fmt: skip
    assert events(out, 1) == [(0.5, 0), (2.0, 4), (3.0, 3), (3.5, 8), (F(3.9).item(), 1)]
    long = delay_line(d, delays=(0.0, 1.5, 3.0), extend=True)
    assert long.duration == 7.0 and len(long.times) == 3 * len(d.times)
    assert unchanged(d, snap)


def test_delay_line_default_layout():
    d = small()
    out = delay_line(d, extend=True)
    assert DELAYS_MS == (0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0)
    assert out.n_units == 40 and out.duration == 274.0
    for k, delay in enumerate(DELAYS_MS):  # copy k: channels 4k..4k+3, times + 30k ms
        m = (out.units >= 4 * k) & (out.units < 4 * k + 4)
        assert np.allclose(np.sort(out.times[m]), np.sort(d.times) + delay)
    assert len(delay_line(d).times) == len(d.times)  # trial kept at 4 ms: only the undelayed copy survives
    with pytest.raises(ValueError, match="delays"):
        delay_line(d, delays=(-1.0,))


# ------------------------------------------------------------------ pipelines


PIPELINE = [
    Transform("crop_time", {"t_max": 800.0}),
    Transform("bin_time", {"dt": 1.0}),
    Transform("blend", {"p": 0.5}),
    Transform("shift_channels", {"max_shift": 40}),
]


def test_apply_reproducible_per_seed_and_epoch():
    d = random_data(n=60, per=50)
    snap = snapshot(d)
    a = apply(d, PIPELINE, seed=3, epoch=1)
    assert a == apply(d, PIPELINE, seed=3, epoch=1)
    assert a != apply(d, PIPELINE, seed=3, epoch=2)
    assert a != apply(d, PIPELINE, seed=4, epoch=1)
    assert len(a) == 120 and a.duration == 800.0
    assert [t["name"] for t in a.meta["transforms"]] == ["crop_time", "bin_time", "blend", "shift_channels"]
    assert a.meta["transforms"][2]["params"] == {"p": 0.5, "n_new": None}
    assert a.meta["augment_seed"] == [3, 1]
    assert unchanged(d, snap)
    # deterministic pipelines ignore the seed and record no augment_seed
    det = PIPELINE[:2]
    assert apply(d, det, seed=0) == apply(d, det, seed=9, epoch=5)
    assert "augment_seed" not in apply(d, det).meta
    # an empty pipeline still returns a new object
    e = apply(d, [])
    assert e is not d and e.times is not d.times


def test_apply_rejects_bad_transforms():
    d = small()
    with pytest.raises(ValueError, match="unknown transform"):
        apply(d, [Transform("jitter", {})])
    with pytest.raises(ValueError, match="no parameter"):
        apply(d, [Transform("crop_time", {"t_max": 1.0, "t_min": 0.0})])
    with pytest.raises(ValueError, match="needs parameter 't_max'"):
        apply(d, [Transform("crop_time", {})])


def test_transform_key():
    key = transform_key([Transform("crop_time", {"t_max": 1000.0})])
    assert key == "765beb466c8c5d60"  # stable across processes and sessions (SHA-256 of canonical JSON)
    assert transform_key(PIPELINE) == transform_key(list(PIPELINE))
    # defaults spelled out or not, tuple or list: same key
    assert transform_key([Transform("delay_line")]) == transform_key(
        [Transform("delay_line", {"delays": list(DELAYS_MS), "extend": False})]
    )
    assert transform_key([Transform("delay_line", {"delays": (0.0, 30.0)})]) == transform_key(
        [Transform("delay_line", {"delays": [0.0, 30.0]})]
    )
    # any changed parameter or order changes the key
    assert transform_key([Transform("crop_time", {"t_max": 999.0})]) != key
    assert transform_key(PIPELINE[:2]) != transform_key(PIPELINE[1::-1])
    assert resolve(Transform("blend")).params == {"p": 0.5, "n_new": None}
    assert is_random(Transform("blend")) and is_random(Transform("shift_channels", {"max_shift": 1}))
    assert not is_random(Transform("bin_time", {"dt": 1.0}))
