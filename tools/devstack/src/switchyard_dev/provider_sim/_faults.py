"""Scripted faults: what `ProviderSimulator.fail_next` queues, and which call each one hits."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from switchyard_dev.provider_sim._requests import Endpoint


@dataclass(slots=True)
class Fault:
    """A scripted misbehaviour; see `ProviderSimulator.fail_next`. `remaining` None means until cleared."""

    status: int | None = None
    message: str | None = None
    retry_after: str | None = None
    echo_key: bool = False
    delay_first_byte: float = 0.0
    stall_after_events: int | None = None
    truncate_after_events: int | None = None
    not_json: bool = False
    huge_body_bytes: int | None = None
    paced_stream_interval: float = 0.0
    hold_after_events: int | None = None
    endpoint: Endpoint = "generate"
    remaining: int | None = 1
    hits: int = 0

    @property
    def waits(self) -> bool:
        """Whether sending the reply waits at some point (so a client disconnect must be watched for)."""
        return (
            self.delay_first_byte > 0
            or self.stall_after_events is not None
            or self.paced_stream_interval > 0
            or self.hold_after_events is not None
        )

    @property
    def misdelivers(self) -> bool:
        """Whether the reply is sent other than promptly and whole."""
        return self.waits or self.truncate_after_events is not None


class FaultScript:
    """The faults queued for each provider, first in first out."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, provider: str, fault: Fault) -> None:
        """Queue `fault` for `provider`'s calls; refuse one that would change nothing."""
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("times must be at least 1, or None for 'until cleared'")
        if fault == Fault(endpoint=fault.endpoint, remaining=fault.remaining):
            raise ValueError("fail_next needs a status or at least one fault knob")
        self._queues.setdefault(provider, deque()).append(fault)

    def clear(self, provider: str | None = None) -> None:
        """Drop `provider`'s queued faults (None: every provider's)."""
        if provider is None:
            self._queues.clear()
        else:
            self._queues.pop(provider, None)

    def take(self, provider: str, endpoint: Endpoint | None) -> Fault | None:
        """The first queued fault for a call to `provider`'s `endpoint`, counted as one of its hits."""
        queue = self._queues.get(provider)
        if not queue or endpoint is None:
            return None
        for index, fault in enumerate(queue):
            if fault.endpoint in ("any", endpoint):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del queue[index]
                return fault
        return None
