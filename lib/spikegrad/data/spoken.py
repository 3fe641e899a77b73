"""Synthetic spoken-word datasets in the SHD file format: offline stand-ins for SHD and SSC.

Two vocabularies (:data:`VOCABULARIES`):

- ``spoken-digits`` (stand-in for the Spiking Heidelberg Digits): the English digits zero...nine (labels 0-9,
  espeak-ng English voices) then the German null...neun (labels 10-19, voice ``de``), the label order of SHD;
- ``spoken-commands`` (stand-in for the Spiking Speech Commands): the 35 words of Speech Commands v0.02
  (Warden 2018, arXiv 1804.03209) in alphabetical order, English voices.

**Speakers.** A speaker is a fixed voice: an espeak-ng voice variant (:attr:`SpokenParams.variants`), an
English accent (:attr:`SpokenParams.accents`; German words always use ``de``), a base pitch and a speaking rate
from small grids, plus a pitch range, a level (gain, dB), a recording noise level (SNR of additive white noise,
dB) and a speed factor drawn from ranges. The (variant, accent, pitch, rate) combinations form a grid that is
shuffled once per ``seed``; speaker ``id`` takes grid entry ``id``, and split ``s`` (0 train, 1 validation,
2 test) owns the ids ``3 j + s``. So the splits never share a speaker (nor a grid entry), and each split's
speakers do not depend on the sizes of the others. SHD itself holds out 2 speakers for its test set but also
puts 5 % of the other speakers' recordings there; here the split is strictly by speaker.

**Utterances.** Each speaker says each word ``repeats`` times. Every repetition jitters pitch (±4 espeak
units), rate (±10 words/min), speed (±2 %) and level (±2 dB), and places the word at a random onset (20-150
ms) in a fixed trial of ``trial`` = 1000 ms. The pipeline per utterance: espeak-ng synthesis
(:mod:`.speech`), trimming of the leading/trailing silence, speed perturbation by FFT resampling (duration and
pitch scale together, as in Ko et al. 2015), scaling to an RMS of ``level_rms`` x gain, placement in the
trial, additive white noise at the speaker's SNR (present over the whole trial, so some background spikes
appear as in real recordings), and the cochlea model (:mod:`.cochlea`, default parameters) with 700 channels.
Spike times are in seconds in the files (float16, the published dtype) and in ms in :class:`SpikeData`.
A word that runs past the trial keeps its later spikes in the file, but :func:`load_spoken` sets the trial
length (``duration``) to ``trial`` for every sample, so dense rasters cut there.

Everything is a deterministic function of ``seed`` (speaker grid, speaker attributes, jitter, noise, spikes):
two builds with the same arguments write identical files. Files: ``root/<name>/<split>.h5`` written with
:func:`.shd_format.write_shd`; root attributes record ``version`` (:data:`VERSION`), the generator parameters
(JSON) and the sizes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .cochlea import CochleaParams, cochlea
from .shd_format import N_CHANNELS, read_shd, write_shd
from .speech import SAMPLE_RATE, synthesize
from .spikedata import SPLITS, DataError, SpikeData

VERSION = 1  # bump when the generated data change


_ENGLISH_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_GERMAN_DIGITS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]
_COMMANDS = sorted(
    ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]  # the 20 core words ...
    + _ENGLISH_DIGITS
    + ["bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"]  # ... 10 auxiliary
    + ["backward", "forward", "follow", "learn", "visual"]  # ... and the 5 added in v0.02
)

VOCABULARIES: dict[str, list[str]] = {
    "spoken-digits": _ENGLISH_DIGITS + _GERMAN_DIGITS,
    "spoken-commands": _COMMANDS,
}
LANGUAGES: dict[str, list[str]] = {  # language of each word ("en" or "de"), indexed by label
    "spoken-digits": ["en"] * 10 + ["de"] * 10,
    "spoken-commands": ["en"] * len(_COMMANDS),
}

# split -> (number of speakers, repetitions of each word per speaker). Both vocabularies at these sizes
# (720 + 700 utterances) build in about 4-5 minutes on 2 CPU cores.
DEFAULT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "spoken-digits": {"train": (12, 2), "validation": (4, 1), "test": (4, 2)},
    "spoken-commands": {"train": (12, 1), "validation": (4, 1), "test": (4, 1)},
}


class SpokenParams(NamedTuple):
    """Generator parameters (module docstring). Times in ms, levels in dB, pitch and range in espeak units
    (0-100, 50 = the voice's default), rates in words per minute."""

    trial: float = 1000.0  # ms, trial length: every waveform is at least this long; SpikeData duration
    level_rms: float = 0.1  # RMS of the word (full scale 1) at 0 dB gain
    variants: tuple[str, ...] = (
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "adam", "benjamin", "linda", "steph",
    )  # fmt: skip
    accents: tuple[str, ...] = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp")  # voices for English words
    pitches: tuple[int, ...] = (30, 40, 50, 60, 70)  # speaker base pitch grid
    rates: tuple[int, ...] = (130, 155, 180)  # speaker rate grid, words/min
    pitch_range: tuple[int, int] = (30, 80)  # speaker intonation range, uniform integer in [lo, hi]
    gain_db: tuple[float, float] = (-6.0, 6.0)  # speaker level re level_rms
    snr_db: tuple[float, float] = (30.0, 50.0)  # speaker recording noise (white) re the word's RMS
    speed: tuple[float, float] = (0.95, 1.05)  # speaker duration factor (speed perturbation)
    jitter_pitch: int = 4  # per utterance, uniform integer in [-j, j]
    jitter_rate: int = 10  # per utterance, words/min
    jitter_speed: float = 0.02  # per utterance, relative
    jitter_gain_db: float = 2.0  # per utterance
    onset: tuple[float, float] = (20.0, 150.0)  # ms, start of the word in the trial
    trim_db: float = 50.0  # silence below peak - trim_db (5 ms frames) is trimmed from the synthesised word


class Speaker(NamedTuple):
    """One synthetic speaker (module docstring)."""

    id: int
    variant: str
    accent: str
    pitch: int
    rate: int
    pitch_range: int
    gain_db: float
    snr_db: float
    speed: float


# stream tags: the numpy Generators are seeded with [seed, tag, ...] so that no two uses share a stream
_GRID, _SPEAKER, _UTTERANCE, _SPIKES = 1, 2, 3, 4


def _check(name: str, split: str | None = None) -> None:
    if name not in VOCABULARIES:
        raise ValueError(f"unknown spoken dataset {name!r}; valid: {', '.join(VOCABULARIES)}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")


def _grid(params: SpokenParams) -> list[tuple[str, str, int, int]]:
    return [(v, a, p, r) for v in params.variants for a in params.accents for p in params.pitches for r in params.rates]


def speaker_ids(split: str, n_speakers: int) -> list[int]:
    """Ids of the first ``n_speakers`` speakers of ``split``: 3 j + (0, 1, 2 for train, validation, test)."""
    _check("spoken-digits", split)
    return [3 * j + SPLITS.index(split) for j in range(n_speakers)]


def make_speaker(speaker_id: int, seed: int = 0, params: SpokenParams | None = None) -> Speaker:
    """Speaker ``speaker_id`` of the population drawn with ``seed`` (module docstring)."""
    p = params or SpokenParams()
    grid = _grid(p)
    if not 0 <= speaker_id < len(grid):
        raise ValueError(f"speaker id {speaker_id} outside the {len(grid)} voices of the grid")
    variant, accent, pitch, rate = grid[int(np.random.default_rng([seed, _GRID]).permutation(len(grid))[speaker_id])]
    rng = np.random.default_rng([seed, _SPEAKER, speaker_id])
    return Speaker(
        id=int(speaker_id),
        variant=variant,
        accent=accent,
        pitch=int(pitch),
        rate=int(rate),
        pitch_range=int(rng.integers(p.pitch_range[0], p.pitch_range[1] + 1)),
        gain_db=float(rng.uniform(*p.gain_db)),
        snr_db=float(rng.uniform(*p.snr_db)),
        speed=float(rng.uniform(*p.speed)),
    )


def speakers_for(split: str, n_speakers: int, seed: int = 0, params: SpokenParams | None = None) -> list[Speaker]:
    """The ``n_speakers`` speakers of ``split`` (disjoint from the other splits' for any sizes)."""
    return [make_speaker(i, seed, params) for i in speaker_ids(split, n_speakers)]


def _trim(x: np.ndarray, trim_db: float) -> np.ndarray:
    """Cut leading and trailing 5 ms frames whose RMS is more than ``trim_db`` below the loudest frame."""
    frame = int(0.005 * SAMPLE_RATE)
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-trim_db / 20))
    return x[loud[0] * frame : min(len(x), (loud[-1] + 1) * frame)]


