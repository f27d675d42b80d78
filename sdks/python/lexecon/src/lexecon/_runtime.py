"""The SDK runtime: transport, retries, errors, logging, pagination and mock mode.

Copied verbatim into every generated Python package by orrery-sdk-gen
(sdk-gen/templates/python/_runtime.py); edit it there, then regenerate.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import email.utils
import json
import logging
import os
import random
import re
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import (
    Any,
    AsyncIterator,
    Callable,
    ClassVar,
    Generic,
    Iterator,
    Mapping,
    Sequence,
    TypedDict,
    TypeVar,
    cast,
)

import httpx

from . import exceptions as _exc

JSON = Any
M = TypeVar("M", bound="BaseModel")
C = TypeVar("C", bound="_BaseClient")

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server asking for a longer wait than this is not obeyed: the backoff applies instead.
MAX_RETRY_AFTER = 60.0
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
REDACTED = "[REDACTED]"
_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization"}
)
_SECRET_KEYS = frozenset(
    {"password", "key", "api_key", "apikey", "secret", "token", "authorization", "biometric_data"}
)


# ---------------------------------------------------------------------------------------------
# Descriptions of the wire format, and decoding JSON into typed models


@dataclasses.dataclass(frozen=True)
class Desc:
    """How one JSON value maps to a Python value."""

    kind: str  # str int float bool datetime any object model list map optional
    inner: Desc | None = None
    model: Callable[[], type[BaseModel]] | None = None


STR = Desc("str")
INT = Desc("int")
FLOAT = Desc("float")
BOOL = Desc("bool")
DATETIME = Desc("datetime")
ANY = Desc("any")
OBJECT = Desc("object")


def optional(inner: Desc) -> Desc:
    return Desc("optional", inner)


def list_of(inner: Desc) -> Desc:
    return Desc("list", inner)


def map_of(inner: Desc) -> Desc:
    return Desc("map", inner)


def model(resolve: Callable[[], type[BaseModel]]) -> Desc:
    return Desc("model", model=resolve)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    wire: str
    desc: Desc
    required: bool


@dataclasses.dataclass(kw_only=True)
class BaseModel:
    """A response or request model. Unknown fields the server adds are kept in `_extra`."""

    _fields: ClassVar[tuple[FieldSpec, ...]] = ()
    _raw_response: RawResponse | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    _extra: dict[str, Any] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def _request_id(self) -> str | None:
        """The `X-Request-Id` of the response this object came from."""
        return self._raw_response.request_id if self._raw_response else None

    @classmethod
    def from_json(cls: type[M], data: JSON) -> M:
        return decode_model(cls, data, cls.__name__)

    def to_dict(self) -> dict[str, JSON]:
        """The object in its wire form (the JSON the API speaks)."""
        out: dict[str, JSON] = dict(self._extra)
        for spec in self._fields:
            value = getattr(self, spec.name)
            if value is not None or spec.required:
                out[spec.wire] = encode(value)
        return out


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC. A naive datetime (e.g. `datetime.now()`) is taken as local time."""
    aware = value.astimezone(timezone.utc)
    return aware.isoformat().replace("+00:00", "Z")


def _invalid(path: str, expected: str, value: JSON) -> _exc.APIResponseValidationError:
    return _exc.APIResponseValidationError(
        f"response field {path}: expected {expected}, got {type(value).__name__}"
    )


