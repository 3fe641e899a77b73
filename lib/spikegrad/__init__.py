"""spikegrad: exact and surrogate gradients for spiking neural networks.

A replication package for EventProp with loss shaping, surrogate-gradient design, multi-spike exact backprop,
forward propagation of exact gradients and sparse surrogate-gradient backprop. See the repository README.
"""

__version__ = "0.1.0"
