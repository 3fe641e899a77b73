"""Forward-propagation study (Lee, Haghighatshoar & Karbasi, AISTATS 2023): the agreement of the exact gradient
engines with each other and with finite differences (:mod:`.agreement`) and the cost of forward propagation
against reverse mode (:mod:`spikegrad.bench.forwardprop`, figure in :mod:`.figures`); ``rules/forwardprop.smk``."""