def decode(desc: Desc, value: JSON, path: str) -> Any:
    kind = desc.kind
    if kind == "optional":
        assert desc.inner is not None
        return None if value is None else decode(desc.inner, value, path)
    if kind == "any":
        return value
    if kind == "str":
        if isinstance(value, str):
            return value
        raise _invalid(path, "a string", value)
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _invalid(path, "an integer", value)
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _invalid(path, "a number", value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise _invalid(path, "a boolean", value)
    if kind == "datetime":
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        raise _invalid(path, "an RFC 3339 date-time", value)
    if kind == "object":
        if isinstance(value, dict):
            return value
        raise _invalid(path, "an object", value)
    if kind == "list":
        assert desc.inner is not None
        if isinstance(value, list):
            return [decode(desc.inner, item, f"{path}[{i}]") for i, item in enumerate(value)]
        raise _invalid(path, "an array", value)
    if kind == "map":
        assert desc.inner is not None
        if isinstance(value, dict):
            return {k: decode(desc.inner, v, f"{path}.{k}") for k, v in value.items()}
        raise _invalid(path, "an object", value)
    if kind == "model":
        assert desc.model is not None
        return decode_model(desc.model(), value, path)
    raise AssertionError(f"unknown descriptor {kind}")


def decode_model(cls: type[M], data: JSON, path: str) -> M:
    if not isinstance(data, dict):
        raise _invalid(path, "an object", data)
    kwargs: dict[str, Any] = {}
    known = set()
    for spec in cls._fields:
        known.add(spec.wire)
        if spec.wire in data:
            kwargs[spec.name] = decode(spec.desc, data[spec.wire], f"{path}.{spec.wire}")
        elif spec.required:
            raise _exc.APIResponseValidationError(
                f"response field {path}.{spec.wire} is missing"
            )
    obj = cls(**kwargs)
    obj._extra = {k: v for k, v in data.items() if k not in known}
    return obj


def encode(value: Any) -> JSON:
    """A request value in its wire form."""
    if isinstance(value, BaseModel):
        return value.to_dict()
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# What the generated code tells the runtime about its API


@dataclasses.dataclass(frozen=True)
class OperationSpec:
    name: str
    method: str
    path: str
    auth: bool
    status: int
    required_body: tuple[str, ...] = ()
    mock_response: JSON = None
    idempotency_field: str | None = None
    unwrap: str | None = None
    # The answer is a stream of server-sent events (`mock_response`: a list of them).
    stream: bool = False


@dataclasses.dataclass(frozen=True)
class ApiSpec:
    title: str
    sdk_name: str
    version: str
    env_prefix: str
    default_base_url: str
    error_code: str | None
    error_message: str
    error_details: str | None
    mock_error_body: JSON
    mock_codes: Mapping[int, str]
    operations: Mapping[str, OperationSpec]


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
    """A WebSocket the API document describes (`x-websockets`): one message out, typed
    frames back until a final one."""

    name: str
    path: str
    message_type: str
    final: tuple[str, ...]
    # What mock mode replays (the document's examples, up to the first final frame).
    mock_frames: tuple[JSON, ...] = ()


class RequestOptions(TypedDict, total=False):
    """Per-call overrides."""

    timeout: float
    max_retries: int
    extra_headers: Mapping[str, str]
    idempotency_key: str


@dataclasses.dataclass(frozen=True)
class RawResponse:
    """The HTTP response behind a result or an error."""

    status_code: int
    headers: httpx.Headers
    method: str
    url: str
    text: str
    elapsed_ms: float
    retries: int

    @property
    def request_id(self) -> str | None:
        value: str | None = self.headers.get("x-request-id")
        return value

    def json(self) -> JSON:
        return json.loads(self.text) if self.text else None


@dataclasses.dataclass(frozen=True)
class LogEvent:
    """One entry of the request/response log. Credentials and secrets are already redacted."""

    kind: str  # "request" | "response" | "retry" | "error"
    method: str
    url: str
    attempt: int
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: JSON = None
    status_code: int | None = None
    elapsed_ms: float | None = None
    request_id: str | None = None
    delay: float | None = None
    error: str | None = None


LogHook = Callable[[LogEvent], None]


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return (
        lowered in _SECRET_KEYS
        or lowered.endswith(("_token", "password", "secret", "_key"))
        or lowered.startswith("token")
    )


def redact_body(body: JSON) -> JSON:
    if isinstance(body, dict):
        return {
            k: (REDACTED if _secret_key(str(k)) and v is not None else redact_body(v))
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [redact_body(v) for v in body]
    return body


def _pointer(document: JSON, pointer: str | None) -> JSON:
    if not pointer:
        return None
    node = document
    for part in pointer.lstrip("/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def make_status_error(spec: ApiSpec, operation: str, raw: RawResponse) -> _exc.APIStatusError:
    """The typed error for an error response: by dialect error code, then by status, and
    (where the SDK names one) also an instance of the operation's error class."""
    try:
        body = raw.json()
    except ValueError:
        body = raw.text or None
    code = _pointer(body, spec.error_code)
    message = _pointer(body, spec.error_message)
    details = _pointer(body, spec.error_details)
    text = message if isinstance(message, str) and message else f"HTTP {raw.status_code}"
    if isinstance(details, str) and details and details != text:
        text = f"{text}: {details}"
    code_str = code if isinstance(code, str) else None
    cls = _exc.CODE_ERRORS.get(code_str or "") or _status_class(raw.status_code)
    op_cls = _exc.OPERATION_ERRORS.get(operation)
    if op_cls is not None:
        cls = _combined(op_cls, cls)
    return cls(text, response=raw, body=body, code=code_str, details=details)


def _status_class(status: int) -> type[_exc.APIStatusError]:
    found = _exc.STATUS_ERRORS.get(status)
    if found is not None:
        return found
    return _exc.InternalServerError if status >= 500 else _exc.APIStatusError


_COMBINED: dict[tuple[type[Any], type[Any]], type[_exc.APIStatusError]] = {}


def _combined(
    op_cls: type[_exc.APIError], status_cls: type[_exc.APIStatusError]
) -> type[_exc.APIStatusError]:
    key = (op_cls, status_cls)
    if key not in _COMBINED:
        # Named for the status (`AuthenticationError` for a 401), which is what a reader of
        # a traceback needs; still an instance of the operation's class.
        made = type(status_cls.__name__, (op_cls, status_cls), {"__module__": op_cls.__module__})
        _COMBINED[key] = cast("type[_exc.APIStatusError]", made)
    return _COMBINED[key]


def retry_delay(headers: httpx.Headers | None, retries_done: int) -> float:
    """How long to wait before the next try: what the server asked for (`Retry-After`,
    `X-RateLimit-Reset-After`) when it asked for something sane, else exponential backoff
    with jitter."""
    if headers is not None:
        for name in ("retry-after-ms", "retry-after", "x-ratelimit-reset-after"):
            raw = headers.get(name)
            if raw is None:
                continue
            seconds = _parse_retry_after(raw.strip(), millis=name == "retry-after-ms")
            if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER:
                return seconds
    base = min(INITIAL_RETRY_DELAY * (2.0**retries_done), MAX_RETRY_DELAY)
    return base * (1.0 - 0.25 * random.random())


def _parse_retry_after(value: str, *, millis: bool) -> float | None:
    try:
        number = float(value)
        return number / 1000.0 if millis else number
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# ---------------------------------------------------------------------------------------------
# Mock mode: answers from the OpenAPI document's examples without a server


class MockTransport(httpx.MockTransport):
    """Answers every documented operation with its documented example. It checks what a
    server would check first (a credential where one is needed, required body fields) so
    tests of error handling see the dialect's real error shapes. `overrides` maps an
    operation name to a JSON body or to a function of the request returning
    `(status, body)`."""

    def __init__(
        self,
        spec: ApiSpec,
        base_path: str,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._spec = spec
        self._base_path = base_path.rstrip("/")
        self._overrides = dict(overrides or {})
        self._routes = [
            (op, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(op.path)) + "$"))
            for op in spec.operations.values()
        ]
        super().__init__(self._answer)

    def _error(self, status: int, message: str) -> httpx.Response:
        code = self._spec.mock_codes.get(status, "ERROR")

        def fill(node: JSON) -> JSON:
            if node == "$code":
                return code
            if node == "$message":
                return message
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            return node

        return httpx.Response(
            status, json=fill(self._spec.mock_error_body), headers={"x-request-id": "req_mock"}
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :] or "/"
        for op, pattern in self._routes:
            if op.method != request.method or not pattern.match(path):
                continue
            if op.auth and not (
                request.headers.get("authorization") or request.headers.get("x-api-key")
            ):
                return self._error(401, "Mock mode: this operation needs a credential")
            body: JSON = None
            if request.content:
                try:
                    body = json.loads(request.content)
                except ValueError:
                    return self._error(400, "Mock mode: the body is not JSON")
            for field in op.required_body:
                if not isinstance(body, dict) or body.get(field) is None:
                    return self._error(400, f"Missing required field: {field}")
            status, answer = op.status, op.mock_response
            override = self._overrides.get(op.name)
            if callable(override):
                status, answer = override(request)
            elif override is not None:
                answer = override
            if op.stream and status < 400:
                frames = "".join(
                    f"event: {event.get('type', 'message')}\ndata: {json.dumps(event)}\n\n"
                    for event in cast("list[dict[str, Any]]", answer)
                )
                return httpx.Response(
                    status,
                    content=frames.encode(),
                    headers={"x-request-id": "req_mock", "content-type": "text/event-stream"},
                )
            return httpx.Response(status, json=answer, headers={"x-request-id": "req_mock"})
        return self._error(404, f"Mock mode: no documented operation {request.method} {path}")


# ---------------------------------------------------------------------------------------------
# Pagination


class _Page(Generic[M]):
    """One page of an offset-paginated list. Iterating it yields this page's items;
    `auto_paging_iter()` walks every page."""

    def __init__(self, items: list[M], total: int, limit: int, offset: int) -> None:
        self.items = items
        self.total = total
        self.limit = limit
        self.offset = offset
        self._raw_response: RawResponse | None = None

    @property
    def _request_id(self) -> str | None:
        return self._raw_response.request_id if self._raw_response else None

    def __iter__(self) -> Iterator[M]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> M:
        return self.items[index]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(total={self.total}, offset={self.offset}, "
            f"items={self.items!r})"
        )

    def has_next_page(self) -> bool:
        return bool(self.items) and self.offset + len(self.items) < self.total

    def next_offset(self) -> int:
        return self.offset + len(self.items)


class SyncPage(_Page[M]):
    def __init__(
        self,
        items: list[M],
        total: int,
        limit: int,
        offset: int,
        fetch: Callable[[int], SyncPage[M]],
    ) -> None:
        super().__init__(items, total, limit, offset)
        self._fetch = fetch

    def next_page(self) -> SyncPage[M]:
        if not self.has_next_page():
            raise StopIteration("no next page")
        return self._fetch(self.next_offset())

    def iter_pages(self) -> Iterator[SyncPage[M]]:
        page: SyncPage[M] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.next_page()

    def auto_paging_iter(self) -> Iterator[M]:
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_Page[M]):
    def __init__(
        self,
        items: list[M],
        total: int,
        limit: int,
        offset: int,
        fetch: Callable[[int], Any],
    ) -> None:
        super().__init__(items, total, limit, offset)
        self._fetch = fetch

    async def next_page(self) -> AsyncPage[M]:
        if not self.has_next_page():
            raise StopAsyncIteration("no next page")
        page: AsyncPage[M] = await self._fetch(self.next_offset())
        return page

    async def iter_pages(self) -> AsyncIterator[AsyncPage[M]]:
        page: AsyncPage[M] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.next_page()

    async def auto_paging_iter(self) -> AsyncIterator[M]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


@dataclasses.dataclass(frozen=True)
class Pagination:
    items: str
    total: str
    limit: str
    offset: str


# ---------------------------------------------------------------------------------------------
# Streaming sessions

E = TypeVar("E")


class StreamSession(Generic[E]):
    """A streaming operation held open as a session: the generated subclass's send method
    starts a run, iterating the session yields that run's events until it ends (then the
    session takes the next send). Leaving a `with` block, or `close()`, closes a run still
    streaming, which cancels its work."""

    def __init__(self, start: Callable[[Any], Iterator[E]]) -> None:
        self._start = start
        self._events: Iterator[E] | None = None

    def __enter__(self) -> StreamSession[E]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, value: Any) -> None:
        self.close()
        self._events = self._start(value)

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        if self._events is None:
            raise RuntimeError("nothing sent yet: send a query before iterating")
        try:
            return next(self._events)
        except StopIteration:
            self._events = None
            raise

    def close(self) -> None:
        events, self._events = self._events, None
        close = getattr(events, "close", None)
        if close is not None:
            close()


