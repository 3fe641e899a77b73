"""The one engine registry (spikegrad.engines): every engine is found by name in its family, unknown names are
refused with the choices, and a spike buffer that overflows raises the one BufferOverflow in both families."""

import pytest

from spikegrad.bench.training_step import RESETS
from spikegrad.engines import CONTINUOUS_ENGINES, ENGINES, GRID_ENGINES, BufferOverflow, eventprop, events, get_engine
from spikegrad.eventnet import EventNet
from spikegrad.model import Layer, NetworkSpec


def test_every_engine_is_registered_once_in_one_family():
    assert set(GRID_ENGINES) == {"bptt", "eventprop", "sparse"}
    assert list(CONTINUOUS_ENGINES) == ["spiketime", "adjoint", "forwardprop"]
    assert ENGINES == {**GRID_ENGINES, **CONTINUOUS_ENGINES} and not set(GRID_ENGINES) & set(CONTINUOUS_ENGINES)
    assert get_engine("sparse") is GRID_ENGINES["sparse"]
    assert get_engine("adjoint", CONTINUOUS_ENGINES) is CONTINUOUS_ENGINES["adjoint"]
    assert set(RESETS) == set(GRID_ENGINES)  # the training-step benchmark covers every grid engine


def test_unknown_or_wrong_family_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown engine 'spiketime'; choose one of \['bptt', 'eventprop', 'sparse'"):
        get_engine("spiketime")
    spec = NetworkSpec(input_shape=(2,), layers=(Layer(2),))
    with pytest.raises(ValueError, match="unknown engine 'bptt'; choose one of"):
        EventNet(spec, engine="bptt")


def test_one_buffer_overflow_for_both_families():
    assert eventprop.BufferOverflow is events.BufferOverflow is BufferOverflow
    assert issubclass(BufferOverflow, RuntimeError)
