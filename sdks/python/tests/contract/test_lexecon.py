"""Every Lexecon operation through the lexecon package: decisions, tokens, reviews, the ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import lexecon
from lexecon.exceptions import DecisionError, LexeconError, ReviewError

from .conftest import Account, Server


def client(server: Server, key: str, **kwargs: object) -> lexecon.LexeconClient:
    return lexecon.LexeconClient(base_url=f"{server.url}/lexecon", api_key=key, **kwargs)  # type: ignore[arg-type]


def by_token(server: Server, token: str) -> lexecon.LexeconClient:
    return lexecon.LexeconClient(f"{server.url}/lexecon", access_token=token, max_retries=0)


def test_decide_verify_and_lookup(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    decision = lx.decide(actor="model", action="Search the web", tool="web_search", intent="papers", risk_level=1, context={"user_id": "u1"})
    assert decision.decision == "ALLOWED" and decision.capability_token
    assert decision.decision_id.startswith("dec_") and decision.signature.startswith("ed25519:")
    assert decision.expires_at is not None and decision.expires_at > decision.timestamp
    result = lx.verify(decision.capability_token, action="web_search", actor="model")
    assert result.valid and result.decision_id == decision.decision_id and result.token_id
    mismatch = lx.verify(decision.capability_token, action="shell")
    assert mismatch.valid is False and mismatch.reason == "Action mismatch"
    assert lx.verify("cap_garbage").valid is False
    detail = lx.get_decision(decision.decision_id)
    assert detail.tool == "web_search" and detail.chain_hash == decision.chain_hash


def test_decide_is_idempotent_by_request_id(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    first = lx.decide("model", "Search the web", "web_search", request_id="req-42")
    again = lx.decide("model", "Search the web", "web_search", request_id="req-42")
    assert again.decision_id == first.decision_id
    strict = client(server, account.api_key, max_retries=0)
    with pytest.raises(lexecon.ConflictError) as refused:
        strict.decide("model", "Delete all records", "delete_records", risk_level=4, request_id="req-42")
    assert refused.value.status_code == 409
    fresh = lx.decide("model", "Search the web", "web_search")
    assert fresh.decision_id != first.decision_id and fresh.request_id and fresh.request_id.startswith("orrery-")


def test_decision_errors(server: Server, account: Account) -> None:
    lx = client(server, account.api_key, max_retries=0)
    with pytest.raises(DecisionError) as bad:
        lx.decide(actor="model", action="x", tool="t", risk_level=9)
    assert isinstance(bad.value, lexecon.BadRequestError) and "risk_level" in bad.value.message
    with pytest.raises(lexecon.NotFoundError) as missing:
        lx.get_decision("dec_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert isinstance(missing.value, DecisionError)
    with pytest.raises(lexecon.AuthenticationError):
        client(server, "", max_retries=0).with_options(api_key=None).get_policy()
    with pytest.raises(LexeconError):
        client(server, "lnos_live_bogus", max_retries=0).decide("model", "x", "t")


def test_ledger_pages_and_filters(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    made = [lx.decide("model", "Search the web", "web_search").decision_id for _ in range(3)]
    start = datetime.now() - timedelta(hours=1)
    page = lx.get_ledger(limit=2, actor="model", start_time=start, end_time=datetime.now(timezone.utc) + timedelta(minutes=1))
    assert len(page) == 2 and page.total >= 3
    every = list(page.auto_paging_iter())
    assert len(every) == page.total
    assert set(made) <= {e.decision_id for e in every}
    one = lx.get_ledger(decision_id=made[0])
    assert [e.decision_id for e in one] == [made[0]] and one[0].entry_hash.startswith("sha256:")
    with pytest.raises(lexecon.BadRequestError):
        lx.with_options(max_retries=0).get_ledger(start_time="yesterday")


def test_policy_node_health(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    policy = lx.get_policy()
    assert policy.mode in ("strict", "permissive") and policy.version and isinstance(policy.terms, dict)
    node = lx.get_node_info()
    assert len(node.public_key) == 64 and node.ledger_entries > 0
    health = client(server, "").health_check()
    assert health.status == "healthy" and health.node_id == node.node_id


def test_review_flow(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    pending = lx.decide("model", "Delete the production database", "web_search", risk_level=5)
    assert pending.decision == "REQUIRES_REVIEW" and pending.capability_token is None
    with pytest.raises(ReviewError) as not_reviewer:
        lx.with_options(max_retries=0).list_reviews()
    assert isinstance(not_reviewer.value, lexecon.PermissionDeniedError)
    reviewer = by_token(server, server.reviewer_token)
    queue = reviewer.list_reviews()
    assert pending.decision_id in {r.decision_id for r in queue.reviews}
    approved = reviewer.approve_review(pending.decision_id, reason="checked")
    assert approved.capability_token and approved.review and approved.review.status == "approved"
    seen = lx.get_decision(pending.decision_id)
    assert seen.capability_token == approved.capability_token
    with pytest.raises(lexecon.ConflictError):
        reviewer.approve_review(pending.decision_id)
    other = lx.decide("model", "Delete the production database", "web_search", risk_level=5)
    denied = reviewer.deny_review(other.decision_id, reason="too risky")
    assert denied.review and denied.review.status == "denied" and denied.review.reason == "too risky"


def test_token_revocation_and_ledger_verification(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    decision = lx.decide("model", "Search the web", "web_search")
    assert decision.capability_token
    token_id = lx.verify(decision.capability_token).token_id
    assert token_id
    with pytest.raises(lexecon.PermissionDeniedError):
        lx.with_options(max_retries=0).revoke_token(token_id, reason="mine")
    with pytest.raises(lexecon.PermissionDeniedError):
        lx.with_options(max_retries=0).verify_ledger()
    admin = by_token(server, server.token_of(server.admin_email))
    revoked = admin.revoke_token(token_id, reason="compromised")
    assert revoked.revoked and revoked.token_id == token_id
    after = lx.verify(decision.capability_token)
    assert after.valid is False and after.reason == "Token revoked"
    with pytest.raises(lexecon.NotFoundError):
        admin.revoke_token("cap_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    report = admin.verify_ledger()
    assert report.valid and report.entries_checked > 0 and report.first_bad is None
    checkpoint = admin.get_checkpoint()
    check = admin.verify_checkpoint(**checkpoint.to_dict())
    assert check.valid and check.problem is None
    forged = admin.verify_checkpoint(**{**checkpoint.to_dict(), "head_hash": "sha256:" + "0" * 64})
    assert not forged.valid and forged.problem is not None and "signature" in forged.problem.problem


def test_async_client_and_pages(server: Server, account: Account) -> None:
    async def run() -> tuple[str, int]:
        async with lexecon.AsyncLexeconClient(f"{server.url}/lexecon", api_key=account.api_key) as lx:
            decisions = await asyncio.gather(*[lx.decide("model", "Search the web", "web_search") for _ in range(3)])
            page = await lx.get_ledger(limit=1)
            walked = [e async for e in page.auto_paging_iter()]
            assert len(walked) == page.total
            result = await lx.verify(decisions[0].capability_token or "", action="web_search")
            return decisions[0].decision, int(result.valid)

    assert asyncio.run(run()) == ("ALLOWED", 1)


def test_unique_ids_per_call(server: Server, account: Account) -> None:
    lx = client(server, account.api_key)
    ids = {lx.decide("model", f"Search {uuid.uuid4()}", "web_search").decision_id for _ in range(2)}
    assert len(ids) == 2
