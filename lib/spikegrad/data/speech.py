"""Offline speech synthesis with espeak-ng, called through ctypes from the ``espeakng-loader`` wheel.

The wheel (PyPI ``espeakng-loader``) ships ``libespeak-ng`` and its voice data, so no system package is
needed. :func:`synthesize` speaks a text with a voice such as ``"en"``, ``"de"`` or ``"en+f3"`` (language plus
one of the voice variants in the wheel's ``voices/!v`` folder, :func:`voice_variants`) at a base pitch, pitch
range and speaking rate, and returns float32 samples in [-1, 1] at :data:`SAMPLE_RATE` = 22 050 Hz (the rate
espeak-ng synthesises at).

**Determinism.** espeak-ng keeps synthesis state in C globals that survive ``espeak_Terminate`` and
``espeak_Initialize`` (e.g. the position in its pitch-flutter table and its automatic gain control), so
synthesising the same word twice in one process gives slightly different waveforms. Every call here
therefore loads a private copy of the library afresh (``dlopen``), initialises it in synchronous mode, seeds
its noise generator, synthesises, terminates and unloads it (``dlclose``): the result depends only on the
arguments, not on earlier calls or on other users of the library. This costs ~5-10 ms per call. A lock
serialises the calls within a process; separate processes each use their own copy.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050  # Hz, espeak-ng's output rate

# espeak-ng API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_LIMITS = {"rate": (80, 450), "pitch": (0, 100), "pitch_range": (0, 100), "volume": (0, 200)}

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SpeechError(RuntimeError):
    """espeak-ng could not be loaded or failed to synthesise."""


_lock = threading.Lock()
_private: dict[int, Path] = {}  # process id -> this process's private copy of the library


def _loader():
    try:
        import espeakng_loader
    except ImportError as err:
        raise SpeechError(
            "speech synthesis needs the 'espeakng-loader' wheel (pip install espeakng-loader==0.2.4), which "
            "ships libespeak-ng and its voice data"
        ) from err
    return espeakng_loader


def data_path() -> Path:
    """The espeak-ng data folder shipped in the wheel (raises :class:`SpeechError` if missing)."""
    try:
        path = Path(_loader().get_data_path())
    except RuntimeError as err:
        raise SpeechError(f"espeak-ng data folder missing from the espeakng-loader wheel: {err}") from err
    return path


def _library_copy() -> Path:
    """Path of this process's private copy of libespeak-ng (made on first use, removed at exit)."""
    pid = os.getpid()
    if pid not in _private:
        src = Path(_loader().get_library_path())
        if not src.is_file():
            raise SpeechError(f"libespeak-ng not found at {src} (broken espeakng-loader installation?)")
        folder = Path(tempfile.mkdtemp(prefix="spikegrad-espeak-"))
        dst = folder / src.name
        shutil.copy2(src, dst)
        _private[pid] = dst
        atexit.register(_remove_copy, pid, folder)
    return _private[pid]


def _remove_copy(pid: int, folder: Path) -> None:
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _unload(lib: ctypes.CDLL) -> None:
    import _ctypes

    if sys.platform == "win32":
        _ctypes.FreeLibrary(lib._handle)
    else:
        _ctypes.dlclose(lib._handle)


def available() -> bool:
    """True if espeak-ng can be loaded and speaks (a one-word smoke test)."""
    try:
        return synthesize("a").size > 0
    except SpeechError:
        return False


def voice_variants() -> list[str]:
    """Names of the voice variants in the wheel (``m1``…``m8``, ``f1``…``f5``, ``klatt``, …), sorted."""
    return list(_variants(data_path()))


@functools.cache
def _variants(path: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (path / "voices" / "!v").iterdir() if p.is_file()))


def _check_range(name: str, value: int) -> int:
    lo, hi = _LIMITS[name]
    if not (isinstance(value, int | np.integer) and lo <= value <= hi):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def synthesize(
    text: str,
    voice: str = "en",
    pitch: int = 50,
    rate: int = 175,
    pitch_range: int = 50,
    volume: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Speak ``text`` with espeak-ng; float32 samples in [-1, 1] at :data:`SAMPLE_RATE` Hz.

    ``voice`` is an espeak-ng voice name, optionally with a variant (``"de+f2"``; see
    :func:`voice_variants`). ``pitch`` (base pitch, 0-100, espeak default 50), ``pitch_range`` (intonation
    range, 0-100, default 50), ``rate`` (words per minute, 80-450, default 175) and ``volume`` (0-200, default
    100) are espeak-ng's parameters; ``seed`` seeds its noise generator (breathy and whispered variants). The
    same arguments always give the same samples (module docstring). The output keeps espeak-ng's short
    leading and trailing silence.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    pitch = _check_range("pitch", pitch)
    rate = _check_range("rate", rate)
    pitch_range = _check_range("pitch_range", pitch_range)
    volume = _check_range("volume", volume)
    language, _, variant = voice.partition("+")
    if variant and variant not in voice_variants():
        raise ValueError(f"unknown espeak-ng voice variant {variant!r}; valid: {', '.join(voice_variants())}")
    data = str(data_path()).encode()
    chunks: list[np.ndarray] = []

    def collect(wav, n, _events):
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = _CALLBACK(collect)
    with _lock:
        path = _library_copy()
        try:
            lib = ctypes.CDLL(str(path), mode=getattr(os, "RTLD_LOCAL", 0))
        except OSError as err:
            raise SpeechError(f"cannot load libespeak-ng from {path}: {err}") from err
        try:
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                ctypes.c_void_p, ctypes.c_void_p,
            ]  # fmt: skip
            sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
            if sr != SAMPLE_RATE:
                raise SpeechError(f"espeak_Initialize returned {sr}, expected sample rate {SAMPLE_RATE}")
            try:
                lib.espeak_SetSynthCallback(callback)
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise ValueError(f"espeak-ng has no voice {voice!r} (language {language!r})")
                for param, value in ((_RATE, rate), (_VOLUME, volume), (_PITCH, pitch), (_RANGE, pitch_range)):
                    if lib.espeak_SetParameter(param, value, 0) != 0:
                        raise SpeechError(f"espeak_SetParameter({param}, {value}) failed")
                lib.espeak_ng_SetRandSeed(int(seed))
                raw = text.encode("utf-8") + b"\0"
                err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                if err != 0 or lib.espeak_Synchronize() != 0:
                    raise SpeechError(f"espeak_Synth failed (error {err}) for {text!r} with voice {voice!r}")
            finally:
                lib.espeak_Terminate()
        finally:
            _unload(lib)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples.astype(np.float32) / np.float32(32768.0)


__all__ = ("SAMPLE_RATE", "SpeechError", "available", "data_path", "synthesize", "voice_variants")