class AsyncStreamSession(Generic[E]):
    """The asynchronous `StreamSession`: `async with`, `await session.send_…(…)`,
    `async for event in session`."""

    def __init__(self, start: Callable[[Any], AsyncIterator[E]]) -> None:
        self._start = start
        self._events: AsyncIterator[E] | None = None

    async def __aenter__(self) -> AsyncStreamSession[E]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, value: Any) -> None:
        await self.aclose()
        self._events = self._start(value)

    def __aiter__(self) -> AsyncIterator[E]:
        return self

    async def __anext__(self) -> E:
        if self._events is None:
            raise RuntimeError("nothing sent yet: send a query before iterating")
        try:
            return await self._events.__anext__()
        except StopAsyncIteration:
            self._events = None
            raise

    async def aclose(self) -> None:
        events, self._events = self._events, None
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


# ---------------------------------------------------------------------------------------------
# Server-Sent Events


@dataclasses.dataclass(frozen=True)
class ServerSentEvent:
    event: str | None
    data: str
    id: str | None
    retry: int | None

    def json(self) -> JSON:
        return json.loads(self.data)


class SSEDecoder:
    """Decodes a `text/event-stream` line by line (the WHATWG algorithm)."""

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and self._event is None:
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
            self._event, self._data, self._retry = None, [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def decode(self, lines: Sequence[str]) -> list[ServerSentEvent]:
        events = [e for e in (self.feed(line) for line in lines) if e is not None]
        tail = self.feed("")
        return events + ([tail] if tail else [])


class _Resume:
    """Where a stream is, so a GET stream that breaks can ask for the rest: the next try
    carries `Last-Event-ID`. A POST stream, once begun, is never re-sent."""

    def __init__(self, p: _Prepared) -> None:
        self._p = p
        self._began = False
        self._last_id: str | None = None

    def began(self) -> None:
        self._began = True

    def seen(self, sse: ServerSentEvent | None) -> ServerSentEvent | None:
        if sse is not None and sse.id:
            self._last_id = sse.id
            self._p.headers["last-event-id"] = sse.id
        return sse

    def can_resume(self) -> bool:
        if not self._began:
            return True
        return self._p.op.method == "GET" and self._last_id is not None


def _decode_event(events: Mapping[str, type[M]], sse: ServerSentEvent | None) -> M | None:
    """The typed event, or `None` (no event yet, or one this SDK version does not know)."""
    if sse is None:
        return None
    name = sse.event or "message"
    cls = events.get(name)
    if cls is None:
        return None
    try:
        value = sse.json()
    except ValueError as err:
        raise _exc.APIResponseValidationError(f"event {name!r} is not JSON: {err}") from err
    return decode_model(cls, value, cls.__name__)


# ---------------------------------------------------------------------------------------------
# Clients


_NOT_SET: Any = object()


@dataclasses.dataclass
class _Prepared:
    """One logical request, the same across its tries (idempotency key included)."""

    op: OperationSpec
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes | None
    timeout: httpx.Timeout
    max_retries: int

    def send_args(self) -> dict[str, Any]:
        return {
            "method": self.op.method,
            "url": self.url,
            "params": self.params,
            "content": self.content,
            "headers": self.headers,
            "timeout": self.timeout,
        }


class _BaseClient:
    _spec: ClassVar[ApiSpec]

    def __init__(
        self,
        base_url: str | None,
        *,
        api_key: str | None,
        access_token: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        log_hook: LogHook | None,
    ) -> None:
        spec = self._spec
        env = os.environ
        self.base_url = (
            base_url or env.get(f"{spec.env_prefix}_BASE_URL") or spec.default_base_url
        ).rstrip("/")
        self.api_key = api_key if api_key is not None else env.get(f"{spec.env_prefix}_API_KEY")
        self.access_token = access_token
        self.timeout = timeout
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self.default_headers = dict(default_headers or {})
        self.log_hook = log_hook
        self._logger = logging.getLogger(spec.sdk_name)

    def _copy(self: C, **changes: Any) -> C:
        clone = copy.copy(self)
        for name, value in changes.items():
            if value is not _NOT_SET:
                setattr(clone, name, value)
        return clone

    def with_options(
        self: C,
        *,
        api_key: str | None = _NOT_SET,
        access_token: str | None = _NOT_SET,
        timeout: float | httpx.Timeout = _NOT_SET,
        max_retries: int = _NOT_SET,
        default_headers: Mapping[str, str] = _NOT_SET,
    ) -> C:
        """A client like this one (sharing its connections) with some options changed,
        e.g. `client.with_options(access_token=login.token)`."""
        return self._copy(
            api_key=api_key,
            access_token=access_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )

    def _headers(self, op: OperationSpec, options: RequestOptions, key: str | None) -> dict[str, str]:
        headers = {
            "accept": "application/json",
            "user-agent": f"{self._spec.sdk_name}-python/{self._spec.version}",
        }
        if self.access_token:
            headers["authorization"] = f"Bearer {self.access_token}"
        if self.api_key:
            headers["x-api-key"] = self.api_key
        if key is not None:
            headers["idempotency-key"] = key
        headers.update(self.default_headers)
        headers.update(options.get("extra_headers", {}))
        return headers

    def _prepare(
        self,
        operation: str,
        path: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        options: RequestOptions | None,
    ) -> _Prepared:
        op = self._spec.operations[operation]
        opts: RequestOptions = options or {}
        url_path = op.path
        for name, value in (path or {}).items():
            if value is None or str(value) == "":
                raise ValueError(f"{name} must not be empty")
            url_path = url_path.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        key = opts.get("idempotency_key")
        if key is None and op.method != "GET":
            key = f"orrery-{uuid.uuid4()}"
        content: bytes | None = None
        if body is not None:
            wire = {k: encode(v) for k, v in body.items() if v is not None}
            if op.idempotency_field and wire.get(op.idempotency_field) is None and key:
                wire[op.idempotency_field] = key
            content = json.dumps(wire).encode()
        headers = self._headers(op, opts, key)
        if content is not None:
            headers["content-type"] = "application/json"
        return _Prepared(
            op,
            self.base_url + url_path,
            params,
            headers,
            content,
            self._timeout(opts),
            opts.get("max_retries", self.max_retries),
        )

    def _begin(self, p: _Prepared, attempt: int) -> float:
        """Logs a try; returns its start time."""
        if attempt:
            p.headers["x-retry-count"] = str(attempt)
        self._log_request(p.op.method, p.url, attempt, p.headers, p.content)
        return time.monotonic()

    def _transport_failed(self, p: _Prepared, attempt: int, err: httpx.TransportError) -> float:
        """The delay before the next try, or the typed error when the retries are spent."""
        if attempt < p.max_retries:
            delay = retry_delay(None, attempt)
            self._log(LogEvent("retry", p.op.method, p.url, attempt, delay=delay, error=repr(err)))
            return delay
        self._log(LogEvent("error", p.op.method, p.url, attempt, error=repr(err)))
        raise _connection_error(err, p.op.method, p.url) from err

    def _answered(
        self, p: _Prepared, response: httpx.Response, started: float, attempt: int
    ) -> tuple[RawResponse, float | None]:
        """The response, and the delay before the next try when this one is to be retried."""
        raw = self._finish(p.op, response, started, attempt)
        if raw.status_code < 400 or not self._should_retry(raw, attempt, p.max_retries):
            return raw, None
        delay = retry_delay(raw.headers, attempt)
        self._log(
            LogEvent("retry", p.op.method, p.url, attempt, status_code=raw.status_code, delay=delay)
        )
        return raw, delay

    def _log(self, event: LogEvent) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("%s", event)
        if self.log_hook is not None:
            self.log_hook(event)

    def _log_request(
        self, method: str, url: str, attempt: int, headers: Mapping[str, str], content: bytes | None
    ) -> None:
        body = json.loads(content) if content else None
        self._log(
            LogEvent("request", method, url, attempt, redact_headers(headers), redact_body(body))
        )

    def _finish(
        self,
        op: OperationSpec,
        response: httpx.Response,
        started: float,
        attempt: int,
    ) -> RawResponse:
        raw = RawResponse(
            status_code=response.status_code,
            headers=response.headers,
            method=response.request.method,
            url=str(response.request.url),
            text=response.text,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            retries=attempt,
        )
        try:
            logged = redact_body(raw.json())
        except ValueError:
            logged = raw.text
        self._log(
            LogEvent(
                "response",
                raw.method,
                raw.url,
                attempt,
                redact_headers(dict(raw.headers)),
                logged,
                status_code=raw.status_code,
                elapsed_ms=raw.elapsed_ms,
                request_id=raw.request_id,
            )
        )
        return raw

    def _should_retry(self, raw: RawResponse, attempt: int, max_retries: int) -> bool:
        if attempt >= max_retries:
            return False
        override: str | None = raw.headers.get("x-should-retry")
        if override in ("true", "false"):
            return override == "true"
        return raw.status_code in RETRYABLE_STATUSES

    def _result_body(self, op: OperationSpec, raw: RawResponse, operation: str) -> JSON:
        if raw.status_code >= 400:
            raise make_status_error(self._spec, operation, raw)
        try:
            data = raw.json()
        except ValueError as err:
            raise _exc.APIResponseValidationError(f"response is not JSON: {err}") from err
        if op.unwrap is not None:
            if not isinstance(data, dict) or op.unwrap not in data:
                raise _exc.APIResponseValidationError(f"response has no `{op.unwrap}` envelope")
            data = data[op.unwrap]
        return data

    def _build(self, raw: RawResponse, data: JSON, cast_to: type[M]) -> M:
        result = decode_model(cast_to, data, cast_to.__name__)
        result._raw_response = raw
        return result

    def _page_parts(
        self, data: JSON, item: type[M], pagination: Pagination
    ) -> tuple[list[M], int, int, int]:
        if not isinstance(data, dict):
            raise _exc.APIResponseValidationError("a page must be an object")
        items = decode(list_of(model(lambda: item)), data.get(pagination.items), pagination.items)
        numbers = []
        for name in (pagination.total, pagination.limit, pagination.offset):
            numbers.append(decode(INT, data.get(name), name))
        return items, numbers[0], numbers[1], numbers[2]

    def _timeout(self, opts: RequestOptions) -> httpx.Timeout:
        value = opts.get("timeout", self.timeout)
        return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _mock_transport(spec: ApiSpec, base_url: str, mock: bool | Mapping[str, Any]) -> MockTransport:
    overrides = mock if isinstance(mock, Mapping) else None
    return MockTransport(spec, httpx.URL(base_url).path, overrides)


class SyncAPIClient(_BaseClient):
    def __init__(
        self,
        base_url: str | None,
        *,
        api_key: str | None,
        access_token: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        verify_ssl: bool,
        default_headers: Mapping[str, str] | None,
        log_hook: LogHook | None,
        mock: bool | Mapping[str, Any],
        http_client: httpx.Client | None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            access_token=access_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            log_hook=log_hook,
        )
        self._sleep: Callable[[float], None] = time.sleep
        self._mock = bool(mock)
        if http_client is not None:
            self._http = http_client
        elif mock:
            self._http = httpx.Client(transport=_mock_transport(self._spec, self.base_url, mock))
        else:
            self._http = httpx.Client(verify=verify_ssl)

    def close(self) -> None:
        self._http.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(
        self,
        operation: str,
        path: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        options: RequestOptions | None,
    ) -> tuple[OperationSpec, RawResponse]:
        p = self._prepare(operation, path, query, body, options)
        attempt = 0
        while True:
            started = self._begin(p, attempt)
            try:
                response = self._http.request(**p.send_args())
            except httpx.TransportError as err:
                delay = self._transport_failed(p, attempt, err)
            else:
                raw, retry_in = self._answered(p, response, started, attempt)
                if retry_in is None:
                    return p.op, raw
                delay = retry_in
            self._sleep(delay)
            attempt += 1

    def request(
        self,
        operation: str,
        cast_to: type[M],
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        options: RequestOptions | None = None,
    ) -> M:
        op, raw = self._send(operation, path, query, body, options)
        return self._build(raw, self._result_body(op, raw, operation), cast_to)

    def request_page(
        self,
        operation: str,
        item: type[M],
        pagination: Pagination,
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any],
        options: RequestOptions | None = None,
    ) -> SyncPage[M]:
        op, raw = self._send(operation, path, query, None, options)
        items, total, limit, offset = self._page_parts(
            self._result_body(op, raw, operation), item, pagination
        )

        def fetch(next_offset: int) -> SyncPage[M]:
            return self.request_page(
                operation,
                item,
                pagination,
                path=path,
                query={**query, pagination.offset: next_offset, pagination.limit: limit},
                options=options,
            )

        page = SyncPage(items, total, limit, offset, fetch)
        page._raw_response = raw
        return page

    def request_stream(
        self,
        operation: str,
        events: Mapping[str, type[M]],
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        options: RequestOptions | None = None,
    ) -> Iterator[M]:
        """The operation's events as they arrive. Tries before the first byte are retried
        like any request. Once a POST stream has begun it is never re-sent (that would start
        the work again); a GET stream that breaks is resumed after the last event received
        (`Last-Event-ID`), within the retries. Leaving the loop closes the connection."""
        p = self._prepare(operation, path, query, body, options)
        p.headers["accept"] = "text/event-stream"
        attempt = 0
        resume = _Resume(p)
        while True:
            started = self._begin(p, attempt)
            try:
                with self._http.stream(**p.send_args()) as response:
                    if response.status_code < 400:
                        resume.began()
                        self._log(_stream_response_log(p, response, started, attempt))
                        decoder = SSEDecoder()
                        for line in response.iter_lines():
                            event = _decode_event(events, resume.seen(decoder.feed(line)))
                            if event is not None:
                                yield event
                        event = _decode_event(events, resume.seen(decoder.feed("")))
                        if event is not None:
                            yield event
                        return
                    response.read()
                    raw, retry_in = self._answered(p, response, started, attempt)
                    if retry_in is None:
                        raise make_status_error(self._spec, operation, raw)
                    delay = retry_in
            except httpx.TransportError as err:
                if not resume.can_resume():
                    raise _connection_error(err, p.op.method, p.url) from err
                delay = self._transport_failed(p, attempt, err)
            self._sleep(delay)
            attempt += 1


    def request_channel(
        self,
        channel: ChannelSpec,
        frames: Mapping[str, type[M]],
        fields: Mapping[str, Any],
    ) -> Iterator[M]:
        """Opens the channel, sends the message and yields its frames until a final one;
        leaving the loop closes the connection. Never retried: the message starts work."""
        call = _ChannelCall(self, channel, fields)
        if self._mock:
            yield from call.mock(frames)
            return
        connect, errors = _websockets(asynchronous=False)
        try:
            socket = connect(
                call.url,
                additional_headers=call.headers,
                user_agent_header=call.user_agent,
                open_timeout=call.open_timeout,
                max_size=_MAX_FRAME,
            )
        except (OSError, TimeoutError, errors.InvalidHandshake, errors.InvalidURI) as err:
            raise call.refused(err, errors) from err
        with socket:
            call.opened()
            try:
                socket.send(call.message)
                for text in socket:
                    frame = call.frame(frames, text)
                    if frame is not None:
                        yield frame
                    if call.is_final(text):
                        return
            except errors.ConnectionClosed as err:
                raise call.broke(err) from err
        raise call.broke(None)


