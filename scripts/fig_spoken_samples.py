"""Figure: cochleagram and spike raster of a few words of a synthetic spoken-word set (one test speaker)."""

import numpy as np

from spikegrad import plots
from spikegrad.data import spoken
from spikegrad.data.cochlea import filterbank_envelope
from spikegrad.data.shd_format import read_shd
from spikegrad.data.speech import SAMPLE_RATE

sm = snakemake  # noqa: F821 (injected by Snakemake)
name = sm.wildcards.dataset
data = read_shd(sm.input.test, name)
speaker = spoken.speakers_for("test", 1, seed=int(sm.params.seed))[0]
labels = np.linspace(0, data.n_classes - 1, 4).round().astype(int)
panels = []
for k in labels:
    # samples are ordered by speaker, repetition, label: the first speaker's first repetition of word k is k
    assert data.labels[k] == k and data.meta["speaker"][k] == speaker.id, "unexpected sample order"
    env, frame_times, freqs = filterbank_envelope(spoken.utterance(name, k, speaker, 0), SAMPLE_RATE)
    sl = slice(data.offsets[k], data.offsets[k + 1])
    panels.append(dict(word=data.meta["keys"][k], envelope=env, frame_times=frame_times, frequencies=freqs,
                       spike_times=data.times[sl], spike_units=data.units[sl]))  # fmt: skip
plots.save(plots.spoken_samples(panels), sm.output[0])
