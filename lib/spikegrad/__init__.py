"""spikegrad: exact and surrogate gradients for spiking neural networks.

A replication package for EventProp with loss shaping, surrogate-gradient design, multi-spike exact backprop,
forward propagation of exact gradients and sparse surrogate-gradient backprop. See the repository README.
"""

import sys

__version__ = "0.1.0"

# jsonschema (imported by nbformat in every notebook job and by the config and sweep checks in every Snakemake
# process, each table and figure job included) builds the grammar of the optional rfc3987-syntax package at import
# time: 0.8 s for an IRI format check that spikegrad never makes. Marking the module absent makes jsonschema skip
# that one checker (it guards the import with ImportError).
sys.modules.setdefault("rfc3987_syntax", None)
