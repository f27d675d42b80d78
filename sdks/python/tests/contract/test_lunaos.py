"""Every LunaOS operation through orrery_lunaos, against the real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import orrery_lunaos as luna

from .conftest import Account, Server


def test_signup_login_me(server: Server) -> None:
    client = server.lunaos()
    email = f"Ada-{uuid.uuid4().hex}@Example.com"
    signed = client.auth.signup(email, server.password, "Ada")
    assert signed.user.email == email.lower() and signed.user.tier == "free"
    assert signed.refresh_token.startswith("rt_") and signed._request_id
    logged = client.auth.login(email, server.password)
    me = client.with_options(access_token=logged.token).auth.me()
    assert me.id == signed.user.id and me.name == "Ada"


def test_signup_errors(server: Server) -> None:
    client = server.lunaos(max_retries=0)
    with pytest.raises(luna.BadRequestError) as bad:
        client.auth.signup(f"x-{uuid.uuid4().hex}@example.com", "short")
    assert bad.value.code == "validation_failed" and bad.value.status_code == 400
    email = f"dup-{uuid.uuid4().hex}@example.com"
    client.auth.signup(email, server.password)
    with pytest.raises(luna.ConflictError) as dup:
        client.auth.signup(email, server.password)
    assert dup.value.code == "conflict" and dup.value.request_id


def test_login_and_credential_errors(server: Server, account: Account) -> None:
    client = server.lunaos(max_retries=0)
    with pytest.raises(luna.AuthenticationError) as wrong:
        client.auth.login(account.email, "wrong password!")
    assert wrong.value.code == "unauthorized" and wrong.value.message == "Invalid email or password"
    with pytest.raises(luna.AuthenticationError):
        client.auth.me()
    with pytest.raises(luna.AuthenticationError):
        client.with_options(api_key="lnos_live_notarealkey").auth.me()


def test_api_keys_lifecycle(server: Server, account: Account) -> None:
    client = server.lunaos(access_token=account.token)
    created = client.api_keys.create(name="laptop")
    assert created.key.startswith("lnos_live_") and created.key.startswith(created.prefix)
    by_key = server.lunaos(api_key=created.key)
    assert by_key.auth.me().email == account.email
    listed = client.api_keys.list()
    assert created.id in {k.id for k in listed.keys} and listed.total == len(listed.keys)
    assert client.api_keys.revoke(created.id).id == created.id
    with pytest.raises(luna.AuthenticationError):
        by_key.with_options(max_retries=0).auth.me()
    revoked = next(k for k in client.api_keys.list().keys if k.id == created.id)
    assert revoked.is_active is False and revoked.revoked_at is not None
    with pytest.raises(luna.NotFoundError) as missing:
        client.api_keys.revoke(created.id)
    assert missing.value.code == "not_found"


def test_default_key_name_and_limit(server: Server) -> None:
    signed = server.lunaos().auth.signup(f"k-{uuid.uuid4().hex}@example.com", server.password)
    client = server.lunaos(access_token=signed.token, max_retries=0)
    assert client.api_keys.create().name == "Default"
    with pytest.raises(luna.ConflictError):
        for _ in range(10):
            client.api_keys.create()


def test_health(server: Server) -> None:
    health = server.lunaos().health()
    assert health.status == "healthy" and health.services
    assert all(s.latency_ms >= 0 for s in health.services.values())


def test_async_client(server: Server, account: Account) -> None:
    async def run() -> str:
        async with luna.AsyncLunaosClient(f"{server.url}/lunaos", api_key=account.api_key) as client:
            me, keys = await asyncio.gather(client.auth.me(), client.api_keys.list())
            assert keys.total >= 1
            return me.email

    assert asyncio.run(run()) == account.email


def test_agent_run_streams_typed_events_and_is_stored(server: Server, account: Account) -> None:
    client = server.lunaos(api_key=account.api_key)
    events = list(client.agents.execute("code-review", "Review: fn add(a: i32, b: i32) -> i32 { a - b }"))
    assert isinstance(events[0], luna.StartEvent) and events[0].type == "start"
    assert isinstance(events[-1], luna.DoneEvent)
    chunks = [e for e in events[1:-1] if isinstance(e, luna.OutputChunkEvent)]
    assert len(chunks) == len(events) - 2 and chunks
    done = events[-1]
    assert done.execution_id == events[0].execution_id
    assert done.tokens.output == len(chunks) and done.cost == 0.0
    stored = client.agents.execution(done.execution_id)
    assert stored.status == "completed"
    assert stored.output == "".join(c.content for c in chunks)
    listed = client.agents.executions(status="completed")
    assert listed.total >= 1 and listed.executions[0].id == done.execution_id


def test_breaking_the_loop_closes_the_stream(server: Server, account: Account) -> None:
    client = server.lunaos(api_key=account.api_key)
    for event in client.agents.execute("documentation", "Document the add function"):
        assert isinstance(event, luna.StartEvent)
        break
    # The client keeps working after an abandoned stream.
    assert client.auth.me().email == account.email


def test_async_agent_stream(server: Server, account: Account) -> None:
    async def run() -> list[str]:
        async with luna.AsyncLunaosClient(f"{server.url}/lunaos", api_key=account.api_key) as client:
            return [e.type async for e in client.agents.execute("testing-validation", "fn add() {}")]

    kinds = asyncio.run(run())
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"chunk"}


def test_chain_stream_and_errors(server: Server, account: Account) -> None:
    client = server.lunaos(api_key=account.api_key)
    events = list(client.chains.execute("fn add(a: i32, b: i32) -> i32 { a - b }", preset="full-review"))
    assert isinstance(events[0], luna.ChainStartEvent) and len(events[0].steps) == 3
    done = events[-1]
    assert isinstance(done, luna.ChainDoneEvent) and done.status == "completed" and done.steps == 3
    assert [e.step for e in events if isinstance(e, luna.StepDoneEvent)] == [1, 2, 3]
    with pytest.raises(luna.ProRequiredError) as refused:
        list(client.agents.execute("seo", "<title>x</title>"))
    assert refused.value.status_code == 403
    with pytest.raises(luna.BadRequestError):
        list(client.chains.execute("x", chain=luna.GraphSpec(name="loop", nodes=[luna.NodeSpec(id="a", agent="code-review")], edges=[luna.EdgeSpec(from_="a", to="a")])))
    usage = client.billing.usage()
    assert usage.used == usage.breakdown.agent_executions + usage.breakdown.chain_executions == 1


def test_a_plain_sse_client_reads_the_framing(server: Server, account: Account) -> None:
    import httpx
    from httpx_sse import connect_sse

    with httpx.Client() as http, connect_sse(
        http,
        "POST",
        f"{server.url}/lunaos/agents/execute",
        json={"agent": "deployment", "context": "Plan a release of v2"},
        headers={"x-api-key": account.api_key},
    ) as source:
        assert source.response.headers["x-usage-limit"] == "100"
        seen = [(sse.event, sse.json()) for sse in source.iter_sse()]
    assert all(name == data["type"] for name, data in seen)
    assert seen[0][0] == "start" and seen[-1][0] == "done"


def test_local_billing_answers_not_implemented(server: Server, account: Account) -> None:
    client = server.lunaos(api_key=account.api_key)
    subscription = client.billing.subscription()
    assert subscription.tier == "free" and subscription.subscription is None
    with pytest.raises(luna.APIStatusError) as refused:
        client.billing.checkout("pro")
    assert refused.value.status_code == 501
    with pytest.raises(luna.NotFoundError):
        client.billing.cancel()
