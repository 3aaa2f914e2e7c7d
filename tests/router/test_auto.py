"""The "auto" model choice: a table of requests and reachable providers → model and reason."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence

import pytest

from router.auto import (
    CODING_RANKING,
    FAST_RANKING,
    IMAGE_TOKENS,
    LONG_CONTEXT_RANKING,
    REASON_CODE,
    REASON_CODE_FALLBACK,
    REASON_FAST,
    REASON_FAST_FALLBACK,
    REASON_LONG,
    REASON_LONG_FALLBACK,
    REASON_VISION,
    VISION_RANKING,
    AutoChoice,
    NoReachableModel,
    choose_model,
    estimate_prompt_tokens,
    has_images,
    looks_like_code,
)
from router.catalog import Catalog, CatalogModel, load_catalog
from router.providers.base import ChatMessage, ImageInput
from switchyard_common.providers import PROVIDERS

ALL = frozenset(PROVIDERS)
IMAGE = ImageInput(media_type="image/png", data=b"\x89PNG\r\n")
FENCED = "Why does this fail?\n```python\nprint(1 / 0)\n```"
CODE_LINES = "def add(a, b):\n    return a + b\nimport os\nfrom pathlib import Path\n"
TRACEBACK = 'Traceback (most recent call last):\n  File "app.py", line 3\nZeroDivisionError'


def tokens(count: int) -> str:
    """Text the estimator counts as exactly `count` tokens."""
    return "word" * count


def ask(*parts: str | ImageInput, system: str | None = None) -> list[ChatMessage]:
    messages = [ChatMessage("system", (system,))] if system else []
    return [*messages, ChatMessage("user", parts)]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def entry(catalog: Catalog, model_id: str) -> CatalogModel:
    found = catalog.get(model_id)
    assert found is not None, model_id
    return found


CHOICES = [
    # images → best reachable vision model
    pytest.param(
        ask("what is this?", IMAGE), ALL, "google/gemini-3.1-pro-preview", REASON_VISION, id="image"
    ),
    pytest.param(
        ask("describe", IMAGE),
        {"anthropic", "deepseek"},
        "anthropic/claude-sonnet-5-5",
        REASON_VISION,
        id="image-anthropic",
    ),
    pytest.param(
        ask(IMAGE),
        {"groq", "deepseek"},
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        REASON_VISION,
        id="image-groq-only-vision",
    ),
    pytest.param(
        ask(IMAGE),
        {"openrouter"},
        "openrouter/anthropic/claude-sonnet-5.5",
        REASON_VISION,
        id="image-openrouter",
    ),
    pytest.param(
        ask(FENCED, IMAGE), ALL, "google/gemini-3.1-pro-preview", REASON_VISION, id="image-beats-code"
    ),
    pytest.param(
        ask(tokens(300_000), IMAGE),
        {"mistral", "together"},
        "together/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        REASON_VISION,
        id="image-long-skips-small-window",
    ),
    # long prompt (does not fit the fast model) → long-context model that fits
    pytest.param(
        ask(tokens(200_000)),
        {"groq", "mistral"},
        "mistral/mistral-large-latest",
        REASON_LONG,
        id="long-groq-mistral",
    ),
    pytest.param(ask(tokens(600_000)), {"openai"}, "openai/gpt-5.4", REASON_LONG, id="long-openai"),
    pytest.param(
        ask(tokens(1_045_000)), ALL, "openai/gpt-5.4", REASON_LONG, id="long-only-the-largest-window-fits"
    ),
    pytest.param(
        ask(FENCED + tokens(200_000)),
        {"groq", "mistral"},
        "mistral/mistral-large-latest",
        REASON_LONG,
        id="long-beats-code",
    ),
    pytest.param(
        ask(tokens(200_000)), ALL, "google/gemini-3.1-flash-lite", REASON_FAST, id="200k-fits-the-fast-model"
    ),
    # code → strong coding model
    pytest.param(ask(FENCED), ALL, "anthropic/claude-sonnet-5-5", REASON_CODE, id="code-fence"),
    pytest.param(ask(CODE_LINES), {"openai"}, "openai/gpt-5.4", REASON_CODE, id="code-lines-openai"),
    pytest.param(ask(TRACEBACK), {"groq"}, "groq/openai/gpt-oss-120b", REASON_CODE, id="traceback-groq"),
    pytest.param(ask(FENCED), {"deepseek"}, "deepseek/deepseek-v4-pro", REASON_CODE, id="code-deepseek"),
    pytest.param(
        ask(FENCED),
        {"together", "groq"},
        "together/Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
        REASON_CODE,
        id="code-together-ranks-above-groq",
    ),
    pytest.param(
        ask("and this?", system=FENCED), {"xai"}, "xai/grok-4.5", REASON_CODE, id="code-in-an-earlier-message"
    ),
    # everything else → fast general model
    pytest.param(ask("hi"), ALL, "google/gemini-3.1-flash-lite", REASON_FAST, id="general"),
    pytest.param(ask("hi"), {"groq"}, "groq/llama-3.3-70b-versatile", REASON_FAST, id="general-groq"),
    pytest.param(ask("hi"), {"deepseek"}, "deepseek/deepseek-v4-flash", REASON_FAST, id="general-deepseek"),
    pytest.param(
        ask("hi"), {"xai", "openrouter"}, "xai/grok-4.20-0309-non-reasoning", REASON_FAST, id="general-xai"
    ),
    pytest.param(
        ask("hi"),
        {"together"},
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        REASON_FAST,
        id="general-together",
    ),
    pytest.param(
        ask("hi"),
        {"anthropic", "deepseek", "mistral"},
        "anthropic/claude-haiku-4-5",
        REASON_FAST,
        id="general-ranking-not-price",
    ),
    pytest.param(
        ask("hi"),
        {"cohere", "mistral"},
        "mistral/mistral-small-latest",
        REASON_FAST,
        id="unknown-provider-ignored",
    ),
    pytest.param(
        ask("Let me know which class to take; I'd import tea from India."),
        {"openai"},
        "openai/gpt-5.4-nano",
        REASON_FAST,
        id="prose-is-not-code",
    ),
]


@pytest.mark.parametrize(("messages", "reachable", "model_id", "reason"), CHOICES)
def test_choice(
    catalog: Catalog, messages: Sequence[ChatMessage], reachable: Collection[str], model_id: str, reason: str
) -> None:
    choice = choose_model(messages, reachable, catalog)
    assert (choice.model.id, choice.reason) == (model_id, reason)
    assert choice.model is catalog.get(model_id)
    assert choice.model.provider in reachable


NO_CHOICE = [
    pytest.param(ask("hi"), set(), "no model is reachable", id="nothing-reachable"),
    pytest.param(ask("hi"), {"cohere"}, "no model is reachable", id="only-unknown-providers"),
    pytest.param(
        ask("what is this?", IMAGE),
        {"deepseek"},
        "image input needs a vision model, and no reachable provider offers one",
        id="image-without-vision-model",
    ),
    pytest.param(
        ask(tokens(200_000)),
        {"groq"},
        r"too long: no reachable model fits a prompt of about 200,000 tokens "
        r"\(largest reachable context window: 131,072 tokens\)",
        id="long-groq",
    ),
    pytest.param(
        ask(tokens(300_000)), {"mistral"}, "largest reachable context window: 262,144", id="long-mistral"
    ),
    pytest.param(ask(tokens(2_500_000)), ALL, "about 2,500,000 tokens", id="longer-than-any-window"),
    pytest.param(
        ask(tokens(1_100_000), IMAGE),
        ALL,
        "image input needs a vision model: no reachable model fits",
        id="image-too-long",
    ),
]


@pytest.mark.parametrize(("messages", "reachable", "message"), NO_CHOICE)
def test_no_reachable_model(
    catalog: Catalog, messages: Sequence[ChatMessage], reachable: Collection[str], message: str
) -> None:
    with pytest.raises(NoReachableModel, match=message):
        choose_model(messages, reachable, catalog)


@pytest.mark.parametrize("messages", [ask("hi"), ask(FENCED), ask(IMAGE), ask(tokens(200_000))])
def test_same_input_same_choice_whatever_the_set_order(catalog: Catalog, messages: list[ChatMessage]) -> None:
    providers = ["groq", "anthropic", "deepseek", "mistral", "together"]
    choices = {choose_model(messages, order, catalog) for order in itertools.permutations(providers)}
    choices |= {
        choose_model(messages, kind(providers), catalog) for kind in (set, frozenset, tuple, dict.fromkeys)
    }
    assert len(choices) == 1


@pytest.mark.parametrize(("messages", "reachable", "model_id", "reason"), CHOICES)
def test_choice_does_not_depend_on_catalog_order(
    catalog: Catalog, messages: Sequence[ChatMessage], reachable: Collection[str], model_id: str, reason: str
) -> None:
    reversed_catalog = Catalog(reversed(catalog.all()), version=catalog.version)
    assert choose_model(messages, reachable, reversed_catalog) == AutoChoice(entry(catalog, model_id), reason)


RANKINGS = {
    "vision": VISION_RANKING,
    "long_context": LONG_CONTEXT_RANKING,
    "coding": CODING_RANKING,
    "fast": FAST_RANKING,
}


@pytest.mark.parametrize(("capability", "ranking"), RANKINGS.items(), ids=RANKINGS)
def test_rankings_name_capable_catalog_models_once(
    catalog: Catalog, capability: str, ranking: tuple[str, ...]
) -> None:
    assert len(ranking) == len(set(ranking))
    for model_id in ranking:
        model = catalog.get(model_id)
        assert model is not None, model_id
        assert capability in model.capabilities, model_id


@pytest.mark.parametrize(("capability", "ranking"), RANKINGS.items(), ids=RANKINGS)
def test_rankings_cover_every_provider_that_has_such_a_model(
    catalog: Catalog, capability: str, ranking: tuple[str, ...]
) -> None:
    offering = {model.provider for model in catalog.all() if capability in model.capabilities}
    assert {model_id.split("/", 1)[0] for model_id in ranking} == offering


def test_fast_and_coding_rankings_cover_all_nine_providers() -> None:
    for ranking in (FAST_RANKING, CODING_RANKING):
        assert {model_id.split("/", 1)[0] for model_id in ranking} == ALL


def model(model_id: str, *capabilities: str, window: int = 128_000, price: float = 1.0) -> CatalogModel:
    provider, _, name = model_id.partition("/")
    return CatalogModel(
        id=model_id,
        provider=provider,
        provider_model=name,
        display_name=name,
        context_window=window,
        max_output_tokens=min(window, 8_192),
        input_price_per_mtok=price,
        output_price_per_mtok=price,
        capabilities=frozenset(capabilities),
    )


def custom(*models: CatalogModel) -> Catalog:
    return Catalog(models, version="test")


def test_unranked_models_follow_cheapest_first_then_by_id() -> None:
    catalog = custom(
        model("groq/b", "fast", price=0.5), model("groq/a", "fast", price=0.5), model("groq/c", "fast")
    )
    assert choose_model(ask("hi"), {"groq"}, catalog) == AutoChoice(entry(catalog, "groq/a"), REASON_FAST)


def test_general_falls_back_to_the_cheapest_model_when_none_is_fast() -> None:
    catalog = custom(model("groq/dear", "tools", price=3.0), model("groq/cheap", "tools", price=0.2))
    choice = choose_model(ask("hi"), {"groq"}, catalog)
    assert (choice.model.id, choice.reason) == ("groq/cheap", REASON_FAST_FALLBACK)


def test_code_falls_back_to_the_fast_model_when_no_coding_model_is_reachable() -> None:
    catalog = custom(model("groq/quick", "fast"), model("mistral/coder", "coding"))
    choice = choose_model(ask(FENCED), {"groq"}, catalog)
    assert (choice.model.id, choice.reason) == ("groq/quick", REASON_CODE_FALLBACK)


def test_code_falls_back_when_the_coding_model_is_too_small() -> None:
    catalog = custom(
        model("groq/quick", "fast", window=200_000), model("groq/coder", "coding", window=32_000)
    )
    choice = choose_model(ask(FENCED + tokens(50_000)), {"groq"}, catalog)
    assert (choice.model.id, choice.reason) == ("groq/quick", REASON_CODE_FALLBACK)


def test_long_prompt_without_long_context_model_takes_the_largest_window_that_fits() -> None:
    catalog = custom(
        model("groq/small", "fast", window=32_000),
        model("groq/medium", "tools", window=100_000),
        model("groq/large", "tools", window=150_000, price=9.0),
    )
    choice = choose_model(ask(tokens(60_000)), {"groq"}, catalog)
    assert (choice.model.id, choice.reason) == ("groq/large", REASON_LONG_FALLBACK)


def test_unranked_vision_model_is_used_and_a_blind_model_never_is() -> None:
    catalog = custom(model("groq/blind", "fast", price=0.01), model("groq/eyes", "vision", price=5.0))
    assert choose_model(ask(IMAGE), {"groq"}, catalog).model.id == "groq/eyes"
    with pytest.raises(NoReachableModel, match="vision model"):
        choose_model(ask(IMAGE), {"groq"}, custom(model("groq/blind", "fast")))


def test_ranked_model_without_the_capability_is_skipped() -> None:
    # Data drift: a ranked id that lost its "vision" tag must not be chosen for an image.
    catalog = custom(model("google/gemini-3.1-pro-preview", "tools"), model("groq/eyes", "vision"))
    assert choose_model(ask(IMAGE), ALL, catalog).model.id == "groq/eyes"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], 0),
        (ask(""), 0),
        (ask("abcd"), 1),
        (ask("abcde"), 2),
        (ask("ab", "cd", system="efgh"), 2),
        (ask(IMAGE), IMAGE_TOKENS),
        (ask("abcd", IMAGE, IMAGE), 1 + 2 * IMAGE_TOKENS),
        (ask(tokens(123_456)), 123_456),
    ],
)
def test_prompt_token_estimate(messages: list[ChatMessage], expected: int) -> None:
    assert estimate_prompt_tokens(messages) == expected


def test_has_images() -> None:
    assert has_images(ask("x", IMAGE))
    assert has_images([*ask("x"), ChatMessage("user", (ImageInput(url="https://example.com/a.png"),))])
    assert not has_images(ask("x", "y"))


@pytest.mark.parametrize(
    "text",
    [
        FENCED,
        "inline ```x``` fence",
        TRACEBACK,
        CODE_LINES,
        "const a = 1;\nlet b = 2;\nfunction f(x) {\n  return x;\n}",
        '#include <stdio.h>\nint main(void) {\n  printf("hi");\n}',
        "SELECT id FROM users;\nUPDATE users SET name = 'x';\nDELETE FROM users WHERE id = 1;",
        "class Foo:\n    pass\nasync def run(x):\n    ...\nimport asyncio",
    ],
)
def test_code_is_detected(text: str) -> None:
    assert looks_like_code(ask(text))


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Summarise this: the class met at noon; everyone came.\nThen we left.",
        "def f(x):\n    return x",  # two code-like lines are not enough on their own
        "Please import the data from the spreadsheet and make a chart.",
        "I use `grep` and `ls` every day.",
    ],
)
def test_prose_is_not_code(text: str) -> None:
    assert not looks_like_code(ask(text))
