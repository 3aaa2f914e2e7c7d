"""router.proto's chat enums and the words the router and chat-api use for them, each map once.

The words are the domain's: the router's `Role` and `Source`, chat-api's stored rows (message roles,
usage key sources) and its X-Switchyard-Key-Source header. Each `*_MESSAGES` map turns a word into
the enum; its inverse reads the enum back.
"""

from __future__ import annotations

from switchyard.router.v1 import router_pb2

__all__ = [
    "FINISH_REASONS",
    "FINISH_REASON_MESSAGES",
    "KEY_SOURCES",
    "KEY_SOURCE_MESSAGES",
    "ROLES",
    "ROLE_MESSAGES",
]

ROLE_MESSAGES: dict[str, router_pb2.Role] = {
    "system": router_pb2.ROLE_SYSTEM,
    "user": router_pb2.ROLE_USER,
    "assistant": router_pb2.ROLE_ASSISTANT,
}
ROLES: dict[router_pb2.Role, str] = {message: role for role, message in ROLE_MESSAGES.items()}

# Which access answered a chat: the caller's key, the org's, or the platform's own.
KEY_SOURCE_MESSAGES: dict[str, router_pb2.KeySource] = {
    "user": router_pb2.KEY_SOURCE_USER,
    "org": router_pb2.KEY_SOURCE_ORG,
    "platform": router_pb2.KEY_SOURCE_PLATFORM,
}
KEY_SOURCES: dict[router_pb2.KeySource, str] = {
    message: source for source, message in KEY_SOURCE_MESSAGES.items()
}

FINISH_REASON_MESSAGES: dict[str, router_pb2.FinishReason] = {
    "stop": router_pb2.FINISH_REASON_STOP,
    "length": router_pb2.FINISH_REASON_LENGTH,
    "content_filter": router_pb2.FINISH_REASON_CONTENT_FILTER,
    "other": router_pb2.FINISH_REASON_OTHER,
}
FINISH_REASONS: dict[router_pb2.FinishReason, str] = {
    message: reason for reason, message in FINISH_REASON_MESSAGES.items()
}
