import numpy as np
import pytest
from sklearn.datasets import load_digits

from spikegrad.data.digits import digits, latency_encode, split_indices


@pytest.fixture(scope="module")
def splits():
    return {split: digits(split) for split in ("train", "validation", "test")}


@pytest.fixture(scope="module")
def sk():
    bunch = load_digits()
    return bunch.data, bunch.target


def test_split_sizes_disjoint(splits):
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": 1077, "validation": 360, "test": 360}
    assert sum(sizes.values()) == 1797
    ids = [set(d.meta["sample_ids"]) for d in splits.values()]
    assert ids[0].isdisjoint(ids[1]) and ids[0].isdisjoint(ids[2]) and ids[1].isdisjoint(ids[2])
    assert set().union(*ids) == set(range(1797))


def test_split_is_stratified(splits, sk):
    _, target = sk
    overall = np.bincount(target, minlength=10) / len(target)
    for d in splits.values():
        counts = d.class_counts()
        assert np.all(counts > 0)
        assert np.all(np.abs(counts - overall * len(d)) <= 2)


def test_split_indices_fixed(sk):
    _, target = sk
    a, b = split_indices(target), split_indices(target)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_labels_and_shape(splits, sk):
    _, target = sk
    for d in splits.values():
        assert d.n_units == 64 and d.n_classes == 10 and d.duration == 21.0
        assert np.array_equal(d.labels, target[d.meta["sample_ids"]])


def test_spike_times_match_pixels(splits, sk):
    data, _ = sk
    d = splits["test"]
    images = data[d.meta["sample_ids"]]  # [n, 64], values 0..16
    sample = np.repeat(np.arange(len(d)), d.counts())
    pixel_values = images[sample, d.units]
    # t = (1 − v/16)·20 ms: 16 -> 0 ms, 8 -> 10 ms; zero pixels never fire
    np.testing.assert_allclose(d.times, (1 - pixel_values / 16) * 20.0, atol=1e-5)
    assert np.all(d.times[pixel_values == 16] == 0.0)
    np.testing.assert_allclose(d.times[pixel_values == 8], 10.0, atol=1e-6)
    assert np.sum(pixel_values == 16) > 0 and np.sum(pixel_values == 8) > 0
    assert np.all(pixel_values > 0)
    assert len(d.times) == np.count_nonzero(images)  # every non-zero pixel fires exactly once


def test_latency_encode_golden():
    images = np.array([[16, 8, 0, 4], [0, 0, 0, 0], [2, 0, 16, 0]]) / 16
    d = latency_encode(images, np.array([3, 0, 1]), t_max=20.0, name="toy", meta={"k": 1})
    assert d.duration == 21.0 and d.n_units == 4 and d.n_classes == 4
    assert d.offsets.tolist() == [0, 3, 3, 5]
    assert d.units.tolist() == [0, 1, 3, 2, 0]
    np.testing.assert_allclose(d.times, [0.0, 10.0, 15.0, 0.0, 17.5])
    dense = d.to_dense(1.0)
    assert dense.shape == (21, 3, 4) and dense.sum() == 5
    assert dense[10, 0, 1] == 1 and dense[17, 2, 0] == 1


def test_latency_encode_checks():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latency_encode(np.array([[2.0]]), np.array([0]), t_max=20.0)
    with pytest.raises(ValueError, match="labels"):
        latency_encode(np.zeros((2, 3)), np.array([0]), t_max=20.0)


def test_custom_t_max():
    d = digits("validation", t_max=10.0)
    assert d.duration == 11.0 and d.times.max() < 10.0 and d.meta["params"] == {"t_max": 10.0}


def test_bad_split():
    with pytest.raises(ValueError, match="validation"):
        digits("val")
