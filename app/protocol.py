"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): what a request
may look like and how an answer is framed.

- Request bodies are strict: UTF-8 JSON objects, nested at most ``max_json_depth`` deep, with
  finite numbers that Python can convert; anything else is refused with a JSON 4xx whose
  ``errors[0].extensions.code`` says why (``BAD_REQUEST`` and friends below).
- Responses are ``application/graphql-response+json`` when the client asks for it (with the
  spec's status codes: 4xx and no ``data`` when execution never started), otherwise the
  legacy ``application/json`` (status 200 for every well-formed request).

The view in ``app/http.py`` calls these from the narrowest of Strawberry's hooks.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from strawberry.types.execution import PreExecutionError

from services import metrics

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
SUPPORTED_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, JSON)

# Codes of refusals made before GraphQL sees the request (``errors[0].extensions.code``).
BAD_REQUEST = "BAD_REQUEST"  # 400: not a well-formed GraphQL-over-HTTP request
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"  # 400: which operation to run?
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # 405: e.g. a mutation over GET
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"  # 406: the Accept header names no type we produce
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # 415: the body is not application/json
NOT_FOUND = "NOT_FOUND"  # 404: no such path
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"  # 500: a bug; it has been logged

CODE_FOR_STATUS = {
    400: BAD_REQUEST,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    415: UNSUPPORTED_MEDIA_TYPE,
    500: INTERNAL_SERVER_ERROR,
}

# Status of an application/graphql-response+json answer without ``data`` (execution never
# started), by the code of its first error. Request errors (parse, validation, variable
# coercion, limits) are the client's: 400. A code missing here is a request error too.
STATUS_FOR_CODE = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "RATE_LIMITED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


class RequestRefused(Exception):
    """The request is refused before execution: an HTTP status, a message, a code."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] = {}):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODE_FOR_STATUS.get(status, BAD_REQUEST)
        self.headers = dict(headers)


def error_body(message: str, code: str, **extensions: object) -> dict[str, Any]:
    """A GraphQL response holding one request error (no ``data``: nothing was executed)."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


async def send_error(
    send: Any,
    status: int,
    message: str,
    code: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    **extensions: object,
) -> None:
    """Answer from an ASGI middleware, before the app: ``error_body`` as JSON."""
    metrics.note_code(code)
    body = json.dumps(error_body(message, code, **extensions)).encode()
    start_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


# --- the Accept header -------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    q: float

    def specificity(self, media_type: str) -> int:
        """2 for an exact match, 1 for ``type/*``, 0 for ``*/*``, -1 for no match."""
        main, _, sub = media_type.partition("/")
        if self.type == main and self.subtype == sub:
            return 2
        if self.type == main and self.subtype == "*":
            return 1
        if self.type == "*" and self.subtype == "*":
            return 0
        return -1