def _stream_response_log(
    p: _Prepared, response: httpx.Response, started: float, attempt: int
) -> LogEvent:
    return LogEvent(
        "response",
        p.op.method,
        p.url,
        attempt,
        redact_headers(dict(response.headers)),
        None,
        status_code=response.status_code,
        elapsed_ms=(time.monotonic() - started) * 1000.0,
        request_id=response.headers.get("x-request-id"),
    )


class AsyncAPIClient(_BaseClient):
    def __init__(
        self,
        base_url: str | None,
        *,
        api_key: str | None,
        access_token: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        verify_ssl: bool,
        default_headers: Mapping[str, str] | None,
        log_hook: LogHook | None,
        mock: bool | Mapping[str, Any],
        http_client: httpx.AsyncClient | None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            access_token=access_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            log_hook=log_hook,
        )
        self._sleep: Callable[[float], Any] = asyncio.sleep
        self._mock = bool(mock)
        if http_client is not None:
            self._http = http_client
        elif mock:
            self._http = httpx.AsyncClient(
                transport=_mock_transport(self._spec, self.base_url, mock)
            )
        else:
            self._http = httpx.AsyncClient(verify=verify_ssl)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _send(
        self,
        operation: str,
        path: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        options: RequestOptions | None,
    ) -> tuple[OperationSpec, RawResponse]:
        p = self._prepare(operation, path, query, body, options)
        attempt = 0
        while True:
            started = self._begin(p, attempt)
            try:
                response = await self._http.request(**p.send_args())
            except httpx.TransportError as err:
                delay = self._transport_failed(p, attempt, err)
            else:
                raw, retry_in = self._answered(p, response, started, attempt)
                if retry_in is None:
                    return p.op, raw
                delay = retry_in
            await self._sleep(delay)
            attempt += 1

    async def request(
        self,
        operation: str,
        cast_to: type[M],
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        options: RequestOptions | None = None,
    ) -> M:
        op, raw = await self._send(operation, path, query, body, options)
        return self._build(raw, self._result_body(op, raw, operation), cast_to)

    async def request_page(
        self,
        operation: str,
        item: type[M],
        pagination: Pagination,
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any],
        options: RequestOptions | None = None,
    ) -> AsyncPage[M]:
        op, raw = await self._send(operation, path, query, None, options)
        items, total, limit, offset = self._page_parts(
            self._result_body(op, raw, operation), item, pagination
        )

        async def fetch(next_offset: int) -> AsyncPage[M]:
            return await self.request_page(
                operation,
                item,
                pagination,
                path=path,
                query={**query, pagination.offset: next_offset, pagination.limit: limit},
                options=options,
            )

        page = AsyncPage(items, total, limit, offset, fetch)
        page._raw_response = raw
        return page

    async def request_stream(
        self,
        operation: str,
        events: Mapping[str, type[M]],
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        options: RequestOptions | None = None,
    ) -> AsyncIterator[M]:
        """The operation's events as they arrive (see the sync client's `request_stream`)."""
        p = self._prepare(operation, path, query, body, options)
        p.headers["accept"] = "text/event-stream"
        attempt = 0
        resume = _Resume(p)
        while True:
            started = self._begin(p, attempt)
            try:
                async with self._http.stream(**p.send_args()) as response:
                    if response.status_code < 400:
                        resume.began()
                        self._log(_stream_response_log(p, response, started, attempt))
                        decoder = SSEDecoder()
                        async for line in response.aiter_lines():
                            event = _decode_event(events, resume.seen(decoder.feed(line)))
                            if event is not None:
                                yield event
                        event = _decode_event(events, resume.seen(decoder.feed("")))
                        if event is not None:
                            yield event
                        return
                    await response.aread()
                    raw, retry_in = self._answered(p, response, started, attempt)
                    if retry_in is None:
                        raise make_status_error(self._spec, operation, raw)
                    delay = retry_in
            except httpx.TransportError as err:
                if not resume.can_resume():
                    raise _connection_error(err, p.op.method, p.url) from err
                delay = self._transport_failed(p, attempt, err)
            await self._sleep(delay)
            attempt += 1


    async def request_channel(
        self,
        channel: ChannelSpec,
        frames: Mapping[str, type[M]],
        fields: Mapping[str, Any],
    ) -> AsyncIterator[M]:
        """The channel's frames (see the sync client's `request_channel`)."""
        call = _ChannelCall(self, channel, fields)
        if self._mock:
            for mocked in call.mock(frames):
                yield mocked
            return
        connect, errors = _websockets(asynchronous=True)
        try:
            socket = await connect(
                call.url,
                additional_headers=call.headers,
                user_agent_header=call.user_agent,
                open_timeout=call.open_timeout,
                max_size=_MAX_FRAME,
            )
        except (OSError, TimeoutError, errors.InvalidHandshake, errors.InvalidURI) as err:
            raise call.refused(err, errors) from err
        async with socket:
            call.opened()
            try:
                await socket.send(call.message)
                async for text in socket:
                    frame = call.frame(frames, text)
                    if frame is not None:
                        yield frame
                    if call.is_final(text):
                        return
            except errors.ConnectionClosed as err:
                raise call.broke(err) from err
        raise call.broke(None)


