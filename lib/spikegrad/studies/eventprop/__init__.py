"""EventProp study (Nowotny, Turner & Knight, arXiv 2212.01232): losses, recurrence, augmentation, gradient flow
and spike deletion, trained with :mod:`spikegrad.engines.eventprop` through ``notebooks/train.ipynb``
(``rules/eventprop.smk``). :mod:`.gradient_flow` analyses trained runs, :mod:`.tables` and :mod:`.figures` make
the study's outputs."""
