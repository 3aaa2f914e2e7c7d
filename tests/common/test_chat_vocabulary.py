"""router.proto's chat enums: every value but UNSPECIFIED has one word, and each map inverts the other."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from switchyard.router.v1 import router_pb2
from switchyard_common.chat_vocabulary import (
    FINISH_REASON_MESSAGES,
    FINISH_REASONS,
    KEY_SOURCE_MESSAGES,
    KEY_SOURCES,
    ROLE_MESSAGES,
    ROLES,
)


@pytest.mark.parametrize(
    ("enum", "messages", "words"),
    [
        (router_pb2.Role, ROLE_MESSAGES, ROLES),
        (router_pb2.KeySource, KEY_SOURCE_MESSAGES, KEY_SOURCES),
        (router_pb2.FinishReason, FINISH_REASON_MESSAGES, FINISH_REASONS),
    ],
    ids=["role", "key_source", "finish_reason"],
)
def test_each_enum_value_has_one_word(
    enum: EnumTypeWrapper, messages: Mapping[str, int], words: Mapping[int, str]
) -> None:
    assert set(words) == set(enum.values()) - {0}
    assert len(messages) == len(words)
    assert {messages[word]: word for word in words.values()} == dict(words)
