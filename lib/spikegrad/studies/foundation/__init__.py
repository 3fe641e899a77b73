"""The foundation sweep: the grid-time network (:class:`spikegrad.network.SNN`) trained by dense BPTT on the three
embedded datasets over a learning-rate grid (``notebooks/train.ipynb``, ``rules/train.smk``), the base that every
study builds on, and the figure of the synthetic spoken words."""
