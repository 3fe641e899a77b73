import h5py
import numpy as np
import pytest
import torch

from spikegrad.data.spikedata import DataError, SpikeData, iter_batches, time_bins

F = np.float32


def small() -> SpikeData:
    """Two samples over three channels, duration 1 ms.

    sample 0: u0 at 0.0, u1 at 0.25 (a bin edge for Δt = 0.25) and 0.3 (same bin), u2 at 0.99
    sample 1: u0 at 0.5, u1 at 0.6, u2 at 1.0 (= T·Δt: dropped from the dense raster)
    """
    return SpikeData(
        times=np.array([0.0, 0.25, 0.3, 0.99, 0.5, 0.6, 1.0], dtype=F),
        units=np.array([0, 1, 1, 2, 0, 1, 2]),
        offsets=np.array([0, 4, 7]),
        labels=np.array([1, 0]),
        n_units=3,
        n_classes=2,
        duration=1.0,
        name="small",
        meta={"seed": 3, "nested": {"a": [1, 2]}},
    )


def test_dtypes_and_basic_queries():
    d = small()
    assert d.times.dtype == np.float32 and d.units.dtype == np.int32
    assert d.offsets.dtype == np.int64 and d.labels.dtype == np.int64
    assert len(d) == 2
    assert d.counts().tolist() == [4, 3]
    assert d.class_counts().tolist() == [1, 1]
    assert d.n_steps(0.25) == 4
    assert d.n_steps(0.3) == 4  # ceil(3.33)


def test_to_dense_exact():
    dense = small().to_dense(0.25)
    expected = torch.zeros(4, 2, 3)
    expected[0, 0, 0] = 1  # t = 0
    expected[1, 0, 1] = 1  # t = 0.25 (bin edge) and 0.3, clamped to one spike
    expected[3, 0, 2] = 1  # t = 0.99
    expected[2, 1, 0] = 1  # t = 0.5
    expected[2, 1, 1] = 1  # t = 0.6; t = 1.0 >= T·Δt is dropped
    assert dense.shape == (4, 2, 3) and dense.dtype == torch.float32
    assert torch.equal(dense, expected)


def test_to_dense_options():
    d = small()
    # two steps only, samples reversed, float64
    dense = d.to_dense(0.25, n_steps=2, indices=[1, 0], dtype=torch.float64)
    expected = torch.zeros(2, 2, 3, dtype=torch.float64)
    expected[0, 1, 0] = 1
    expected[1, 1, 1] = 1
    assert torch.equal(dense, expected)
    # a longer grid keeps the event at t = 1.0 (step 4)
    assert d.to_dense(0.25, n_steps=5)[4, 1, 2] == 1
    assert d.to_dense(0.25, n_steps=5).sum() == 6
    # Δt = 0.1: float32 times 0.3, 0.6, 0.99 land in steps 3, 6, 9; 1.0 = T·Δt is dropped
    assert torch.equal(d.to_dense(0.1)[:, 1].nonzero(), torch.tensor([[5, 0], [6, 1]]))
    assert torch.equal(d.to_dense(0.1)[:, 0].nonzero(), torch.tensor([[0, 0], [2, 1], [3, 1], [9, 2]]))


def test_time_bins_edges():
    t = np.array([0.7, 0.69, 1.1, 0.0999, 3.0], dtype=F)
    assert time_bins(t, 0.1).tolist() == [7, 6, 11, 0, 30]


def test_to_padded():
    times, counts = small().to_padded()
    assert times.shape == (2, 3, 2) and times.dtype == torch.float64
    inf = float("inf")
    f = [float(F(v)) for v in (0.25, 0.3, 0.99, 0.5, 0.6, 1.0)]
    expected = torch.tensor([[[0.0, inf], [f[0], f[1]], [f[2], inf]], [[f[3], inf], [f[4], inf], [f[5], inf]]])
    assert torch.equal(times, expected)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [[1, 2, 1], [1, 1, 1]]


def test_to_padded_max_spikes_and_indices():
    d = small()
    times, counts = d.to_padded(max_spikes=3, indices=[1], dtype=torch.float32)
    assert times.shape == (1, 3, 3) and times.dtype == torch.float32
    assert torch.isinf(times[0, :, 1:]).all()
    assert counts.tolist() == [[1, 1, 1]]
    with pytest.raises(ValueError, match=r"sample 0 channel 1 has 2 spikes"):
        d.to_padded(max_spikes=1)
    # empty batch of silent samples still has K = 1
    silent = SpikeData(np.zeros(0), np.zeros(0, int), [0, 0], [0], n_units=2, n_classes=1, duration=1.0)
    times, counts = silent.to_padded()
    assert times.shape == (1, 2, 1) and torch.isinf(times).all() and counts.sum() == 0
    assert silent.to_dense(0.5).shape == (2, 1, 2)


def test_subset():
    d = small()
    s = d.subset([1])
    assert len(s) == 1 and s.labels.tolist() == [0]
    assert s.offsets.tolist() == [0, 3]
    assert np.array_equal(s.times, np.array([0.5, 0.6, 1.0], dtype=F))
    assert s.units.tolist() == [0, 1, 2]
    assert d.subset(np.array([False, True])) == s
    swapped = d.subset([1, 0])
    assert swapped.offsets.tolist() == [0, 3, 7] and swapped.labels.tolist() == [0, 1]
    assert d.subset([0, 1]) == d
    assert len(d.subset([])) == 0


