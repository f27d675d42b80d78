"""The SDK runtime against a local stub: retries and backoff, idempotency, errors, logging,
pagination, datetimes, SSE. (The runtime is one template copied into every package, so the
Lexecon package stands in for all; dialect-specific error mapping is tested per package.)"""

from __future__ import annotations

import asyncio
import builtins
import json
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lexecon
import lukhas_sdk
import orrery_lumen
import orrery_lunaos
from lexecon import exceptions as lx_exc
from lexecon._runtime import SSEDecoder, format_datetime, parse_datetime, retry_delay

from .stub import Recorded, Reply, Stub

DECISION = {
    "decision_id": "dec_01",
    "decision": "ALLOWED",
    "reason": "permitted",
    "capability_token": "cap_x.y",
    "expires_at": "2026-01-01T00:30:00Z",
    "policy_version": "1.0.0",
    "signature": "ed25519:sig",
    "chain_hash": "sha256:abc",
    "timestamp": "2026-01-01T00:00:00.123456789Z",
}


def client(stub: Stub, **kwargs: Any) -> tuple[lexecon.LexeconClient, list[float]]:
    c = lexecon.LexeconClient(stub.url, api_key="lnos_live_secretkey", **kwargs)
    delays: list[float] = []
    c._sleep = delays.append
    return c, delays


def test_retries_5xx_then_succeeds_with_one_idempotency_key(stub: Stub) -> None:
    stub.script = [Reply(503, {"error": "busy"}), Reply(502, {"error": "busy"}), Reply(200, DECISION)]
    c, delays = client(stub)
    decision = c.decide("model", "Search", "web_search")
    assert decision.decision == "ALLOWED"
    assert len(stub.requests) == 3
    keys = {r.headers["idempotency-key"] for r in stub.requests}
    assert len(keys) == 1, "one logical request keeps its key across retries"
    # decide() also carries the key as request_id, so the server deduplicates the decision
    assert {r.body["request_id"] for r in stub.requests} == keys
    assert [r.headers.get("x-retry-count") for r in stub.requests] == [None, "1", "2"]
    assert len(delays) == 2 and 0.375 <= delays[0] <= 0.5 and 0.75 <= delays[1] <= 1.0
    assert decision._request_id == "req_stub_3"
    assert decision._raw_response is not None and decision._raw_response.retries == 2


def test_separate_calls_get_separate_keys(stub: Stub) -> None:
    stub.script = [Reply(200, DECISION), Reply(200, DECISION)]
    c, _ = client(stub)
    c.decide("model", "a", "t")
    c.decide("model", "a", "t")
    assert stub.requests[0].headers["idempotency-key"] != stub.requests[1].headers["idempotency-key"]


def test_caller_idempotency_key_and_request_id_win(stub: Stub) -> None:
    stub.script = [Reply(200, DECISION)]
    c, _ = client(stub)
    c.decide("model", "a", "t", request_id="mine", request_options={"idempotency_key": "k1"})
    assert stub.requests[0].headers["idempotency-key"] == "k1"
    assert stub.requests[0].body["request_id"] == "mine"


def test_honors_retry_after_and_rate_limit_reset_after(stub: Stub) -> None:
    stub.script = [
        Reply(429, {"error": "Rate limit exceeded", "retry_after": 3}, {"retry-after": "3"}),
        Reply(429, {"error": "Rate limit exceeded"}, {"x-ratelimit-reset-after": "1.5"}),
        Reply(200, DECISION),
    ]
    c, delays = client(stub)
    c.decide("model", "a", "t")
    assert delays == [3.0, 1.5]


def test_absurd_retry_after_falls_back_to_backoff(stub: Stub) -> None:
    stub.script = [Reply(503, {"error": "x"}, {"retry-after": "86400"}), Reply(200, DECISION)]
    c, delays = client(stub)
    c.decide("model", "a", "t")
    assert delays and delays[0] <= 0.5


