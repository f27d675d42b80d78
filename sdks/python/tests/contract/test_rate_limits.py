"""A real 429 from a server allowing two anonymous requests a minute."""

from __future__ import annotations

import pytest

import lexecon
import orrery_lunaos

from .conftest import Server


def test_rate_limit_error_and_retry_after(server: Server) -> None:
    client = orrery_lunaos.LunaosClient(f"{server.limited_url}/lunaos", max_retries=0)
    with pytest.raises(orrery_lunaos.RateLimitError) as caught:
        for _ in range(3):
            client.health()
    err = caught.value
    assert err.status_code == 429 and err.code == "rate_limited"
    assert err.retry_after is not None and 0 < err.retry_after <= 60
    assert err.response.headers["x-ratelimit-limit"] == "2"

    # With retries, the client waits what the server asked (recorded here, not slept).
    retrying = lexecon.LexeconClient(f"{server.limited_url}/lexecon", max_retries=1)
    delays: list[float] = []
    retrying._sleep = delays.append
    with pytest.raises(lexecon.RateLimitError) as again:
        retrying.health_check()
    assert len(delays) == 1 and abs(delays[0] - float(again.value.retry_after or 0)) <= 1.0
    assert again.value.body == {"error": "Rate limit exceeded", "retry_after": again.value.body["retry_after"]}
