"""What a routed chat is made of: its input, the route that serves it and the pieces of its answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from chat_api.core.problems import Problem
from switchyard.router.v1 import router_pb2
from switchyard_common.chat_vocabulary import KEY_SOURCES

__all__ = ["DEMO_HEADER", "ChatInput", "ChatItem", "Delta", "Failed", "Finished", "Route", "route_of"]

# Only on answers from `make dev`'s demo provider, so production responses are unchanged.
DEMO_HEADER = "X-Switchyard-Demo"


@dataclass(frozen=True, slots=True)
class ChatInput:
    user_id: uuid.UUID
    org_id: uuid.UUID | None
    model: str
    messages: Sequence[router_pb2.Message]
    parameters: router_pb2.Parameters
    quota_exceeded: bool


@dataclass(frozen=True, slots=True)
class Route:
    """Which model and which access answered."""

    provider: str
    model: str
    key_source: str
    credential_id: uuid.UUID | None
    fell_back: bool
    auto_reason: str
    # `make dev`'s demo provider answered, not the real one (with key source platform: demo access).
    demo: bool = False

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Switchyard-Provider": self.provider,
            "X-Switchyard-Model": self.model,
            "X-Switchyard-Key-Source": self.key_source,
        }
        if self.demo:
            headers[DEMO_HEADER] = "true"
        return headers


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class Failed:
    problem: Problem


ChatItem = Delta | Finished | Failed


def route_of(message: router_pb2.Route) -> Route:
    """The router's Route message as a value."""
    return Route(
        provider=message.provider,
        model=message.model,
        # A route always names its access; "platform" would be wrong to assume, so fail loudly instead.
        key_source=KEY_SOURCES[message.key_source],
        credential_id=uuid.UUID(message.credential_id) if message.credential_id else None,
        fell_back=message.fell_back,
        auto_reason=message.auto_reason,
        demo=message.demo,
    )
