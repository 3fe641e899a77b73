import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from spikegrad.data.shd_format import read_shd
from spikegrad.data.speech import SAMPLE_RATE
from spikegrad.data.spikedata import DataError
from spikegrad.data.spoken import (
    DEFAULT_SIZES,
    LANGUAGES,
    SPLITS,
    VERSION,
    VOCABULARIES,
    SpokenParams,
    build_spoken,
    load_spoken,
    make_speaker,
    speaker_ids,
    speakers_for,
    spoken,
    utterance,
    write_spoken,
)

TINY = {"train": (2, 1), "validation": (1, 1), "test": (1, 1)}
WORDS = [7, 17]  # "seven", "sieben"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("spoken")
    write_spoken("spoken-digits", root, sizes=TINY, seed=0, progress=False, labels=WORDS)
    return root


def test_vocabularies():
    digits = VOCABULARIES["spoken-digits"]
    assert len(digits) == 20 and digits[0] == "zero" and digits[9] == "nine"
    assert digits[10] == "null" and digits[15] == "fünf" and digits[19] == "neun"
    assert LANGUAGES["spoken-digits"] == ["en"] * 10 + ["de"] * 10
    commands = VOCABULARIES["spoken-commands"]
    assert len(commands) == len(set(commands)) == 35 and commands == sorted(commands)
    assert {"yes", "marvin", "sheila", "backward", "visual", "learn", "follow", "forward"} <= set(commands)
    assert set(DEFAULT_SIZES) == set(VOCABULARIES) and all(set(s) == set(SPLITS) for s in DEFAULT_SIZES.values())


def test_speakers_disjoint_across_splits():
    for sizes in ((12, 4, 4), (3, 30, 1), (50, 50, 50)):
        ids = [set(speaker_ids(split, n)) for split, n in zip(SPLITS, sizes, strict=True)]
        assert all(len(i) == n for i, n in zip(ids, sizes, strict=True))
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    voices = [{(s.variant, s.accent, s.pitch, s.rate) for s in speakers_for(split, 40)} for split in SPLITS]
    assert sum(len(v) for v in voices) == 120 and len(set.union(*voices)) == 120  # distinct voices
    # a split's speakers do not depend on the other splits' sizes, and are fixed by the seed
    assert speakers_for("test", 3) == speakers_for("test", 5)[:3]
    assert make_speaker(5, seed=0) == make_speaker(5, seed=0) != make_speaker(5, seed=1)
    with pytest.raises(ValueError, match="grid"):
        make_speaker(10**6)


def test_utterance_level_length_and_determinism():
    p = SpokenParams()
    speaker = make_speaker(0)
    x = utterance("spoken-digits", 7, speaker, repeat=0)
    assert x.dtype == np.float32 and len(x) >= SAMPLE_RATE * p.trial / 1000
    assert np.array_equal(x, utterance("spoken-digits", 7, speaker, repeat=0))
    assert not np.array_equal(x[:20000], utterance("spoken-digits", 7, speaker, repeat=1)[:20000])
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    # the word's RMS is level_rms at gain g (±2 dB jitter); the trial adds silence around it
    assert rms < p.level_rms * 10 ** ((speaker.gain_db + p.jitter_gain_db) / 20)
    assert rms > 0.2 * p.level_rms * 10 ** ((speaker.gain_db - p.jitter_gain_db) / 20)
    onset = np.argmax(np.abs(x) > 0.05 * np.abs(x).max()) / SAMPLE_RATE
    assert p.onset[0] / 1000 - 0.01 <= onset <= p.onset[1] / 1000 + 0.05


def test_tiny_build_deterministic():
    a = build_spoken("spoken-digits", "train", n_speakers=2, seed=3, progress=False, labels=WORDS)
    b = build_spoken("spoken-digits", "train", n_speakers=2, seed=3, progress=False, labels=WORDS)
    times, units, labels, keys, speakers = a
    assert labels.tolist() == [7, 17, 7, 17] and speakers.tolist() == [0, 0, 3, 3]
    assert keys == VOCABULARIES["spoken-digits"]
    for k in range(4):
        assert np.array_equal(times[k], b[0][k]) and np.array_equal(units[k], b[1][k])
        assert 1000 < len(times[k]) < 15000  # SHD order: thousands of spikes per word
        assert np.all(np.diff(times[k]) >= 0) and times[k].max() < 1.3
    c = build_spoken("spoken-digits", "train", n_speakers=1, seed=4, progress=False, labels=[7])
    assert not np.array_equal(c[0][0][:100], times[0][:100])


def test_build_does_not_depend_on_the_callers_thread_count():
    built, before = {}, torch.get_num_threads()
    for threads in (1, 4):
        torch.set_num_threads(threads)
        built[threads] = build_spoken("spoken-digits", "train", n_speakers=1, seed=3, progress=False, labels=[7])
        assert torch.get_num_threads() == threads  # restored
    torch.set_num_threads(before)
    assert np.array_equal(built[1][0][0], built[4][0][0]) and np.array_equal(built[1][1][0], built[4][1][0])


