"""Contract tests drive a real Orrery server through the generated SDKs. The Rust harness
(tests/tests/e2e/sdk_contract.rs) starts the server and sets:

ORRERY_SDK_SERVER         http://127.0.0.1:PORT
ORRERY_SDK_ADMIN_EMAIL    the server's admin
ORRERY_SDK_PASSWORD       the password of every account it made
ORRERY_SDK_REVIEWER_TOKEN an access token of a user with the reviewer role
ORRERY_SDK_LIMITED_SERVER a second server allowing 2 anonymous requests a minute
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

import orrery_lunaos


@dataclass(frozen=True)
class Server:
    url: str
    admin_email: str
    reviewer_token: str
    password: str
    limited_url: str

    def lunaos(self, **kwargs: object) -> orrery_lunaos.LunaosClient:
        return orrery_lunaos.LunaosClient(f"{self.url}/lunaos", **kwargs)  # type: ignore[arg-type]

    def token_of(self, email: str) -> str:
        return self.lunaos().auth.login(email, self.password).token


@pytest.fixture(scope="session")
def server() -> Server:
    url = os.environ.get("ORRERY_SDK_SERVER")
    if not url:
        pytest.skip("ORRERY_SDK_SERVER is not set: contract tests run from the Rust harness")
    return Server(
        url=url,
        admin_email=os.environ["ORRERY_SDK_ADMIN_EMAIL"],
        reviewer_token=os.environ["ORRERY_SDK_REVIEWER_TOKEN"],
        password=os.environ["ORRERY_SDK_PASSWORD"],
        limited_url=os.environ["ORRERY_SDK_LIMITED_SERVER"],
    )


@dataclass(frozen=True)
class Account:
    email: str
    token: str
    api_key: str


@pytest.fixture
def account(server: Server) -> Account:
    email = f"sdk-{uuid.uuid4().hex}@example.com"
    luna = server.lunaos()
    signed = luna.auth.signup(email, server.password, "SDK")
    key = luna.with_options(access_token=signed.token).api_keys.create(name="contract")
    return Account(email=email, token=signed.token, api_key=key.key)
