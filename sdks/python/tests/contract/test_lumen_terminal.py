"""The Lumen terminal over its WebSocket: `client.terminal.execute` (sync and async) against a
server with the sandbox on, and the document's own `websockets` example run as written with a
key added."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

import orrery_lumen
from orrery_lumen import models

from .conftest import Server


def terminal_key(server: Server, scopes: list[str]) -> str:
    luna = server.lunaos()
    signed = luna.auth.signup(f"sdk-term-{uuid.uuid4().hex}@example.com", server.password, "T")
    key = luna.with_options(access_token=signed.token).api_keys.create(
        name="terminal", scopes=scopes
    )
    return key.key


def lumen(server: Server, key: str, **kwargs: object) -> orrery_lumen.LumenClient:
    return orrery_lumen.LumenClient(f"{server.url}/lumen", api_key=key, **kwargs)  # type: ignore[arg-type]


def test_sync_execute_streams_typed_frames(server: Server) -> None:
    client = lumen(server, terminal_key(server, ["terminal:execute"]))
    frames = list(client.terminal.execute("echo hi; echo oops >&2", session_id="sdk"))
    kinds = [f.type for f in frames]
    assert kinds[:2] == ["ack", "start"], kinds
    assert isinstance(frames[0], models.AckFrame)
    assert frames[0].message == "Command execution started"
    assert any(isinstance(f, models.OutputFrame) and f.type == "stdout" and f.data == "hi\n" for f in frames)
    done = frames[-1]
    assert isinstance(done, models.CompleteFrame), kinds
    assert done.result.status == "success" and done.result.exit_code == 0
    assert done.result.stdout == "hi\n" and done.result.stderr == "oops\n"
    assert done.result.killed is False and done.result.duration >= 0
    assert done.sandbox["environment"] == "cleared"


def test_async_execute_errors_and_refusals(server: Server) -> None:
    key = terminal_key(server, ["terminal:execute"])

    async def run() -> None:
        async with orrery_lumen.AsyncLumenClient(f"{server.url}/lumen", api_key=key) as client:
            # A cwd outside the session's work dir: one error frame, nothing run.
            frames = [f async for f in client.terminal.execute("ls", cwd="../../")]
            assert [f.type for f in frames] == ["error"], frames
            assert isinstance(frames[0], models.ErrorFrame) and "cwd" in frames[0].message
            # Blocked before `ack`.
            frames = [f async for f in client.terminal.execute("rm -rf /")]
            assert [f.type for f in frames] == ["error"]
            assert frames[0].message.startswith("Command blocked")

    asyncio.run(run())


def test_the_handshake_is_authenticated(server: Server) -> None:
    bad = lumen(server, "lnos_live_not_a_key", max_retries=0)
    with pytest.raises(orrery_lumen.AuthenticationError) as refused:
        list(bad.terminal.execute("echo hi"))
    assert refused.value.status_code == 401 and refused.value.code == "UNAUTHORIZED"
    # A key without `terminal:execute` connects, and the command is refused in one frame.
    unscoped = lumen(server, terminal_key(server, ["chat"]))
    frames = list(unscoped.terminal.execute("echo hi"))
    assert [f.type for f in frames] == ["error"]
    assert "terminal:execute" in frames[0].message  # type: ignore[union-attr]


def test_an_approved_command_runs_on_the_waiting_connection(server: Server) -> None:
    key = terminal_key(server, ["terminal:execute", "chat"])

    async def run() -> list[str]:
        async with orrery_lumen.AsyncLumenClient(f"{server.url}/lumen", api_key=key) as client:
            seen: list[str] = []
            async for frame in client.terminal.execute("touch old.log && rm old.log && echo gone"):
                seen.append(frame.type)
                if isinstance(frame, models.ApprovalRequiredFrame):
                    assert frame.reasons and frame.approval_id
                    approved = await client.resolve_approval(frame.approval_id, True)
                    assert approved.status == "approved"
                if isinstance(frame, models.CompleteFrame):
                    assert frame.result.stdout == "gone\n"
            return seen

    seen = asyncio.run(run())
    assert seen[0] == "approval_required" and seen[-1] == "complete", seen
    assert "start" in seen


def test_logging_redacts_the_key(server: Server) -> None:
    key = terminal_key(server, ["terminal:execute"])
    events: list[orrery_lumen.LogEvent] = []
    client = lumen(server, key, log_hook=events.append)
    list(client.terminal.execute("true"))
    assert [e.kind for e in events] == ["request", "response"]
    assert events[0].url.startswith("ws://") and events[1].status_code == 101
    assert key not in repr(events)


# The document's "WebSocket Terminal Streaming" Python example, as written, but for the server
# address and the key the document leaves out (`?token=`), and printing into a list.
async def stream_command(command: str, uri: str, printed: list[str]) -> None:
    import websockets

    def print(*parts: object, end: str = "\n") -> None:  # noqa: A001 - the example's own print
        printed.append(" ".join(str(p) for p in parts) + end)

    async with websockets.connect(uri) as websocket:
        # Send command
        await websocket.send(json.dumps({
            'type': 'execute',
            'command': command,
            'cwd': '/app'
        }))

        # Receive messages
        async for message in websocket:
            data = json.loads(message)

            if data['type'] == 'start':
                print(f"\n⚡ Running: {data['command']}")
            elif data['type'] == 'stdout':
                print(data['data'], end='')
            elif data['type'] == 'stderr':
                print(f"[stderr] {data['data']}", end='')
            elif data['type'] == 'complete':
                duration = data['result']['duration'] / 1000
                print(f"\n✅ Completed in {duration:.2f}s")
                break
            elif data['type'] == 'error':
                print(f"\n❌ Error: {data['message']}")
                break


def test_the_documents_websocket_example(server: Server) -> None:
    key = terminal_key(server, ["terminal:execute"])
    uri = server.url.replace("http://", "ws://") + f"/lumen/ws?token={key}"
    printed: list[str] = []
    # As written: `npm install express` in `/app`. `/app` is outside the session's work dir,
    # so the example prints the one error frame and stops.
    asyncio.run(stream_command("npm install express", uri, printed))
    assert len(printed) == 1 and printed[0].startswith("\n❌ Error: ") and "cwd" in printed[0], printed


# The document's "Chat API" Python example, as written but for the server address and the
# key it leaves out (an `Authorization` header on its one request).
DOCUMENT_CHAT_EXAMPLE = """
import requests

def chat(message, session_id='my-session'):
    response = requests.post('https://lumenchat.org/api/chat', json={
        'message': message,
        'sessionId': session_id,
        'autoApprove': True
    })
    
    data = response.json()
    print(f"AI Response: {data['response']['response']}")
    
    if data['type'] == 'terminal':
        print(f"Command: {data['response']['terminalCommand']}")
        print(f"Output: {data['execution']['stdout']}")

chat('What is 12 * 12?')
"""


def test_the_documents_chat_example(server: Server) -> None:
    import contextlib
    import io

    key = terminal_key(server, ["terminal:execute", "chat"])
    script = DOCUMENT_CHAT_EXAMPLE.replace("https://lumenchat.org", f"{server.url}/lumen").replace(
        "json={", f"headers={{'Authorization': 'Bearer {key}'}}, json={{", 1
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(script, "lumen-chat-example", "exec"), {})
        # The same function on a message that is a command: it runs in the sandbox.
        exec(compile(script.replace("chat('What is 12 * 12?')", "chat('echo from the example')"), "lumen-chat-example", "exec"), {})
    printed = out.getvalue()
    assert printed.startswith("AI Response: "), printed
    assert "Command: echo from the example\nOutput: from the example\n" in printed, printed
