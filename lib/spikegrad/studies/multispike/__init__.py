"""Multi-spike study (Bacho & Chu, arXiv 2212.09500): multi- vs single-spike training of continuous-time networks
(:class:`spikegrad.eventnet.EventNet`, ``notebooks/multispike.ipynb``, ``rules/multispike.smk``) and the
convergence grid over initial weights (:mod:`.convergence`); :mod:`.tables` and :mod:`.figures` make the study's
outputs."""
