"""The five papers' studies, one folder each: what a study adds on top of the core (its analyses, tables and figure
functions), called by the thin rules of ``rules/<study>.smk``. The core (models, engines, kernels, losses, data,
training, results, figure style) lives beside this package in :mod:`spikegrad`.

- :mod:`~spikegrad.studies.foundation`: the BPTT training sweep on the three embedded datasets.
- :mod:`~spikegrad.studies.eventprop`: Nowotny, Turner & Knight, arXiv 2212.01232.
- :mod:`~spikegrad.studies.surrogate`: Herranz-Celotti & Rouat, arXiv 2202.00282.
- :mod:`~spikegrad.studies.multispike`: Bacho & Chu, arXiv 2212.09500.
- :mod:`~spikegrad.studies.forwardprop`: Lee, Haghighatshoar & Karbasi, AISTATS 2023.
- :mod:`~spikegrad.studies.sparse`: Perez-Nieves & Goodman, NeurIPS 2021.
"""
