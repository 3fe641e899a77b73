"""Datasets as ragged spike events (:class:`SpikeData`) and the registry that loads them by name.

Embedded (no network): ``yinyang`` (Kriener et al. 2021, latency-coded as in EventProp), ``digits``
(latency-coded scikit-learn digits), ``spoken-digits`` and ``spoken-commands`` (synthetic speech through a
cochlea model, in the SHD file format). Published: ``shd``, ``ssc``, ``nmnist``, ``mnist``, ``fashion-mnist``.
``python -m spikegrad.data prepare|download NAME --root DIR`` writes or fetches the files.
"""

from .download import DatasetUnavailable
from .registry import DATASETS, SPLITS, download, load, path_for, prepare
from .spikedata import DataError, SpikeData, iter_batches

__all__ = [
    "DATASETS",
    "SPLITS",
    "DataError",
    "DatasetUnavailable",
    "SpikeData",
    "download",
    "iter_batches",
    "load",
    "path_for",
    "prepare",
]
