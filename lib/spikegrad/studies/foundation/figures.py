"""Figure of the synthetic spoken words: cochleagram and spike raster of a few words of one test speaker."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from spikegrad import plots
from spikegrad.data import spoken
from spikegrad.data.cochlea import filterbank_envelope
from spikegrad.data.shd_format import read_shd
from spikegrad.data.speech import SAMPLE_RATE


def spoken_samples(test_path: Path, name: str, seed: int) -> plt.Figure:
    """Four words (labels spread over the classes) of the first test speaker of the spoken-word set ``name``
    generated with ``seed``: the cochleagram recomputed from the utterance and the spikes in ``test_path``."""
    data = read_shd(test_path, name)
    speaker = spoken.speakers_for("test", 1, seed=seed)[0]
    labels = np.linspace(0, data.n_classes - 1, 4).round().astype(int)
    panels = []
    for k in labels:
        # samples are ordered by speaker, repetition, label: the first speaker's first repetition of word k is k
        assert data.labels[k] == k and data.meta["speaker"][k] == speaker.id, "unexpected sample order"
        env, frame_times, freqs = filterbank_envelope(spoken.utterance(name, k, speaker, 0), SAMPLE_RATE)
        sl = slice(data.offsets[k], data.offsets[k + 1])
        panels.append(dict(word=data.meta["keys"][k], envelope=env, frame_times=frame_times, frequencies=freqs,
                           spike_times=data.times[sl], spike_units=data.units[sl]))  # fmt: skip
    return plots.spoken_samples(panels)
