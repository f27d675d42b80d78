"""Every LUKHAS and Lumen Core operation through lukhas_sdk and orrery_lumen."""

from __future__ import annotations

import asyncio

import pytest

import lukhas_sdk
import orrery_lumen

from .conftest import Account, Server


def lukhas(server: Server, **kwargs: object) -> lukhas_sdk.LukhasClient:
    return lukhas_sdk.Client(f"{server.url}/lukhas/v1", **kwargs)  # type: ignore[arg-type]


def test_token_and_refresh_rotation(server: Server, account: Account) -> None:
    client = lukhas(server, max_retries=0)
    token = client.auth.token(account.email, server.password)
    assert token.token_type == "bearer" and token.expires_in == 3600
    refreshed = client.auth.refresh(token.refresh_token)
    assert refreshed.refresh_token != token.refresh_token
    with pytest.raises(lukhas_sdk.InvalidToken) as spent:
        client.auth.refresh(token.refresh_token)
    assert spent.value.code == "INVALID_TOKEN" and spent.value.status_code == 401
    assert spent.value.body["error"]["trace_id"] == spent.value.request_id


def test_token_errors(server: Server, account: Account) -> None:
    client = lukhas(server, max_retries=0)
    with pytest.raises(lukhas_sdk.AuthenticationError) as wrong:
        client.auth.token(account.email, "not the password")
    assert isinstance(wrong.value, lukhas_sdk.exceptions.LukhasError)
    with pytest.raises(lukhas_sdk.AuthenticationError) as bio:
        client.auth.token(account.email, server.password, biometric_data="fingerprint")
    assert "biometric_data" in bio.value.message


def test_health_measures_modules(server: Server) -> None:
    health = lukhas(server).health()
    assert health.status in ("healthy", "degraded") and health.modules
    assert all(m.latency_ms >= 0 for m in health.modules.values())


def test_lumen(server: Server, account: Account) -> None:
    client = orrery_lumen.LumenClient(f"{server.url}/lumen", api_key=account.api_key)
    assert client.health().service == "Lumen Core API"
    docs = client.docs()
    assert "/health" in " ".join(docs.endpoints)


def test_async_lukhas(server: Server, account: Account) -> None:
    async def run() -> int:
        async with lukhas_sdk.AsyncLukhasClient(f"{server.url}/lukhas/v1") as client:
            token = await client.auth.token(account.email, server.password)
            return token.expires_in

    assert asyncio.run(run()) == 3600