def test_from_events_sorts():
    d = SpikeData.from_events(
        sample=[1, 0, 1, 0], times=[2.0, 3.0, 1.0, 0.5], units=[0, 1, 1, 0], labels=[0, 1],
        n_units=2, n_classes=2, duration=5.0,
    )  # fmt: skip
    assert d.offsets.tolist() == [0, 2, 4]
    assert d.times.tolist() == [0.5, 3.0, 1.0, 2.0]
    assert d.units.tolist() == [0, 1, 1, 0]
    # equal times keep their input order; -0.0 counts as 0
    d = SpikeData.from_events([0, 0, 0], [1.0, -0.0, 1.0], [2, 1, 0], [0], n_units=3, n_classes=1, duration=2.0)
    assert d.times.tolist() == [0.0, 1.0, 1.0] and d.units.tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="negative or NaN"):
        SpikeData.from_events([0], [np.nan], [0], [0], n_units=1, n_classes=1, duration=1.0)
    # larger random input agrees with a lexsort by (sample, time)
    rng = np.random.default_rng(0)
    sample, times, units = (
        rng.integers(50, size=2000),
        rng.random(2000).astype(F) * 10,
        rng.integers(7, size=2000),
    )
    d = SpikeData.from_events(sample, times, units, np.zeros(50, int), 7, 1, 10.0)
    order = np.lexsort((times, sample))
    assert np.array_equal(d.times, times[order]) and np.array_equal(d.units, units[order])
    assert np.array_equal(d.counts(), np.bincount(sample, minlength=50))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"units": np.array([0, 1, 1, 2, 0, 1])}, "differ in length"),
        ({"units": np.array([0, 1, 1, 3, 0, 1, 2])}, "units out of range"),
        ({"units": np.array([0, 1, 1, -1, 0, 1, 2])}, "units out of range"),
        ({"times": np.array([0.0, 0.25, 0.3, 0.99, -0.5, 0.6, 1.0])}, "negative"),
        ({"times": np.array([0.0, 0.25, 0.2, 0.99, 0.5, 0.6, 1.0])}, "not sorted within sample 0"),
        ({"offsets": np.array([0, 4])}, "n \\+ 1"),
        ({"offsets": np.array([0, 4, 4, 7]), "labels": np.array([0, 1, 0])}, None),  # valid: empty sample
        ({"offsets": np.array([0, 4, 2, 7]), "labels": np.array([0, 1, 0])}, "not monotone"),
        ({"offsets": np.array([0, 4, 6])}, "end at the number of events"),
        ({"labels": np.array([0, 2])}, "labels out of range"),
        ({"units": np.array([0.0, 1, 1, 2, 0, 1, 2])}, "integers"),
        ({"duration": 0.0}, "duration"),
    ],
)
def test_validation(change, message):
    d = small()
    fields = dict(
        times=d.times, units=d.units, offsets=d.offsets, labels=d.labels,
        n_units=3, n_classes=2, duration=1.0,
    )  # fmt: skip
    fields.update(change)
    if message is None:
        assert SpikeData(**fields).counts().tolist() == [4, 0, 3]
    else:
        with pytest.raises(ValueError, match=message):
            SpikeData(**fields)


def test_save_load_round_trip(tmp_path):
    d = small()
    path = tmp_path / "sub" / "small.h5"
    assert d.save(path) == path
    assert path.exists() and not (tmp_path / "sub" / "small.h5.tmp").exists()
    back = SpikeData.load(path)
    assert back == d
    assert back.meta == {"seed": 3, "nested": {"a": [1, 2]}}
    assert back.times.dtype == np.float32 and back.units.dtype == np.int32
    # overwrite in place
    d.subset([0]).save(path)
    assert len(SpikeData.load(path)) == 1


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.h5"
    with pytest.raises(DataError, match="missing.h5"):
        SpikeData.load(missing)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not an HDF5 file\x00\x01" * 10)
    with pytest.raises(DataError, match="garbage.h5") as info:
        SpikeData.load(garbage)
    assert str(garbage) in str(info.value)
    assert isinstance(info.value, ValueError)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DataError, match="other.h5"):
        SpikeData.load(other)
    truncated = tmp_path / "truncated.h5"
    small().save(truncated)
    with h5py.File(truncated, "a") as f:
        del f["units"]
    with pytest.raises(DataError, match="truncated.h5"):
        SpikeData.load(truncated)


def test_batches_cover_every_sample():
    batches = list(iter_batches(10, 4, shuffle=True, seed=1, epoch=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert all(b.dtype == np.int64 for b in batches)
    again = list(iter_batches(10, 4, shuffle=True, seed=1, epoch=0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    next_epoch = np.concatenate(list(iter_batches(10, 4, shuffle=True, seed=1, epoch=1)))
    assert not np.array_equal(np.concatenate(batches), next_epoch)
    other_seed = np.concatenate(list(iter_batches(10, 4, shuffle=True, seed=2, epoch=0)))
    assert not np.array_equal(np.concatenate(batches), other_seed)
    assert [b.tolist() for b in iter_batches(5, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
    assert list(iter_batches(0, 3)) == []
    with pytest.raises(ValueError):
        list(iter_batches(5, 0))


def test_batches_method():
    d = small()
    got = [b.tolist() for b in d.batches(1, shuffle=False)]
    assert got == [[0], [1]]
    assert sorted(np.concatenate(list(d.batches(3, seed=7, epoch=2))).tolist()) == [0, 1]
