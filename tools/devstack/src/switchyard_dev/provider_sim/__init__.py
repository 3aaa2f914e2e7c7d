"""A stand-in for the AI providers that speaks each one's real wire format, on 127.0.0.1.

Tests never call real providers; they point the router (or an official SDK) at this simulator
instead. ``tests/provider_sim/test_simulator.py`` drives it with the official ``openai``,
``anthropic`` and ``google-genai`` SDKs, so what it sends is checked against the SDKs' own types.
`make dev` runs it as the demo provider (``--demo``, see ``demo``), so a newcomer with no provider
account can chat on platform access and on a key of their own.

Base URLs (``ProviderSimulator.base_url``), with each official SDK's meaning of "base URL":

- OpenAI-compatible (openai, mistral, groq, deepseek, xai, together, openrouter):
  ``http://127.0.0.1:PORT/<provider>/v1`` — ``POST {base}/chat/completions``, ``GET {base}/models``,
  ``GET {base}/models/{id}``; key from ``Authorization: Bearer``.
- anthropic: ``http://127.0.0.1:PORT/anthropic`` — ``POST {base}/v1/messages``, ``GET {base}/v1/models``;
  key from ``x-api-key`` or ``Authorization: Bearer`` (what the 2.x SDK sends); ``anthropic-version``
  required.
- google: ``http://127.0.0.1:PORT/google`` — ``POST {base}/v1beta/models/{model}:generateContent``,
  ``:streamGenerateContent?alt=sse`` (without ``alt=sse``: one streamed JSON array),
  ``GET {base}/v1beta/models``; key from ``x-goog-api-key`` (a ``key=`` query parameter works, as
  on the real API, but is recorded in ``violations``).

Replies are deterministic (see ``_text``): the text is ``"echo: " + <last user message>``, one
token per whitespace-led word, one stream delta per token; prompt tokens are the words of every
message (and system prompt). ``max_tokens`` / ``max_completion_tokens`` / ``maxOutputTokens`` cut
the reply with finish reason ``length`` / ``max_tokens`` / ``MAX_TOKENS``; stop sequences
(``stop`` / ``stop_sequences`` / ``stopSequences``) cut it before the first match.

Faults are scripted per provider with ``ProviderSimulator.fail_next`` (error statuses with the
provider's real error body, ``retry_after``, ``echo_key``, ``delay_first_byte``,
``stall_after_events``, ``truncate_after_events``, ``not_json``, ``huge_body_bytes``,
``paced_stream_interval``, ``hold_after_events`` with ``release_held``). Every request is recorded
as a ``RecordedCall``.

Run standalone for manual use or out-of-process load tests:
``python -m switchyard_dev.provider_sim --port 8900``; script it over HTTP with ``POST /_sim/fail_next``
(``{"provider": ..., <fail_next keyword arguments>}``), ``POST /_sim/clear_faults``,
``POST /_sim/valid_keys``, ``POST /_sim/reset``, ``POST /_sim/release_held`` and ``GET /_sim/calls``.
"""

from switchyard_dev.provider_sim._faults import Fault
from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE, PROVIDERS
from switchyard_dev.provider_sim._requests import Endpoint, RecordedCall
from switchyard_dev.provider_sim._text import count_tokens, reply_text, tokens_of
from switchyard_dev.provider_sim.simulator import ProviderSimulator

__all__ = [
    "OPENAI_COMPATIBLE",
    "PROVIDERS",
    "Endpoint",
    "Fault",
    "ProviderSimulator",
    "RecordedCall",
    "count_tokens",
    "reply_text",
    "tokens_of",
]