def utterance(
    name: str, label: int, speaker: Speaker, repeat: int, seed: int = 0, params: SpokenParams | None = None
) -> np.ndarray:
    """Waveform (float32, :data:`.speech.SAMPLE_RATE` Hz, at least ``trial`` ms) of ``speaker`` saying word
    ``label`` of vocabulary ``name`` for the ``repeat``-th time (module docstring)."""
    from scipy.signal import resample

    _check(name)
    p = params or SpokenParams()
    word, language = VOCABULARIES[name][label], LANGUAGES[name][label]
    rng = np.random.default_rng([seed, _UTTERANCE, speaker.id, label, repeat])
    pitch = int(np.clip(speaker.pitch + rng.integers(-p.jitter_pitch, p.jitter_pitch + 1), 0, 100))
    rate = int(np.clip(speaker.rate + rng.integers(-p.jitter_rate, p.jitter_rate + 1), 80, 450))
    speed = speaker.speed * (1.0 + rng.uniform(-p.jitter_speed, p.jitter_speed))
    gain_db = speaker.gain_db + rng.uniform(-p.jitter_gain_db, p.jitter_gain_db)
    onset = rng.uniform(*p.onset)
    synth_seed = int(rng.integers(2**31))
    voice = f"{speaker.accent if language == 'en' else language}+{speaker.variant}"
    x = _trim(synthesize(word, voice, pitch=pitch, rate=rate, pitch_range=speaker.pitch_range, seed=synth_seed),
              p.trim_db).astype(np.float64)  # fmt: skip
    x = resample(x, max(1, int(round(len(x) * speed))))
    x *= p.level_rms * 10 ** (gain_db / 20) / max(np.sqrt(np.mean(x**2)), 1e-12)
    start = int(round(onset * 1e-3 * SAMPLE_RATE))
    n = max(int(math.ceil(p.trial * 1e-3 * SAMPLE_RATE)), start + len(x))
    wave = np.zeros(n)
    wave[start : start + len(x)] = x
    wave += rng.standard_normal(n) * (p.level_rms * 10 ** ((gain_db - speaker.snr_db) / 20))
    return wave.astype(np.float32)


