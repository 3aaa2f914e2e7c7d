"""Tell chat-api (over NATS) that a provider rejected a stored credential, so it is marked invalid."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from nats.js import JetStreamContext

from router.resolution import Candidate
from switchyard.events.v1 import credentials_pb2
from switchyard_common.bindings import OWNER_TYPE_MESSAGES
from switchyard_common.events import publish_credential_invalid

__all__ = ["InvalidCredentialReporter"]

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2.0


class InvalidCredentialReporter:
    """Best effort: the user's request already fails with "key rejected"; chat-api also sees
    that error type directly. A lost event only delays marking the key invalid."""

    def __init__(self, jetstream: Callable[[], JetStreamContext | None]) -> None:
        self._jetstream = jetstream

    async def __call__(self, credential: Candidate, status: int | None) -> None:
        js = self._jetstream()
        if js is None:
            logger.warning("cannot report credential %s invalid: NATS unavailable", credential.credential_id)
            return
        event = credentials_pb2.CredentialInvalid(
            event_id=str(uuid.uuid4()),
            credential_id=credential.credential_id,
            owner_type=OWNER_TYPE_MESSAGES[credential.binding.owner_type],
            owner_id=credential.binding.owner_id,
            provider=credential.provider,
            provider_status=status or 0,
        )
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await publish_credential_invalid(js, event)
        except Exception as exc:
            logger.warning(
                "cannot report credential %s invalid: %s", credential.credential_id, type(exc).__name__
            )
        else:
            logger.info(
                "reported credential %s invalid (provider status %s)", credential.credential_id, status
            )
