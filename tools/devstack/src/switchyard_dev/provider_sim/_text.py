"""The simulator's deterministic "model": what it answers, and how it counts tokens.

The reply to a request is ``"echo: " + <text of the last user message>`` with trailing whitespace
removed. A *token* is a run of non-whitespace together with the whitespace before it, so
``"echo: hello world"`` is the three tokens ``"echo:"``, ``" hello"``, ``" world"``; a streamed reply
sends one token per content delta. Prompt tokens are the whitespace-separated words of every text
in the request (system prompt and all messages). Tests can therefore compute exact content and
usage from what they sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

REPLY_PREFIX = "echo: "
HUGE_DELTA_CHARS = 16 * 1024
_TOKEN = re.compile(r"\s*\S+")
_FILLER = "lorem ipsum dolor sit amet "

Finish = Literal["stop", "length", "stop_sequence"]


def count_tokens(text: str) -> int:
    """Prompt-side token count: whitespace-separated words."""
    return len(text.split())


def tokens_of(text: str) -> list[str]:
    """Completion-side tokens: each word with the whitespace before it."""
    return _TOKEN.findall(text)


def reply_text(prompt: str) -> str:
    """The full, untruncated reply to a prompt."""
    return "".join(tokens_of(REPLY_PREFIX + prompt))


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    deltas: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    finish: Finish
    stop_sequence: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def generate(
    prompt: str,
    *,
    prompt_tokens: int,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    huge_bytes: int | None = None,
) -> Generation:
    """The reply to `prompt`, cut by the first stop sequence or by `max_tokens`, whichever comes first.

    `huge_bytes` replaces the reply with that many bytes of filler text (sent in 16 KiB deltas when
    streamed); it ignores `max_tokens` and `stop`.
    """
    if huge_bytes is not None:
        text = (_FILLER * (huge_bytes // len(_FILLER) + 1))[:huge_bytes]
        deltas = tuple(text[i : i + HUGE_DELTA_CHARS] for i in range(0, len(text), HUGE_DELTA_CHARS))
        return Generation(text, deltas, prompt_tokens, count_tokens(text), "stop")

    full = REPLY_PREFIX + prompt
    hit: tuple[int, str] | None = None
    for sequence in stop:
        if not sequence:
            continue
        at = full.find(sequence)
        if at >= 0 and (hit is None or at < hit[0]):
            hit = (at, sequence)
    pieces = tokens_of(full if hit is None else full[: hit[0]])
    finish: Finish = "stop"
    stop_sequence: str | None = None
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces = pieces[: max(max_tokens, 0)]
        finish = "length"
    elif hit is not None:
        finish = "stop_sequence"
        stop_sequence = hit[1]
    return Generation("".join(pieces), tuple(pieces), prompt_tokens, len(pieces), finish, stop_sequence)