@contextlib.contextmanager
def _one_thread():
    """torch's CPU FFTs round differently with each thread count: the cochlea runs on one thread, so that a set
    does not depend on the machine that built it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_spoken(
    name: str,
    split: str,
    n_speakers: int,
    repeats: int = 1,
    seed: int = 0,
    params: SpokenParams | None = None,
    cochlea_params: CochleaParams | None = None,
    progress: bool = True,
    device=None,
    labels=None,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[str], np.ndarray]:
    """Synthesise and encode one split: ``n_speakers`` speakers x ``repeats`` x every word of ``name``.

    Returns per-sample spike times (s, float64, sorted) and channel ids (int64), labels (int64), the class
    names (keys, always the whole vocabulary) and the speaker id of each sample (int64). Samples are ordered
    by speaker, repetition, label. ``labels`` restricts the words (e.g. for quick tests); a sample does not
    depend on which other samples are built. ``device`` runs the cochlea there (e.g. ``"cuda"``).
    """
    from tqdm.auto import tqdm

    _check(name, split)
    if n_speakers < 1 or repeats < 1:
        raise ValueError(f"n_speakers and repeats must be >= 1, got {n_speakers} and {repeats}")
    cp = cochlea_params or CochleaParams()
    if cp.n_channels != N_CHANNELS:
        raise ValueError(f"the SHD format has {N_CHANNELS} channels, cochlea_params has {cp.n_channels}")
    words = VOCABULARIES[name]
    chosen = range(len(words)) if labels is None else [int(k) for k in labels]
    if any(not 0 <= k < len(words) for k in chosen):
        raise ValueError(f"labels must lie in [0, {len(words)}), got {list(chosen)}")
    jobs = [(s, r, k) for s in speakers_for(split, n_speakers, seed, params) for r in range(repeats) for k in chosen]
    times, units, ys, speakers = [], [], [], []
    with _one_thread():
        for speaker, r, k in tqdm(jobs, desc=f"{name}/{split}", disable=not progress, unit="utt"):
            wave = utterance(name, k, speaker, r, seed, params)
            t, u = cochlea(wave, SAMPLE_RATE, cp, seed=[seed, _SPIKES, speaker.id, k, r], device=device)
            times.append(t)
            units.append(u)
            ys.append(k)
            speakers.append(speaker.id)
    return times, units, np.asarray(ys, dtype=np.int64), list(words), np.asarray(speakers, dtype=np.int64)


def _sizes(name: str, sizes: dict | None) -> dict[str, tuple[int, int]]:
    out = dict(DEFAULT_SIZES[name])
    for split, value in (sizes or {}).items():
        _check(name, split)
        out[split] = (int(value[0]), int(value[1]))
    return out


def _attrs(name, split, n_speakers, repeats, seed, params, cochlea_params) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        loader = version("espeakng-loader")
    except PackageNotFoundError:
        loader = "unknown"
    return {
        "generator": "spikegrad.data.spoken",
        "dataset": name,
        "version": VERSION,
        "split": split,
        "n_speakers": n_speakers,
        "repeats": repeats,
        "seed": seed,
        "trial_ms": float(params.trial),
        "sample_rate": SAMPLE_RATE,
        "channel_order": "ascending centre frequency",
        "params": json.dumps(params._asdict()),
        "cochlea": json.dumps(cochlea_params._asdict()),
        "espeakng_loader": loader,
    }


def write_spoken(
    name: str,
    root: str | os.PathLike,
    sizes: dict | None = None,
    seed: int = 0,
    params: SpokenParams | None = None,
    cochlea_params: CochleaParams | None = None,
    progress: bool = True,
    splits=SPLITS,
    labels=None,
) -> list[Path]:
    """Build and write ``root/<name>/<split>.h5`` for each of ``splits`` (SHD layout, module docstring).

    ``sizes`` maps a split to ``(n_speakers, repeats)`` and overrides :data:`DEFAULT_SIZES` for it;
    ``labels`` restricts the words (for quick tests; recorded in the file). Returns the written paths. Each
    file is written atomically (:func:`.shd_format.write_shd`).
    """
    _check(name)
    p, cp = params or SpokenParams(), cochlea_params or CochleaParams()
    paths = []
    for split in splits:
        n_speakers, repeats = _sizes(name, sizes)[split]
        times, units, y, keys, speakers = build_spoken(name, split, n_speakers, repeats, seed, p, cp, progress,
                                                       labels=labels)  # fmt: skip
        attrs = _attrs(name, split, n_speakers, repeats, seed, p, cp)
        if labels is not None:
            attrs["labels"] = json.dumps([int(k) for k in labels])
        paths.append(write_shd(Path(root) / name / f"{split}.h5", times, units, y, keys, speakers, attrs))
    return paths


def load_spoken(name: str, split: str, root: str | os.PathLike, **expected) -> SpikeData:
    """Read ``root/<name>/<split>.h5`` (written by :func:`write_spoken`) as :class:`SpikeData` in ms.

    ``duration`` is the file's trial length (1000 ms by default) for every sample; spikes after it stay in
    the data. ``meta`` adds the dataset ``version``, ``params`` (``n_speakers``, ``repeats``, ``seed``),
    ``generator`` (the :class:`SpokenParams`) and ``cochlea`` (the :class:`.cochlea.CochleaParams`) to what
    :func:`read_shd` records. Keyword arguments that are not None (e.g. ``seed=0``) must equal the recorded
    ``params``, else ValueError: the file was built differently. Raises :class:`DataError` for a missing
    file or one from another generator version.
    """
    import h5py

    _check(name, split)
    path = Path(root) / name / f"{split}.h5"
    if not path.is_file():
        raise DataError(f"{path}: no such file; build it with spikegrad.data.spoken.write_spoken({name!r}, root)")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None
    if attrs.get("generator") != "spikegrad.data.spoken" or attrs.get("dataset") != name:
        raise DataError(f"{path}: not a {name!r} file written by spikegrad.data.spoken")
    if int(attrs.get("version", -1)) != VERSION:
        raise DataError(f"{path}: generator version {attrs.get('version')} != {VERSION}; rebuild it")
    recorded = {"n_speakers": int(attrs["n_speakers"]), "repeats": int(attrs["repeats"]), "seed": int(attrs["seed"])}
    for key, value in expected.items():
        if key not in recorded:
            raise TypeError(f"load_spoken() got an unexpected keyword argument {key!r}; valid: {', '.join(recorded)}")
        if value is not None and recorded[key] != value:
            raise ValueError(f"{path} was built with {key}={recorded[key]!r}, not {value!r}; rebuild it")
    data = read_shd(path, name, duration=float(attrs["trial_ms"]))
    meta = dict(data.meta)
    meta.update(
        dataset=name,
        version=VERSION,
        split=split,
        params=recorded,
        generator=json.loads(attrs["params"]),
        cochlea=json.loads(attrs["cochlea"]),
        espeakng_loader=str(attrs.get("espeakng_loader", "")),
    )
    return dataclasses.replace(data, meta=meta)


def spoken(
    name: str,
    split: str,
    n_speakers: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
    params: SpokenParams | None = None,
    progress: bool = False,
) -> SpikeData:
    """Build a split in memory as :class:`SpikeData` (ms; sizes default to :data:`DEFAULT_SIZES`), with the
    same ``meta`` layout as :func:`load_spoken`, without the float16 rounding of the files."""
    _check(name, split)
    p = params or SpokenParams()
    default_n, default_r = DEFAULT_SIZES[name][split]
    n_speakers = default_n if n_speakers is None else int(n_speakers)
    repeats = default_r if repeats is None else int(repeats)
    times, units, labels, keys, speakers = build_spoken(name, split, n_speakers, repeats, seed, p, None, progress)
    sample = np.repeat(np.arange(len(labels)), [len(t) for t in times])
    flat_t = np.concatenate(times) * 1e3 if times else np.zeros(0)
    flat_u = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
    meta = {
        "keys": keys,
        "speaker": speakers.tolist(),
        "dataset": name,
        "version": VERSION,
        "split": split,
        "params": {"n_speakers": n_speakers, "repeats": repeats, "seed": seed},
        "generator": json.loads(json.dumps(p._asdict())),
        "cochlea": json.loads(json.dumps(CochleaParams()._asdict())),
    }
    return SpikeData.from_events(
        sample, flat_t, flat_u, labels, n_units=N_CHANNELS, n_classes=len(keys), duration=p.trial, name=name,
        meta=meta,
    )  # fmt: skip


__all__ = (
    "DEFAULT_SIZES",
    "LANGUAGES",
    "SPLITS",
    "VERSION",
    "VOCABULARIES",
    "Speaker",
    "SpokenParams",
    "build_spoken",
    "load_spoken",
    "make_speaker",
    "speaker_ids",
    "speakers_for",
    "spoken",
    "utterance",
    "write_spoken",
)