def test_retry_after_http_date() -> None:
    import httpx

    when = (datetime.now(timezone.utc) + timedelta(seconds=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    delay = retry_delay(httpx.Headers({"retry-after": when}), 0)
    assert 8.0 <= delay <= 10.0


def test_backoff_grows_and_is_capped() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delay = retry_delay(None, attempt)
        assert 0.75 * ceiling <= delay <= ceiling


def test_rate_limit_error_after_retries_are_spent(stub: Stub) -> None:
    stub.script = [Reply(429, {"error": "Rate limit exceeded", "retry_after": 7}, {"retry-after": "7"})] * 2
    c, delays = client(stub, max_retries=1)
    with pytest.raises(lx_exc.RateLimitError) as caught:
        c.decide("model", "a", "t")
    err = caught.value
    assert isinstance(err, lx_exc.DecisionError) and isinstance(err, lx_exc.LexeconError)
    assert err.status_code == 429 and err.retry_after == 7.0
    assert err.message == "Rate limit exceeded" and err.request_id == "req_stub_2"
    assert delays == [7.0] and len(stub.requests) == 2


def test_no_retry_on_4xx_and_per_call_override(stub: Stub) -> None:
    stub.script = [Reply(400, {"error": "Invalid request", "details": "Missing required field: actor"})]
    c, delays = client(stub)
    with pytest.raises(lx_exc.BadRequestError) as caught:
        c.decide("model", "a", "t")
    assert str(caught.value.message) == "Invalid request: Missing required field: actor"
    assert delays == [] and len(stub.requests) == 1
    stub.script = [Reply(503, {"error": "busy"})]
    with pytest.raises(lx_exc.InternalServerError):
        c.health_check(request_options={"max_retries": 0})
    assert len(stub.requests) == 2


def test_x_should_retry_header_overrides(stub: Stub) -> None:
    stub.script = [Reply(503, {"error": "no"}, {"x-should-retry": "false"})]
    c, _ = client(stub)
    with pytest.raises(lx_exc.InternalServerError):
        c.health_check()
    assert len(stub.requests) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_errors_are_retried_then_typed() -> None:
    port = _closed_port()
    c = lexecon.LexeconClient(f"http://127.0.0.1:{port}", api_key="k", max_retries=2)
    delays: list[float] = []
    c._sleep = delays.append
    with pytest.raises(lexecon.ConnectionError) as caught:
        c.health_check()
    assert isinstance(caught.value, builtins.ConnectionError)
    assert isinstance(caught.value, lx_exc.LexeconError)
    assert len(delays) == 2
    # The message names what was tried: a wrong base URL is the usual cause.
    assert f"GET http://127.0.0.1:{port}/health" in str(caught.value), caught.value


def test_an_operation_error_is_named_for_its_status(stub: Stub) -> None:
    stub.script = [Reply(401, {"error": "Unauthorized", "details": "invalid or revoked API key"})]
    c, _ = client(stub)
    with pytest.raises(lx_exc.AuthenticationError) as caught:
        c.get_policy()
    assert type(caught.value).__name__ == "AuthenticationError"
    assert isinstance(caught.value, lexecon.PolicyError)


def test_timeout_is_typed(stub: Stub) -> None:
    import time

    def slow(_: Recorded) -> Reply:
        time.sleep(0.5)
        return Reply(200, DECISION)

    stub.script = [slow]
    c, _ = client(stub, timeout=0.1, max_retries=0)
    with pytest.raises(lx_exc.APITimeoutError):
        c.health_check()


def test_log_hook_sees_everything_but_secrets(stub: Stub) -> None:
    stub.script = [Reply(503, {"error": "busy"}), Reply(200, DECISION)]
    events: list[lexecon.LogEvent] = []
    c, _ = client(stub, log_hook=events.append, access_token="jwt.secret.value")
    c.decide("model", "a", "t", context={"password": "hunter2", "note": "visible"})
    kinds = [e.kind for e in events]
    assert kinds == ["request", "response", "retry", "request", "response"]
    dump = repr(events)
    for secret in ("lnos_live_secretkey", "jwt.secret.value", "hunter2", "cap_x.y"):
        assert secret not in dump, f"{secret} leaked into the log"
    assert "visible" in dump and "[REDACTED]" in dump
    assert events[-1].status_code == 200 and events[-1].request_id == "req_stub_2"


def test_response_validation_errors_are_typed(stub: Stub) -> None:
    stub.script = [Reply(200, {"decision": "ALLOWED"})]
    c, _ = client(stub)
    with pytest.raises(lx_exc.APIResponseValidationError, match="chain_hash is missing"):
        c.decide("model", "a", "t")


def test_unknown_fields_are_kept(stub: Stub) -> None:
    stub.script = [Reply(200, {**DECISION, "new_field": 1})]
    c, _ = client(stub)
    decision = c.decide("model", "a", "t")
    assert decision._extra == {"new_field": 1}
    assert decision.to_dict()["new_field"] == 1
    assert decision.timestamp == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)


def test_auto_pagination(stub: Stub) -> None:
    def entry(i: int) -> dict[str, Any]:
        return {
            "entry_id": f"ent_{i}", "timestamp": "2026-01-01T00:00:00Z", "event_type": "decision_made",
            "prev_hash": "p", "entry_hash": "h", "signature": "s", "decision": "ALLOWED",
        }

    def page(r: Recorded) -> Reply:
        from urllib.parse import parse_qs, urlparse

        q = parse_qs(urlparse(r.path).query)
        offset, limit = int(q.get("offset", ["0"])[0]), int(q["limit"][0])
        items = [entry(i) for i in range(offset, min(offset + limit, 5))]
        return Reply(200, {"total": 5, "limit": limit, "offset": offset, "entries": items})

    stub.script = [page, page, page]
    c, _ = client(stub)
    first = c.get_ledger(limit=2, start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert [e.entry_id for e in first] == ["ent_0", "ent_1"] and first.total == 5
    assert [e.entry_id for e in first.auto_paging_iter()] == [f"ent_{i}" for i in range(5)]
    assert "start_time=2026-01-01T00%3A00%3A00Z" in stub.requests[0].path
    assert "offset=4" in stub.requests[2].path and "limit=2" in stub.requests[2].path


def test_naive_datetimes_are_local_time() -> None:
    naive = datetime(2026, 1, 1, 12, 0, 0)
    assert format_datetime(naive) == format_datetime(naive.astimezone())
    assert format_datetime(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00Z"
    assert parse_datetime("2026-01-01T00:00:00.123456789Z").microsecond == 123456


def test_path_parameters_are_escaped(stub: Stub) -> None:
    stub.script = [Reply(200, {**DECISION, "actor": "m", "tool": "t", "proposed_action": "a"})]
    c, _ = client(stub)
    c.get_decision("dec/../x?y")
    assert stub.requests[0].path == "/decisions/dec%2F..%2Fx%3Fy"
    with pytest.raises(ValueError):
        c.get_decision("")


def test_env_configures_the_client(monkeypatch: pytest.MonkeyPatch, stub: Stub) -> None:
    monkeypatch.setenv("LEXECON_BASE_URL", stub.url)
    monkeypatch.setenv("LEXECON_API_KEY", "from-env")
    stub.script = [Reply(200, {"status": "healthy", "version": "1", "node_id": "n", "policy_loaded": True, "ledger_entries": 1})]
    c = lexecon.LexeconClient()
    assert c.health_check().status == "healthy"
    assert stub.requests[0].headers["x-api-key"] == "from-env"


def test_with_options_shares_connections_and_changes_credentials(stub: Stub) -> None:
    stub.script = [Reply(200, {"status": "ok", "service": "Lumen Core API", "version": "1"})]
    c = orrery_lumen.LumenClient(stub.url)
    other = c.with_options(access_token="t2")
    assert other._http is c._http and c.access_token is None
    other.health()
    assert stub.requests[0].headers["authorization"] == "Bearer t2"


def test_lukhas_error_codes_map_to_classes(stub: Stub) -> None:
    def lukhas_error(status: int, code: str, details: dict[str, Any]) -> Reply:
        return Reply(status, {"error": {"code": code, "message": "m", "details": details, "trace_id": "req_1", "timestamp": "2026-01-01T00:00:00Z"}})

    stub.script = [
        lukhas_error(403, "GUARDIAN_REJECTION", {"ethics_violation": "potential_harm"}),
        lukhas_error(422, "MEMORY_DRIFT_EXCESSIVE", {"memory_id": "mem_123", "drift_level": 0.4}),
        lukhas_error(401, "INVALID_TOKEN", {}),
        lukhas_error(418, "SOMETHING_NEW", {}),
    ]
    c = lukhas_sdk.Client(stub.url, api_key="k", max_retries=0)
    with pytest.raises(lukhas_sdk.exceptions.GuardianRejection) as g:
        c.auth.token("u@example.com", "pw")
    assert isinstance(g.value, lukhas_sdk.PermissionDeniedError) and g.value.code == "GUARDIAN_REJECTION"
    assert g.value.details == {"ethics_violation": "potential_harm"}
    with pytest.raises(lukhas_sdk.exceptions.MemoryDrift) as m:
        c.auth.token("u@example.com", "pw")
    assert m.value.memory_id == "mem_123" and m.value.drift_level == 0.4
    with pytest.raises(lukhas_sdk.InvalidToken):
        c.auth.token("u@example.com", "pw")
    with pytest.raises(lukhas_sdk.APIStatusError) as other:
        c.auth.token("u@example.com", "pw")
    assert type(other.value) is lukhas_sdk.APIStatusError and other.value.status_code == 418


def test_lunaos_envelope_and_codes(stub: Stub) -> None:
    stub.script = [
        Reply(200, {"data": {"id": "u1", "email": "a@b.c", "tier": "pro", "created_at": "2026-01-01T00:00:00Z"}}),
        Reply(403, {"error": "Upgrade", "code": "pro_required"}),
        Reply(200, {"user": "not enveloped"}),
    ]
    c = orrery_lunaos.LunaosClient(stub.url, access_token="t", max_retries=0)
    assert c.auth.me().tier == "pro"
    with pytest.raises(orrery_lunaos.ProRequiredError) as e:
        c.auth.me()
    assert e.value.code == "pro_required" and e.value.message == "Upgrade"
    with pytest.raises(orrery_lunaos.APIResponseValidationError):
        c.auth.me()


def test_async_client_retries_and_paginates(stub: Stub) -> None:
    stub.script = [Reply(503, {"error": "busy"}), Reply(200, DECISION)]

    async def run() -> str:
        async with lexecon.AsyncLexeconClient(stub.url, api_key="k") as c:
            delays: list[float] = []

            async def record(d: float) -> None:
                delays.append(d)

            c._sleep = record
            decision = await c.decide("model", "a", "t")
            assert len(delays) == 1
            return decision.decision

    assert asyncio.run(run()) == "ALLOWED"
    assert stub.requests[0].headers["idempotency-key"] == stub.requests[1].headers["idempotency-key"]


def test_sse_decoder() -> None:
    events = SSEDecoder().decode(
        [": comment", "event: token", "data: {\"a\":", "data: 1}", "id: 7", "", "data: tail"]
    )
    assert [(e.event, e.data, e.id) for e in events] == [("token", '{"a":\n1}', "7"), (None, "tail", "7")]
    assert json.loads(events[1].data.replace("tail", '"tail"')) == "tail"


def test_a_stream_session_runs_one_send_at_a_time() -> None:
    closed: list[str] = []

    def start(query: str) -> Any:
        try:
            yield f"{query}:1"
            yield f"{query}:2"
        finally:
            closed.append(query)

    session = lukhas_sdk.ProcessStreamSession(start)
    with pytest.raises(RuntimeError):
        next(session)
    with session:
        session.send_query("a")
        assert next(session) == "a:1"
        # A second send closes the first run, still streaming.
        session.send_query("b")
        assert closed == ["a"]
        assert list(session) == ["b:1", "b:2"]
        session.send_query("c")
        assert next(session) == "c:1"
    assert closed == ["a", "b", "c"], "leaving the block closed the run"


def test_an_async_stream_session_closes_its_run() -> None:
    closed: list[str] = []

    async def start(query: str) -> Any:
        try:
            yield f"{query}:1"
            yield f"{query}:2"
        finally:
            closed.append(query)

    async def run() -> list[str]:
        async with lukhas_sdk.AsyncProcessStreamSession(start) as session:
            await session.send_query("a")
            seen = [event async for event in session]
            await session.send_query("b")
            async for event in session:
                seen.append(event)
                break
        return seen

    assert asyncio.run(run()) == ["a:1", "a:2", "b:1"]
    assert closed == ["a", "b"]


def _sse_server(responses: list[list[bytes]]) -> tuple[str, list[dict[str, str]], socket.socket]:
    """A one-thread HTTP server that answers each request with the next list of chunks of a
    chunked `text/event-stream` body; a list ending in `None`'s place is cut off there
    (no closing chunk), as a dying server would."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen: list[dict[str, str]] = []

    def serve() -> None:
        for chunks in responses:
            conn, _ = listener.accept()
            with conn:
                request = conn.recv(65536).decode()
                seen.append(
                    {
                        k.strip().lower(): v.strip()
                        for k, _, v in (line.partition(":") for line in request.split("\r\n")[1:])
                        if v
                    }
                )
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for chunk in chunks:
                    if chunk:
                        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if chunks and chunks[-1] is not None:
                    conn.sendall(b"0\r\n\r\n")
                # Closing with the request body unread would reset the connection and drop
                # what was sent; end the reply, then read what is left.
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(2)
                try:
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}", seen, listener


START = b'event: start\ndata: {"type":"start","executionId":"exec_1","agent":"documentation","provider":"builtin","model":"builtin","sources":[]}\nid: 0\n\n'
CHUNK_1 = b'event: chunk\ndata: {"type":"chunk","content":"Hello, "}\nid: 1\n\n'
CHUNK_2 = b'event: chunk\ndata: {"type":"chunk","content":"world"}\nid: 2\n\n'
DONE = b'event: done\ndata: {"type":"done","executionId":"exec_1","tokens":{"input":3,"output":2},"cost":0.0,"duration":12}\nid: 3\n\n'


def test_a_broken_get_stream_resumes_after_the_last_event() -> None:
    url, seen, listener = _sse_server([[START, CHUNK_1, None], [CHUNK_2, DONE]])
    with listener:
        c = orrery_lunaos.LunaosClient(url, api_key="lnos_live_secretkey")
        c._sleep = lambda _: None
        events = list(c.agents.follow("exec_1"))
    assert [e.type for e in events] == ["start", "chunk", "chunk", "done"]
    assert "".join(e.content for e in events if e.type == "chunk") == "Hello, world"
    assert "last-event-id" not in seen[0]
    assert seen[1]["last-event-id"] == "1", "the second request asks for what follows event 1"


def test_a_broken_post_stream_is_not_sent_again() -> None:
    url, seen, listener = _sse_server([[START, CHUNK_1, None]])
    with listener:
        c = orrery_lunaos.LunaosClient(url, api_key="lnos_live_secretkey")
        c._sleep = lambda _: None
        received = []
        with pytest.raises(orrery_lunaos.APIConnectionError):
            for event in c.agents.execute("documentation", "Document add"):
                received.append(event.type)
    assert received == ["start", "chunk"] and len(seen) == 1
