"""The Lexecon document's three Python examples ("Examples" section), run as written against
Orrery. Only the base URL and key are added — through LEXECON_BASE_URL / LEXECON_API_KEY, which
`LexeconClient()` reads — and the helpers the examples leave to the reader (`execute_tool`,
`perform_action`) are defined. The example code below is verbatim from the document."""

from __future__ import annotations

import textwrap

import pytest

from .conftest import Account, Server

EXAMPLE_1 = '''
from lexecon import LexeconClient

client = LexeconClient()

decision = client.decide(
    actor="model",
    action="read_file",
    tool="file_reader",
    intent="Read configuration file"
)

if decision.decision == "ALLOWED":
    # Proceed with action
    result = execute_tool(decision.capability_token)
else:
    print(f"Denied: {decision.reason}")
'''

EXAMPLE_2 = '''
def execute_with_token(token, action):
    # Verify token first
    verification = client.verify(
        capability_token=token,
        action=action
    )
    
    if not verification.valid:
        raise PermissionError(verification.reason)
    
    # Execute action
    return perform_action(action)
'''

EXAMPLE_3 = '''
from datetime import datetime, timedelta

# Get all decisions from last hour
start_time = datetime.now() - timedelta(hours=1)
entries = client.get_ledger(
    start_time=start_time,
    limit=100
)

# Analyze decisions
allowed = sum(1 for e in entries if e.decision == "ALLOWED")
denied = sum(1 for e in entries if e.decision == "DENIED")

print(f"Allowed: {allowed}, Denied: {denied}")
'''


@pytest.fixture
def lexecon_env(server: Server, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXECON_BASE_URL", f"{server.url}/lexecon")
    monkeypatch.setenv("LEXECON_API_KEY", account.api_key)


def run(source: str, scope: dict[str, object]) -> dict[str, object]:
    exec(compile(textwrap.dedent(source), "<lexecon example>", "exec"), scope)
    return scope


def test_the_three_examples(lexecon_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    executed: list[object] = []
    scope: dict[str, object] = {
        "execute_tool": lambda token: executed.append(token) or "done",
        "perform_action": lambda action: f"performed {action}",
    }
    run(EXAMPLE_1, scope)
    decision = scope["decision"]
    out = capsys.readouterr().out
    # The built-in strict policy does not permit file_reader: the example takes its else branch.
    assert getattr(decision, "decision") in ("ALLOWED", "DENIED", "REQUIRES_REVIEW")
    assert executed or out.startswith("Denied: ")

    run(EXAMPLE_2, scope)
    client = scope["client"]
    allowed = client.decide(actor="model", action="Search the web", tool="web_search")  # type: ignore[attr-defined]
    execute_with_token = scope["execute_with_token"]
    assert execute_with_token(allowed.capability_token, "web_search") == "performed web_search"  # type: ignore[operator]
    with pytest.raises(PermissionError, match="Action mismatch"):
        execute_with_token(allowed.capability_token, "shell")  # type: ignore[operator]

    run(EXAMPLE_3, scope)
    out = capsys.readouterr().out.strip()
    assert out == f"Allowed: {scope['allowed']}, Denied: {scope['denied']}"
    assert int(scope["allowed"]) >= 1 and int(scope["denied"]) >= (0 if executed else 1)  # type: ignore[call-overload]