# ---------------------------------------------------------------------------------------------
# WebSockets (the `websockets` package, imported only when a channel is opened)

# A final frame carries whole outputs (1 MiB per stream on the Lumen terminal), JSON-escaped.
_MAX_FRAME = 16 * 1024 * 1024


def _websockets(asynchronous: bool) -> tuple[Any, Any]:
    try:
        import importlib

        errors = importlib.import_module("websockets.exceptions")
        client = importlib.import_module(
            "websockets.asyncio.client" if asynchronous else "websockets.sync.client"
        )
    except ImportError as err:
        raise ImportError(
            "this call opens a WebSocket and needs the `websockets` package: pip install 'websockets>=13'"
        ) from err
    return client.connect, errors


class _ChannelCall:
    """What a channel call needs, the same for the sync and async clients."""

    def __init__(self, client: _BaseClient, channel: ChannelSpec, fields: Mapping[str, Any]) -> None:
        self.client = client
        self.channel = channel
        url = client.base_url + channel.path
        self.url = re.sub(r"^http", "ws", url)
        headers = {}
        if client.access_token:
            headers["authorization"] = f"Bearer {client.access_token}"
        if client.api_key:
            headers["x-api-key"] = client.api_key
        headers.update(client.default_headers)
        self.headers = headers
        self.user_agent = f"{client._spec.sdk_name}-python/{client._spec.version}"
        wire: dict[str, JSON] = {"type": channel.message_type}
        wire.update({k: encode(v) for k, v in fields.items() if v is not None})
        self.message = json.dumps(wire)
        self.open_timeout = client._timeout({}).connect
        self.started = time.monotonic()
        client._log(LogEvent("request", "GET", self.url, 0, redact_headers(headers), redact_body(wire)))

    def opened(self) -> None:
        elapsed = (time.monotonic() - self.started) * 1000.0
        self.client._log(LogEvent("response", "GET", self.url, 0, status_code=101, elapsed_ms=elapsed))

    def refused(self, err: Exception, errors: Any) -> Exception:
        """The typed error for a failed handshake: the server's status and body when it
        answered, a connection error when it did not."""
        response = getattr(err, "response", None)
        if isinstance(err, errors.InvalidStatus) and response is not None:
            raw = RawResponse(
                status_code=response.status_code,
                headers=httpx.Headers(list(response.headers.raw_items())),
                method="GET",
                url=self.url,
                text=bytes(response.body or b"").decode("utf-8", "replace"),
                elapsed_ms=(time.monotonic() - self.started) * 1000.0,
                retries=0,
            )
            self.client._log(LogEvent("error", "GET", self.url, 0, status_code=raw.status_code))
            return make_status_error(self.client._spec, self.channel.name, raw)
        self.client._log(LogEvent("error", "GET", self.url, 0, error=repr(err)))
        if isinstance(err, TimeoutError):
            return _exc.APITimeoutError(f"GET {self.url}: the WebSocket handshake timed out")
        return _exc.APIConnectionError(
            f"GET {self.url}: connection failed ({err or type(err).__name__}); is the server running at that address?"
        )

    def frame(self, frames: Mapping[str, type[M]], text: str | bytes) -> M | None:
        """The typed frame, or `None` for a type this SDK version does not know."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise _exc.APIResponseValidationError(f"a frame is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise _exc.APIResponseValidationError("a frame is not an object")
        cls = frames.get(str(data.get("type")))
        return None if cls is None else decode_model(cls, data, cls.__name__)

    def is_final(self, text: str | bytes) -> bool:
        try:
            return json.loads(text).get("type") in self.channel.final
        except (ValueError, AttributeError):
            return False

    def broke(self, err: Exception | None) -> _exc.APIConnectionError:
        why = f" ({err})" if err else ""
        return _exc.APIConnectionError(
            f"{self.url}: the connection closed before a final frame{why}"
        )

    def mock(self, frames: Mapping[str, type[M]]) -> list[M]:
        decoded = [self.frame(frames, json.dumps(data)) for data in self.channel.mock_frames]
        return [frame for frame in decoded if frame is not None]


def _connection_error(err: httpx.TransportError, method: str, url: str) -> _exc.APIConnectionError:
    """Names what was tried: a wrong base URL is the usual cause."""
    if isinstance(err, httpx.TimeoutException):
        return _exc.APITimeoutError(f"{method} {url}: request timed out ({err or type(err).__name__})")
    return _exc.APIConnectionError(
        f"{method} {url}: connection failed ({err or type(err).__name__}); is the server running at that address?"
    )


__all__ = [
    "ANY",
    "BOOL",
    "DATETIME",
    "FLOAT",
    "INT",
    "OBJECT",
    "STR",
    "ApiSpec",
    "ChannelSpec",
    "AsyncAPIClient",
    "AsyncPage",
    "BaseModel",
    "Desc",
    "FieldSpec",
    "LogEvent",
    "LogHook",
    "MockTransport",
    "OperationSpec",
    "Pagination",
    "RawResponse",
    "RequestOptions",
    "SSEDecoder",
    "ServerSentEvent",
    "SyncAPIClient",
    "SyncPage",
    "list_of",
    "map_of",
    "model",
    "optional",
    "retry_delay",
]
