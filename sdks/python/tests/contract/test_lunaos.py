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
