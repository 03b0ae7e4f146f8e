"""The real server (``python -m app.cli serve`` in a subprocess, on a free port, on a temp
SQLite file): the HTTP server's own limits through raw sockets (issue 8, finding 3) and
the graceful drain on SIGTERM under a write load (finding 8)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
SECRET = "a-test-secret-that-is-not-the-development-one"
TIMEOUT = 1  # the header and body timeouts the limits server runs with
CEILING = 15  # a generous bound on "closed within the timeout" (never a timing assertion)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    database: Path
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tokens(self) -> list[str]:
        """The demo banner's tokens, in the order of ``seed.DEMO_LOGINS`` (resident first)."""
        return re.findall(r'"Bearer ([^"]+)"', self.stdout.read_text(encoding="utf-8"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def start(tmp_path: Path, env: dict[str, str], *args: str) -> Server:
    """Start ``serve`` and wait until ``/healthz`` answers."""
    port = free_port()
    database = tmp_path / "bandeng.sqlite3"
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
            cwd=REPO,
            env={
                **clean,
                "PYTHONUNBUFFERED": "1",
                "BANDENG_DATABASE_URL": f"sqlite://{database}",
                "BANDENG_WATCH_POLICY": "false",
                **env,
            },
            stdout=out,
            stderr=err,
        )
    server = Server(process, port, database, stdout, stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {stderr.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"serve did not start: {stderr.read_text()}")


# --- the HTTP server's limits -----------------------------------------------------------------


def test_the_parser_setting_picks_the_protocol():
    from app.server import LimitedH11Protocol, LimitedHttpToolsProtocol, protocol_class
    from services.config import load_settings

    assert issubclass(protocol_class(load_settings({})), LimitedHttpToolsProtocol)  # the default
    h11 = protocol_class(load_settings({"BANDENG_HTTP_PARSER": "h11", "BANDENG_HTTP_MAX_HEADERS": "7"}))
    assert issubclass(h11, LimitedH11Protocol) and h11.max_headers == 7
    with pytest.raises(ValueError, match="BANDENG_HTTP_PARSER"):
        load_settings({"BANDENG_HTTP_PARSER": "picohttp"})


@pytest.fixture(scope="module", params=["httptools", "h11"])
def limits_server(request, tmp_path_factory) -> Iterator[Server]:
    """Production mode with a secret (it starts), short read timeouts; each HTTP parser."""
    server = start(
        tmp_path_factory.mktemp("limits"),
        {
            "BANDENG_HTTP_PARSER": request.param,
            "BANDENG_ENV": "production",
            "BANDENG_SECRET": SECRET,
            "BANDENG_HTTP_HEADER_TIMEOUT": str(TIMEOUT),
            "BANDENG_HTTP_BODY_TIMEOUT": str(TIMEOUT),
            "BANDENG_HTTP_KEEP_ALIVE_TIMEOUT": str(TIMEOUT),
            "BANDENG_HTTP_MAX_HEADERS": "100",
            "BANDENG_HTTP_MAX_HEADER_BYTES": str(32 * 1024),
        },
    )
    yield server
    server.stop()


def exchange(port: int, data: bytes, wait: float = CEILING) -> tuple[bytes, bool]:
    """Send ``data`` on a new connection and read until the server closes it (or ``wait``
    passes): what was answered, and whether the connection was closed."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            return received, True
        except TimeoutError:
            return received, False
        return received, True


def status(response: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(match.group(1)) if match else None


def request(*headers: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + b"".join(headers) + b"Connection: close\r\n\r\n"


def test_an_ordinary_request_is_answered(limits_server):
    response, closed = exchange(limits_server.port, request(b"X-A: b\r\n" * 90))
    assert status(response) == 200 and closed


def test_headers_of_a_mebibyte_are_refused(limits_server):
    response, closed = exchange(limits_server.port, request(b"X-Big: " + b"a" * (1 << 20) + b"\r\n"))
    assert closed
    # the refusal may be lost when the server resets the connection while we still send
    assert response == b"" or status(response) == 431, response[:200]


def test_ten_thousand_headers_are_refused(limits_server):
    response, closed = exchange(limits_server.port, request(*(b"X-H%d: v\r\n" % i for i in range(10_000))))
    assert closed
    assert response == b"" or status(response) == 431, response[:200]


def test_more_headers_than_the_cap_are_refused_with_431(limits_server):
    # 101 small headers: well under the byte limit, over the count
    response, closed = exchange(limits_server.port, request(*(b"X-H%d: v\r\n" % i for i in range(101))))
    assert status(response) == 431 and closed
    assert b'"REQUEST_HEADERS_TOO_LARGE"' in response


def test_exactly_the_header_cap_is_answered(limits_server):
    response, closed = exchange(limits_server.port, request(*(b"X-H%d: v\r\n" % i for i in range(98))))
    assert status(response) == 200 and closed  # 98 + Host + Connection = 100 headers


def head_of(size: int) -> bytes:
    """A request whose line and headers (blank line included) are exactly ``size`` bytes."""
    bare = request(b"X-Pad: \r\n")
    return request(b"X-Pad: " + b"a" * (size - len(bare)) + b"\r\n")


def test_a_head_of_exactly_the_byte_limit_is_answered(limits_server):
    data = head_of(32 * 1024)
    assert len(data) == 32 * 1024
    response, closed = exchange(limits_server.port, data)
    assert status(response) == 200 and closed


def test_a_head_one_byte_over_the_limit_is_refused_even_in_one_write(limits_server):
    response, closed = exchange(limits_server.port, head_of(32 * 1024 + 1))
    assert closed
    assert status(response) == 431 and b'"REQUEST_HEADERS_TOO_LARGE"' in response, response[:200]


def test_a_pipelined_head_over_the_limit_is_refused_after_the_first_answer(limits_server):
    first = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    response, closed = exchange(limits_server.port, first + head_of(32 * 1024 + 1))
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", response) == [b"200", b"431"] and closed, response[:300]


def test_a_pipelined_malformed_request_is_refused_after_the_first_answer(limits_server):
    first = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    response, closed = exchange(limits_server.port, first + b"GET /healthz HTTP/1.1\r\nHost test\r\n\r\n")
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", response) == [b"200", b"400"] and closed, response[:300]


def test_pipelined_heads_each_under_the_limit_are_answered(limits_server):
    first = head_of(20 * 1024).replace(b"Connection: close\r\n", b"Connection: keep-alive\r\n")
    response, closed = exchange(limits_server.port, first + head_of(20 * 1024))
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", response) == [b"200", b"200"] and closed, response[:300]


def test_a_body_does_not_count_towards_the_head_limit(limits_server):
    body = b'{"query": "{ __typename }"' + b" " * (64 * 1024) + b"}"
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    response, closed = exchange(limits_server.port, head + body)  # one write: head and body
    assert status(response) == 200 and closed, response[:300]
    assert b'"__typename"' in response


def test_a_malformed_request_is_refused_with_400(limits_server):
    response, closed = exchange(limits_server.port, b"GET /healthz HTTP/1.1\r\nHost test\r\n\r\n")
    assert status(response) == 400 and closed
    assert b'"BAD_REQUEST"' in response


def test_pipelined_requests_are_all_answered(limits_server):
    keep = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    response, closed = exchange(limits_server.port, keep * 3 + request())
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", response) == [b"200"] * 4 and closed


def test_headers_that_never_end_are_cut_off(limits_server):
    response, closed = exchange(limits_server.port, b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    assert closed, "the half-sent request was held open"
    assert status(response) == 408 and b'"REQUEST_TIMEOUT"' in response


def test_a_connection_that_sends_nothing_is_closed(limits_server):
    response, closed = exchange(limits_server.port, b"")
    assert closed and response == b""


def test_a_body_that_stops_half_way_is_cut_off(limits_server):
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    response, closed = exchange(limits_server.port, head + b'{"query": "{ __typ')
    assert closed, "the half-sent body was held open"
    assert status(response) == 408 and b'"REQUEST_TIMEOUT"' in response


def test_an_idle_keep_alive_connection_is_closed(limits_server):
    response, closed = exchange(limits_server.port, b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert status(response) == 200 and closed  # answered, then closed after the keep-alive timeout


# --- graceful drain on SIGTERM ----------------------------------------------------------------

RAISE = "mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id title } }"


@pytest.mark.slow  # a server start (with the demo seed) and a drain: 15-40 s on a busy machine
@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_sigterm_drains_readiness_first_then_finishes_in_flight_work(tmp_path, parser):
    server = start(
        tmp_path,
        {
            "BANDENG_HTTP_PARSER": parser,
            "BANDENG_DRAIN_SECONDS": "2",
            "BANDENG_SHUTDOWN_TIMEOUT": "20",
            "BANDENG_RATE_LIMIT_TOKEN_RATE": "0",
            "BANDENG_RATE_LIMIT_ADDRESS_RATE": "0",
        },
        "--demo",
    )
    try:
        token = server.tokens()[0]  # resident_wang, of the grid 福禄巷北社区第一网格
        with closing(sqlite3.connect(server.database)) as db:
            (grid,) = db.execute("SELECT id FROM org_unit WHERE name = '福禄巷北社区第一网格'").fetchone()
        acknowledged: list[tuple[str, bool]] = []  # (title, sent after SIGTERM)
        refused: list[int] = []
        readiness: list[tuple[int, bool]] = []
        signalled = asyncio.Event()
        loaded = asyncio.Event()  # 20 writes acknowledged: the load is under way

        async def writer(n: int) -> None:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                for i in range(10_000):
                    title = f"drain {n}-{i}"
                    after = signalled.is_set()
                    try:
                        response = await client.post(
                            "/graphql",
                            json={
                                "query": RAISE,
                                "variables": {
                                    "input": {"unitId": str(grid), "title": title, "category": "other"}
                                },
                            },
                        )
                    except httpx.TransportError:
                        return  # the listener is closed: the server is going away
                    body = response.json() if response.status_code == 200 else {}
                    if (body.get("data") or {}).get("raiseConcern", {}) and not body.get("errors"):
                        acknowledged.append((title, after))
                        if len(acknowledged) >= 20:
                            loaded.set()
                    else:
                        refused.append(response.status_code)

        async def watch_readiness() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                while True:
                    try:
                        response = await client.get("/readyz")
                    except httpx.TransportError:
                        return
                    readiness.append((response.status_code, signalled.is_set()))
                    await asyncio.sleep(0.1)

        async def terminate() -> None:
            await loaded.wait()
            server.process.send_signal(signal.SIGTERM)
            signalled.set()

        await asyncio.wait_for(
            asyncio.gather(*(writer(n) for n in range(4)), watch_readiness(), terminate()), timeout=120
        )
        code = await asyncio.to_thread(server.process.wait, 60)
    finally:
        server.stop()
    assert code == 0, server.stderr.read_text()[-2000:]
    assert (200, False) in readiness and (503, True) in readiness  # ready, then draining
    assert any(after for _, after in acknowledged), "no request was served during the drain"
    with closing(sqlite3.connect(server.database)) as db:
        stored = [title for (title,) in db.execute("SELECT title FROM concern WHERE title LIKE 'drain %'")]
    assert sorted(stored) == sorted(title for title, _ in acknowledged)  # every ack stored, once
    assert refused == []
