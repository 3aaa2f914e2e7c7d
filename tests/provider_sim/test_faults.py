"""Scripted faults: first in first out per provider, matched by endpoint, spent after `times` calls."""

from __future__ import annotations

import pytest

from switchyard_dev.provider_sim._faults import Fault, FaultScript


def test_faults_are_taken_in_order_and_spent() -> None:
    script = FaultScript()
    first, second = Fault(status=429, remaining=2), Fault(status=500)
    script.add("openai", first)
    script.add("openai", second)
    assert [script.take("openai", "generate") for _ in range(4)] == [first, first, second, None]
    assert (first.hits, first.remaining, second.hits) == (2, 0, 1)


def test_a_fault_applies_only_to_its_endpoint_and_provider() -> None:
    script = FaultScript()
    models = Fault(status=503, endpoint="models")
    script.add("groq", models)
    assert script.take("groq", "generate") is None
    assert script.take("mistral", "models") is None
    assert script.take("groq", None) is None
    assert script.take("groq", "models") is models


def test_an_endless_fault_shadows_later_ones_until_cleared() -> None:
    script = FaultScript()
    endless, later = Fault(status=500, endpoint="any", remaining=None), Fault(status=429)
    script.add("google", endless)
    script.add("google", later)
    assert [script.take("google", "models"), script.take("google", "generate")] == [endless, endless]
    script.clear("google")
    assert script.take("google", "generate") is None


def test_clear_without_a_provider_clears_every_provider() -> None:
    script = FaultScript()
    script.add("openai", Fault(status=500))
    script.add("anthropic", Fault(status=529))
    script.clear()
    assert script.take("openai", "generate") is None
    assert script.take("anthropic", "generate") is None


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault(status=500, remaining=0), "times must be at least 1"),
        (Fault(), "needs a status or at least one fault knob"),
        (Fault(endpoint="any", remaining=None), "needs a status or at least one fault knob"),
    ],
)
def test_a_fault_that_changes_nothing_is_refused(fault: Fault, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FaultScript().add("openai", fault)


def test_only_delivery_knobs_misdeliver() -> None:
    assert not Fault(status=429, retry_after="3").misdelivers
    truncated = Fault(truncate_after_events=2)
    assert truncated.misdelivers
    assert not truncated.waits
    assert Fault(hold_after_events=1).waits
