"""The demo provider of `make dev`: the simulator, answering any key of its provider's shape.

With no provider account (or no network) a newcomer still gets the whole BYOK story: platform
access for the demo providers, and a key of their own that verifies and chats. A key passes when it
has the shape chat-api itself requires before sealing one (switchyard_common.providers, the one
registry both read);
any other key gets the provider's real authentication error.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchyard_common.providers import PROVIDERS
from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE

__all__ = ["DEMO_PROVIDERS", "KEEP_CALLS", "PLATFORM_KEYS", "accepts_key", "demo_environment"]

# One provider per wire format the simulator speaks: enough to show every path, few enough that the
# model picker still looks like a real deployment's.
DEMO_PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "google")

# The platform's keys under `make dev`: not secrets, only of the right shape.
PLATFORM_KEYS: dict[str, str] = {
    "openai": "sk-switchyard-demo-platform-0000",
    "anthropic": "sk-ant-switchyard-demo-platform-00000000",
    "google": "AIzaSwitchyardDemoPlatform0000000000000",
}

# The simulator records calls for tests; a dev session keeps only the most recent ones.
KEEP_CALLS = 1000


def accepts_key(provider: str, key: str) -> bool:
    """Whether `key` has one of `provider`'s shapes."""
    known = PROVIDERS.get(provider)
    return known is not None and known.accepts(key)


def demo_environment(env: Mapping[str, str], port: int) -> dict[str, str]:
    """The settings for a demo provider on `port`: each demo provider's ROUTER_ base URL and
    platform key, unless `env` gives it a base URL or a platform key of its own (a real one wins),
    and ROUTER_DEMO_PROVIDERS naming the providers the demo serves."""
    served = [
        provider
        for provider in DEMO_PROVIDERS
        if not env.get(f"ROUTER_{provider.upper()}_BASE_URL")
        and not env.get(f"ROUTER_{provider.upper()}_PLATFORM_KEY")
    ]
    settings = {"SWITCHYARD_DEMO_PORT": str(port), "ROUTER_DEMO_PROVIDERS": ",".join(served)}
    for provider in served:
        path = f"{provider}/v1" if provider in OPENAI_COMPATIBLE else provider
        settings[f"ROUTER_{provider.upper()}_BASE_URL"] = f"http://127.0.0.1:{port}/{path}"
        settings[f"ROUTER_{provider.upper()}_PLATFORM_KEY"] = PLATFORM_KEYS[provider]
    return settings