def _ranges(accept: str) -> list[_Range]:
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        main, slash, sub = media.strip().lower().partition("/")
        if not slash or not main or not sub:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0 or math.isnan(q):
                    q = 0.0
        ranges.append(_Range(main, sub, q))
    return ranges


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when ``accept`` excludes both.

    No Accept header (or an empty one) means ``application/json`` (the spec's legacy rule).
    Each supported type takes the q-value of the most specific range that matches it
    (RFC 9110 §12.5.1). The higher q wins; on a tie, a type named explicitly wins over one
    reached through a wildcard, and ``application/graphql-response+json`` wins a tie of two
    explicit names while ``application/json`` wins a tie of two wildcards (``*/*`` keeps
    legacy clients on the type they expect).
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    best: tuple[float, int, int, str] | None = None
    for preference, media_type in enumerate(SUPPORTED_MEDIA_TYPES):
        matches = [(r.specificity(media_type), r.q) for r in ranges if r.specificity(media_type) >= 0]
        if not matches:
            continue
        specificity, q = max(matches)
        if q <= 0:
            continue
        explicit = 1 if specificity == 2 else 0
        # graphql-response+json (preference 0) first between explicit names; json between wildcards
        tie_break = -preference if explicit else preference
        candidate = (q, explicit, tie_break, media_type)
        if best is None or candidate > best:
            best = candidate
    return best[3] if best else None


def not_acceptable(accept: str | None) -> RequestRefused:
    """The 406 for an Accept header that excludes every type this service produces."""
    return RequestRefused(
        406,
        f"Cannot answer with any type the Accept header allows ({accept!r}); "
        f"this service produces {' and '.join(SUPPORTED_MEDIA_TYPES)}.",
    )


# --- the request body -------------------------------------------------------------------


def check_content_type(header: str | None) -> None:
    """A POST body must be ``application/json`` (UTF-8, which is also the default)."""
    if not header or not header.strip():
        raise RequestRefused(415, "A POST request needs `Content-Type: application/json`.")
    media, *rest = header.split(";")
    media_type = media.strip().lower()
    params = {}
    for param in rest:
        name, _, value = param.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    if media_type != JSON:
        raise RequestRefused(
            415, f"Unsupported Content-Type {media_type!r}: send the request as application/json."
        )
    charset = params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise RequestRefused(415, f"Unsupported charset {charset!r}: send the request body as UTF-8.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


_CONTAINERS = (dict, list)


def _deeper_than(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels in a decoded JSON value
    (level by level, so a wide body costs one pass and a deep one stops at the limit)."""
    level, current = 0, [value]
    while current:
        containers = [item for item in current if isinstance(item, _CONTAINERS)]
        if not containers:
            return False
        level += 1
        if level > limit:
            return True
        current = [child for c in containers for child in (c.values() if isinstance(c, dict) else c)]
    return False


def decode_json(data: str | bytes, max_depth: int) -> object:
    """Decode JSON strictly, raising ``ValueError`` with a reason a client can act on.

    Bytes must be UTF-8 (no guessing of UTF-16/32, no byte-order mark). ``NaN``,
    ``Infinity`` and numbers out of float range are refused; so are integers longer than
    Python converts (4,300 digits) and arrays/objects nested deeper than ``max_depth``.
    """
    too_deep = f"arrays and objects nest more than {max_depth} levels deep"
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"it is not valid UTF-8 (byte {exc.start})") from exc
    else:
        text = data
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"it is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:  # the decoder recurses once per level: ~1,000 levels
        raise ValueError(too_deep) from exc
    except ValueError as exc:  # int() past Python's digit limit, or NaN, 1e999 (hooks above)
        if "integer string conversion" in str(exc):
            raise ValueError(f"an integer has more than {sys.get_int_max_str_digits():,} digits") from exc
        raise
    # Fewer brackets than the limit cannot nest past it (the usual body: no walk at all).
    if text.count("[") + text.count("{") > max_depth and _deeper_than(value, max_depth):
        raise ValueError(too_deep)
    return value


def parse_object(data: str | bytes, what: str, max_depth: int, *, allow_null: bool = False) -> dict | None:
    """``data`` decoded, which must be a JSON object (or null when ``allow_null``)."""
    try:
        value = decode_json(data, max_depth)
    except ValueError as exc:  # JSONDecodeError included
        raise RequestRefused(400, f"{what} is refused: {exc}.") from exc
    if value is None and allow_null:
        return None
    if not isinstance(value, dict):
        hint = " (batched requests are not supported)" if isinstance(value, list) else ""
        raise RequestRefused(400, f"{what} must be a JSON object, not {_kind(value)}{hint}.")
    return value


_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def check_parameters(params: Mapping[str, object]) -> None:
    """The types of the request parameters the spec names (``query`` may be absent: a
    persisted-document extension can supply it; GraphQL then reports it missing)."""
    expected = {
        "query": (str, "a string"),
        "operationName": (str, "a string"),
        "variables": (dict, "an object"),
        "extensions": (dict, "an object"),
    }
    for name, (kind, described) in expected.items():
        value = params.get(name)
        if value is not None and not isinstance(value, kind):
            raise RequestRefused(400, f"`{name}` must be {described} or null, not {_kind(value)}.")
    name = params.get("operationName")
    if isinstance(name, str) and not _GRAPHQL_NAME.fullmatch(name):
        # Never echoed: it may hold anything, a lone surrogate included.
        raise RequestRefused(400, "`operationName` is not a GraphQL name ([_A-Za-z][_0-9A-Za-z]*).")


# --- the answer -------------------------------------------------------------------------


def started_execution(result: Any) -> bool:
    """Whether GraphQL began executing (so the answer has ``data``, even null).

    Parse and validation failures never start (Strawberry returns a ``PreExecutionError``);
    nor does a variable that cannot be coerced: graphql-core answers ``data: null`` with
    errors that have no ``path``. Field errors always have a path.
    """
    if isinstance(result, PreExecutionError):
        return False
    if result.data is not None or not result.errors:
        return True
    return any(error.path for error in result.errors)


def status_without_data(response: Mapping[str, Any]) -> int:
    """The status of an application/graphql-response+json answer that has no ``data``."""
    errors = response.get("errors") or [{}]
    code = ((errors[0] or {}).get("extensions") or {}).get("code")
    return STATUS_FOR_CODE.get(code, 400)
