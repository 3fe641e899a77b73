"""Surrogate-gradient study (Herranz-Celotti & Rouat, arXiv 2202.00282): what the study does to the paper's
recurrent LIF/ALIF network (core: :mod:`spikegrad.sgnet`) before training (:mod:`.prepare`), the four stability
conditions (:mod:`.stability`), the sweep tables (:mod:`.sweeps`), trained through ``notebooks/surrogate.ipynb``
(``rules/surrogate.smk``); :mod:`.tables` and :mod:`.figures` make the study's outputs. The SG shapes themselves
are core (:mod:`spikegrad.surrogate`)."""
