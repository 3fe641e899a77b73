"""Sparse surrogate-gradient backprop study (Perez-Nieves & Goodman, NeurIPS 2021): dense vs sparse training
(:mod:`spikegrad.engines.sparse` through ``notebooks/train.ipynb``) and the backward-pass benchmark
(:mod:`spikegrad.bench.sparse`); :mod:`.tables` and :mod:`.figures` make the study's outputs
(``rules/sparse.smk``)."""
