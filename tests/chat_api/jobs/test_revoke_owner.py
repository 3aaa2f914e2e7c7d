"""`python -m chat_api.jobs.revoke_owner`: an operator revokes every key (and, for a user, every token)
of one owner; the running chat-api's relay publishes the revocations."""

from __future__ import annotations

import subprocess
import sys

import anyio.to_thread

from switchyard.events.v1 import credentials_pb2
from tests.support.chat_api import ChatApiStack
from tests.support.credentials import credential_row, eventually, outbox_rows, revocations


async def revoke(stack: ChatApiStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chat_api.jobs.revoke_owner", *args]
    env = {"CHAT_API_DATABASE_URL": stack.database_url, "PATH": "/usr/bin:/bin"}
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    )


async def test_a_user_loses_every_key_and_token_and_routers_hear_of_it(stack: ChatApiStack) -> None:
    user, bystander = await stack.register(), await stack.register()
    keys = [await stack.add_key(user, provider) for provider in ("openai", "anthropic", "groq")]
    kept = await stack.add_key(bystander, "openai")

    done = await revoke(stack, "--user", user.id)
    assert done.returncode == 0, done.stderr
    assert "3 keys and 1 tokens revoked" in done.stderr + done.stdout
    for key in keys:
        assert credential_row(stack, key["id"]) is None
    assert credential_row(stack, kept["id"]) is not None
    assert (await stack.http.get("/v1/me", headers=user.headers)).status_code == 401

    async def all_published() -> bool:
        rows = outbox_rows(stack)
        return len(rows) == 3 and all(row.published_at is not None for row in rows)

    await eventually(all_published, what="the relay to publish the operator's revocations")
    events = [credentials_pb2.CredentialRevoked.FromString(r.payload) for r in outbox_rows(stack)]
    assert {e.credential_id for e in events} == {key["id"] for key in keys}
    assert {e.reason for e in events} == {"revoked by an operator"}
    assert {e.credential_id for e in await revocations(stack.nats.url)} >= {key["id"] for key in keys}

    again = await revoke(stack, "--user", user.id)
    assert again.returncode == 0, again.stderr
    assert "0 keys and 0 tokens revoked" in again.stderr + again.stdout


async def test_bad_arguments_and_an_unreachable_database_are_one_line(stack: ChatApiStack) -> None:
    no_owner = await revoke(stack, "--user", "not-a-uuid")
    assert no_owner.returncode == 2
    env = {"CHAT_API_DATABASE_URL": "postgresql+psycopg://u:secret-pw@127.0.0.1:1/x", "PATH": "/usr/bin"}
    command = [
        sys.executable,
        "-m",
        "chat_api.jobs.revoke_owner",
        "--org",
        "00000000-0000-0000-0000-000000000001",
    ]
    down = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    )
    assert down.returncode != 0
    assert "database unreachable" in down.stderr
    assert "secret-pw" not in down.stderr
