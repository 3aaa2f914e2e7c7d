"""The size limits of one chat request: how many messages, and how much content in all of them."""

from __future__ import annotations

from collections.abc import Sequence

from chat_api.core.config import Settings
from chat_api.core.problems import ChatTooLarge
from switchyard.router.v1 import router_pb2

__all__ = ["check_chat_size"]


def check_chat_size(messages: Sequence[router_pb2.Message], settings: Settings) -> None:
    """422 `chat-too-large` past `max_chat_messages` or `max_chat_content_chars` (images count bytes)."""
    if len(messages) > settings.max_chat_messages:
        raise ChatTooLarge(
            f"{len(messages)} messages is more than the {settings.max_chat_messages} one chat request may"
            " carry; start a new conversation or send fewer messages"
        )
    size = 0
    for message in messages:
        for part in message.parts:
            size += len(part.text) + len(part.image.data) + len(part.image.url)
    if size > settings.max_chat_content_chars:
        raise ChatTooLarge(
            f"the messages hold {size} characters, more than the {settings.max_chat_content_chars} one"
            " chat request may carry; start a new conversation or send less"
        )
