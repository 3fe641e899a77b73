import numpy as np
import pytest

from spikegrad.data.augment import Transform
from spikegrad.data.cache import cache_key, cache_path, cached
from spikegrad.data.registry import load
from spikegrad.data.spikedata import DataError, SpikeData

PIPE = [Transform("crop_time", {"t_max": 3.0}), Transform("bin_time", {"dt": 0.5})]


class CountingLoader:
    """A loader with the registry's signature ``(name, split, **kwargs)`` that counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, split, scale=1.0):
        self.calls.append((name, split, scale))
        return SpikeData(
            times=np.array([0.2, 0.3, 1.1, 3.5, 0.7], dtype=np.float32) * scale,
            units=np.array([1, 1, 0, 2, 2]),
            offsets=np.array([0, 4, 5]),
            labels=np.array([0, 1]),
            n_units=3,
            n_classes=2,
            duration=4.0,
            name=name,
            meta={"source": (1, 2)},  # a tuple: stored as a list
        )


def test_second_call_reads_the_file(tmp_path):
    loader = CountingLoader()
    first = cached(loader, "toy", "train", PIPE, tmp_path)
    assert len(loader.calls) == 1
    path = tmp_path / "cache" / "toy" / "train" / f"{cache_key('toy', 'train', PIPE)}.h5"
    assert path.is_file() and cache_path("toy", "train", PIPE, tmp_path) == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    # the transforms were applied: t = 3.5 cropped, 0.2 and 0.3 of channel 1 merged into step 0
    assert first.times.tolist() == [0.0, 1.0, 0.5] and first.units.tolist() == [1, 0, 2]
    assert first.offsets.tolist() == [0, 2, 3] and first.duration == 3.0

    second = cached(loader, "toy", "train", PIPE, tmp_path)
    assert len(loader.calls) == 1  # read from disk, loader not called
    assert second == first and second == SpikeData.load(path)
    # meta records the full, resolved transform list and what the key covers
    assert second.meta["transforms"] == [
        {"name": "crop_time", "params": {"t_max": 3.0}},
        {"name": "bin_time", "params": {"dt": 0.5}},
    ]
    record = second.meta["cache"]
    assert record["key"] == path.stem and record["name"] == "toy" and record["split"] == "train"
    assert record["transforms"] == second.meta["transforms"] and record["loader_kwargs"] == {}
    assert second.meta["source"] == [1, 2]


def test_changed_parameters_give_new_entries(tmp_path):
    loader = CountingLoader()
    base = cached(loader, "toy", "train", PIPE, tmp_path)
    other_dt = [PIPE[0], Transform("bin_time", {"dt": 1.0})]
    coarse = cached(loader, "toy", "train", other_dt, tmp_path)
    assert len(loader.calls) == 2 and coarse != base
    assert coarse.times.tolist() == [0.0, 1.0, 0.0]  # binned at 1 ms, not the cached 0.5 ms result
    scaled = cached(loader, "toy", "train", PIPE, tmp_path, scale=0.5)  # loader kwargs are part of the key
    assert loader.calls[-1] == ("toy", "train", 0.5) and scaled.meta["cache"]["loader_kwargs"] == {"scale": 0.5}
    cached(loader, "toy", "test", PIPE, tmp_path)
    keys = {
        cache_key("toy", "train", PIPE),
        cache_key("toy", "train", other_dt),
        cache_key("toy", "train", PIPE, scale=0.5),
    }
    assert len(keys) == 3 and cache_key("toy", "test", PIPE) != cache_key("toy", "train", PIPE)
    assert len(list((tmp_path / "cache" / "toy" / "train").glob("*.h5"))) == 3
    # all four are cached now
    runs = [(PIPE, "train", {}), (other_dt, "train", {}), (PIPE, "train", {"scale": 0.5}), (PIPE, "test", {})]
    for pipe, split, kw in runs:
        cached(loader, "toy", split, pipe, tmp_path, **kw)
    assert len(loader.calls) == 4
    # a default written out is the same entry as the default left implicit
    delay = [Transform("delay_line", {"delays": [0.0, 1.0]})]
    spelled_out = [Transform("delay_line", {"delays": (0.0, 1.0), "extend": False})]
    assert cache_key("toy", "train", delay) == cache_key("toy", "train", spelled_out)


@pytest.mark.parametrize(
    "random", [Transform("shift_channels", {"max_shift": 1}), Transform("blend", {"p": 0.5})], ids=["shift", "blend"]
)
def test_random_transforms_refused(tmp_path, random):
    loader = CountingLoader()
    with pytest.raises(ValueError, match="cannot be cached.*per epoch|redrawn every epoch"):
        cached(loader, "toy", "train", [*PIPE, random], tmp_path)
    assert loader.calls == [] and not (tmp_path / "cache").exists()


def test_foreign_file_under_a_key_is_an_error(tmp_path):
    loader = CountingLoader()
    path = cache_path("toy", "train", PIPE, tmp_path)
    loader("toy", "train").save(path)  # a file without the cache record
    with pytest.raises(DataError, match="records key"):
        cached(loader, "toy", "train", PIPE, tmp_path)


def test_with_registry_loader(tmp_path):
    pipe = [Transform("bin_time", {"dt": 1.0})]
    a = cached(load, "yinyang", "test", pipe, tmp_path, n=16, seed=1)
    b = cached(load, "yinyang", "test", pipe, tmp_path, n=16, seed=1)
    assert a == b and len(a) == 16
    assert np.array_equal(a.to_dense(1.0).numpy(), load("yinyang", "test", n=16, seed=1).to_dense(1.0).numpy())