def test_files_layout_and_read_shd(tiny_root):
    paths = sorted((tiny_root / "spoken-digits").glob("*.h5"))
    assert [p.name for p in paths] == ["test.h5", "train.h5", "validation.h5"]
    with h5py.File(tiny_root / "spoken-digits" / "train.h5", "r") as f:
        assert set(f.keys()) == {"spikes", "labels", "extra"}
        assert set(f["spikes"].keys()) == {"times", "units"} and {"keys", "speaker"} <= set(f["extra"].keys())
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert f["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert f["labels"].dtype == np.uint16 and f["extra/speaker"].dtype == np.uint16
        assert f["labels"][()].tolist() == [7, 17, 7, 17]
        assert f["extra/keys"][15].decode() == "fünf"
        assert f.attrs["version"] == VERSION and f.attrs["dataset"] == "spoken-digits"
        assert json.loads(f.attrs["params"])["trial"] == 1000.0
    data = read_shd(tiny_root / "spoken-digits" / "train.h5", "spoken-digits")
    assert len(data) == 4 and data.n_units == 700 and data.n_classes == 20


def test_split_files_share_no_speaker(tiny_root):
    speakers = [set(load_spoken("spoken-digits", s, tiny_root).meta["speaker"]) for s in SPLITS]
    assert speakers == [{0, 3}, {1}, {2}]


def test_load_spoken(tiny_root):
    data = load_spoken("spoken-digits", "train", tiny_root)
    assert data.duration == 1000.0 and len(data) == 4 and data.n_units == 700
    assert data.meta["version"] == VERSION and data.meta["params"] == {"n_speakers": 2, "repeats": 1, "seed": 0}
    assert data.meta["keys"][7] == "seven" and data.meta["speaker"] == [0, 0, 3, 3]
    assert data.to_dense(1.0).shape == (1000, 4, 700)
    # same spikes as an in-memory build, up to the float16 rounding of the file (~0.5 ms near 1 s)
    t, u, *_ = build_spoken("spoken-digits", "train", n_speakers=2, seed=0, progress=False, labels=WORDS)
    assert np.array_equal(data.counts(), [len(x) for x in t])
    first = data.times[: data.offsets[1]]
    assert np.allclose(np.sort(first), np.sort(t[0] * 1e3), atol=0.6)
    with pytest.raises(DataError, match="no such file"):
        load_spoken("spoken-commands", "train", tiny_root)
    assert len(load_spoken("spoken-digits", "train", tiny_root, seed=0, n_speakers=None)) == 4
    with pytest.raises(ValueError, match="seed=0"):
        load_spoken("spoken-digits", "train", tiny_root, seed=1)
    with pytest.raises(TypeError, match="unexpected"):
        load_spoken("spoken-digits", "train", tiny_root, n=5)


def test_load_spoken_rejects_other_versions(tiny_root, tmp_path):
    target = tmp_path / "spoken-digits" / "test.h5"
    target.parent.mkdir()
    shutil.copy(tiny_root / "spoken-digits" / "test.h5", target)
    with h5py.File(target, "r+") as f:
        f.attrs["version"] = VERSION + 1
    with pytest.raises(DataError, match="version"):
        load_spoken("spoken-digits", "test", tmp_path)


def test_tonic_shd_style_access(tiny_root, tmp_path, monkeypatch):
    tonic = pytest.importorskip("tonic")
    folder = tmp_path / "SHD"
    folder.mkdir()
    shutil.copy(tiny_root / "spoken-digits" / "test.h5", folder / "shd_test.h5")
    (folder / "shd_test.h5.zip").touch()  # tonic checks that the downloaded archive exists

    def no_download(self):
        raise AssertionError("tonic tried to download")

    monkeypatch.setattr(tonic.datasets.SHD, "download", no_download)
    ds = tonic.datasets.SHD(str(tmp_path), train=False)
    events, target = ds[1]
    assert len(ds) == 2 and target == 17
    assert ds.speaker.tolist() == [2, 2] and ds.classes[0] == b"zero"
    ours = load_spoken("spoken-digits", "test", tiny_root).subset([1])
    assert np.array_equal(events["x"], ours.units)
    assert np.allclose(events["t"], ours.times * 1e3, atol=1.0)  # µs, as tonic converts


def test_in_memory_spoken_matches_build():
    data = spoken("spoken-digits", "validation", n_speakers=1, repeats=1)
    assert len(data) == 20 and data.duration == 1000.0 and data.meta["speaker"] == [1] * 20
    assert data.class_counts().tolist() == [1] * 20


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown spoken dataset"):
        build_spoken("spoken-letters", "train", 1)
    with pytest.raises(ValueError, match="split"):
        build_spoken("spoken-digits", "dev", 1)
    with pytest.raises(ValueError, match="labels"):
        build_spoken("spoken-digits", "train", 1, labels=[20], progress=False)
