"""Mock mode: a client that answers from the API document without a server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import lexecon
import lukhas_sdk
import orrery_lumen
import orrery_lunaos


def test_answers_every_operation_from_examples() -> None:
    c = lexecon.LexeconClient(mock=True, api_key="k")
    decision = c.decide("model", "Search", "web_search")
    assert isinstance(decision, lexecon.Decision)
    assert decision._request_id == "req_mock"
    assert c.get_policy().loaded_at.year == 2026
    page = c.get_ledger(limit=10)
    assert len(page) == 1 and isinstance(page[0], lexecon.LedgerEntry)
    assert c.health_check().status
    assert c.verify("cap_x").valid is True


def test_checks_credentials_and_required_fields_like_the_server() -> None:
    anonymous = lexecon.LexeconClient(mock=True, api_key="")
    with pytest.raises(lexecon.AuthenticationError):
        anonymous.get_policy()
    assert anonymous.health_check().status  # public
    c = lukhas_sdk.LukhasClient(mock=True)
    with pytest.raises(lukhas_sdk.BadRequestError) as caught:
        c.request("token", lukhas_sdk.Token, body={"username": "u@example.com"})
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.message == "Missing required field: password"
    assert c.auth.token("u@example.com", "pw").token_type


def test_overrides_choose_answers() -> None:
    def denied(request: httpx.Request) -> tuple[int, Any]:
        return 403, {"error": "No", "code": "pro_required"}

    c = orrery_lunaos.LunaosClient(
        mock={"me": {"data": {"id": "u", "email": "x@y.z", "tier": "team", "created_at": "2026-01-01T00:00:00Z"}}, "list": denied},
        access_token="t",
    )
    assert c.auth.me().tier == "team"
    with pytest.raises(orrery_lunaos.ProRequiredError):
        c.api_keys.list()


def test_async_mock() -> None:
    async def run() -> str:
        c = lexecon.AsyncLexeconClient(mock=True, api_key="k")
        decision = await c.decide("model", "a", "t")
        await c.close()
        return decision.decision

    assert asyncio.run(run())


def test_streams_answer_one_example_of_each_event() -> None:
    c = orrery_lunaos.LunaosClient(mock=True, api_key="k")
    kinds = [type(e).__name__ for e in c.agents.execute("code-review", "x")]
    assert kinds == ["StartEvent", "OutputChunkEvent", "DoneEvent", "ErrorEvent"]

    async def run() -> list[str]:
        async with orrery_lunaos.AsyncLunaosClient(mock=True, api_key="k") as client:
            return [e.type async for e in client.chains.execute("x", preset="deploy")]

    assert asyncio.run(run()) == ["chain_start", "step_start", "chunk", "step_done", "chain_done", "error"]
    with pytest.raises(orrery_lunaos.AuthenticationError):
        list(orrery_lunaos.LunaosClient(mock=True).agents.execute("code-review", "x"))


def test_channels_replay_the_documented_frames() -> None:
    c = orrery_lumen.LumenClient(mock=True, api_key="k")
    frames = list(c.terminal.execute("ls -la"))
    assert [f.type for f in frames] == ["ack", "start", "stdout", "complete"]
    assert isinstance(frames[-1], orrery_lumen.CompleteFrame)
    assert frames[-1].result.exit_code == 0

    async def run() -> list[str]:
        async with orrery_lumen.AsyncLumenClient(mock=True, api_key="k") as client:
            return [f.type async for f in client.terminal.execute("ls -la")]

    assert asyncio.run(run()) == ["ack", "start", "stdout", "complete"]
