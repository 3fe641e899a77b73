"""Datasets as ragged spike events (:class:`SpikeData`) and the registry that loads them by name.

Embedded datasets (no network): ``yinyang`` (Kriener et al. 2021, latency-coded as in EventProp) and
``digits`` (latency-coded scikit-learn digits). ``python -m spikegrad.data prepare NAME --root DIR`` writes
their splits.
"""

from .registry import DATASETS, SPLITS, load, path_for, prepare
from .spikedata import DataError, SpikeData, iter_batches

__all__ = ["DATASETS", "SPLITS", "DataError", "SpikeData", "iter_batches", "load", "path_for", "prepare"]
