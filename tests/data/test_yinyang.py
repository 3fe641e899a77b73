import numpy as np
import pytest

from spikegrad.data.yinyang import (
    CHANNELS,
    DT_PAD,
    R_BIG,
    decode_points,
    encode,
    sample_points,
    yinyang,
    yinyang_class,
)


@pytest.fixture(scope="module")
def train():
    return yinyang("train")


def test_sizes_and_shape(train):
    assert len(train) == 5000
    assert len(yinyang("validation")) == 1000
    assert len(yinyang("test")) == 1000
    assert len(yinyang("test", n=7)) == 7
    assert train.n_units == 5 and train.n_classes == 3 and train.duration == 30.0
    assert train.meta["params"] == {"n": 5000, "duration": 30.0, "seed": 42}
    assert train.meta["channels"] == ["bias", "x", "y", "1-x", "1-y"] == list(CHANNELS)


def test_determinism():
    a, b = yinyang("test"), yinyang("test")
    assert a == b
    same_stream = yinyang("validation", seed=40)  # same size and seed as test
    assert np.array_equal(same_stream.times, a.times) and np.array_equal(same_stream.labels, a.labels)
    val = yinyang("validation")
    assert not np.array_equal(val.times, a.times)
    assert not np.array_equal(yinyang("test", seed=1).times, a.times)


def test_class_balance(train):
    counts = train.class_counts()
    assert counts.sum() == 5000
    assert np.all(np.abs(counts - 5000 / 3) <= 0.05 * 5000 / 3)


def test_class_rule_hand_checked():
    # (x, y) in [0, 1]²: R = 0.5, dot radius 0.1 at (0.25, 0.5) and (0.75, 0.5)
    points = {
        (0.25, 0.5): 2,  # centre of the left dot
        (0.75, 0.5): 2,  # centre of the right dot
        (0.25, 0.59): 2,  # inside the left dot (d_l = 0.09)
        (0.5, 0.9): 1,  # upper half, outside the right half-size circle (d_r = 0.47)
        (0.5, 0.1): 0,  # lower half, outside both half-size circles
        (0.45, 0.55): 1,  # just left of centre, upper half: in the left half-size circle (d_l = 0.206)
        (0.45, 0.45): 1,  # just left of centre, lower half: still in the left half-size circle
        (0.55, 0.55): 0,  # just right of centre, upper half: in the right half-size circle (d_r = 0.206)
        (0.55, 0.45): 0,  # just right of centre, lower half
        (0.25, 0.35): 1,  # left ring below the left dot (d_l = 0.15)
        (0.75, 0.65): 0,  # right ring above the right dot (d_r = 0.15)
        (0.1, 0.5): 1,  # left edge of the left half-size circle (d_l = 0.15)
        (0.9, 0.5): 0,  # right ring at mid height (d_r = 0.15, y = R is not "y > R")
    }
    xy = np.array(list(points), dtype=np.float64)
    assert yinyang_class(xy[:, 0], xy[:, 1]).tolist() == list(points.values())


def test_sampled_points():
    xy, labels = sample_points(3000, seed=5)
    assert np.all(np.hypot(xy[:, 0] - R_BIG, xy[:, 1] - R_BIG) <= R_BIG)
    assert np.array_equal(yinyang_class(xy[:, 0], xy[:, 1]), labels)
    # uniform within a class: the yin class (0) has 22.8 % of its area in the upper half,
    # (π(R/2)²/2 − πr²/2) / (πR²/2 − πr²) = 0.02625 / 0.115
    upper = np.mean(xy[labels == 0, 1] > R_BIG)
    assert abs(upper - 0.02625 / 0.115) < 0.05
    # the two dots are equally likely
    dots = xy[labels == 2]
    assert abs(np.mean(dots[:, 0] < R_BIG) - 0.5) < 0.07


def test_all_points_inside_circle(train):
    xy = decode_points(train)
    assert np.all(np.hypot(xy[:, 0] - R_BIG, xy[:, 1] - R_BIG) <= R_BIG + 1e-5)
    # decoded labels agree with the rule except within float32 resolution of a class boundary
    assert np.mean(yinyang_class(xy[:, 0], xy[:, 1]) == train.labels) > 0.999


def test_encoding(train):
    assert np.all(train.counts() == 5)
    assert train.times.min() >= 2 * DT_PAD - 1e-6 and train.times.max() <= 30 - 2 * DT_PAD + 1e-5
    assert np.all((train.times >= 0) & (train.times <= 30))
    units = train.units.reshape(-1, 5)
    assert np.all(np.sort(units, axis=1) == np.arange(5))
    times = np.zeros((len(train), 5))
    np.put_along_axis(times, units.astype(np.int64), train.times.reshape(-1, 5), axis=1)
    np.testing.assert_allclose(times[:, 0], 0.2, atol=1e-6)  # bias: v = 0 -> t = 2Δt
    np.testing.assert_allclose(times[:, 1] + times[:, 3], 30.0, atol=1e-5)  # x and 1 − x mirror
    np.testing.assert_allclose(times[:, 2] + times[:, 4], 30.0, atol=1e-5)


def test_encode_golden():
    d = encode(np.array([[0.5, 0.25]]), np.array([1]), duration=30.0)
    # t = v·(30 − 0.4) + 0.2 for v = (0, 0.5, 0.25, 0.5, 0.75), sorted by time
    np.testing.assert_allclose(d.times, [0.2, 7.6, 15.0, 15.0, 22.4], atol=1e-5)
    assert d.units.tolist() == [0, 2, 1, 3, 4]


def test_bad_split():
    with pytest.raises(ValueError, match="train, validation, test"):
        yinyang("training")
