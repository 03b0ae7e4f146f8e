"""graphql-http's GraphQL-over-HTTP server audit against the real server (uvicorn, a real
socket): every MUST and SHOULD check passes.

Starts ``python -m app.cli serve --demo`` on a free port with a temporary SQLite database,
installs the pinned audit runner (``tests/http_audit``, ``npm ci``; the ``node_modules``
there is reused while it matches the pins) and runs it. Node.js and npm are required: when
they are missing this test fails (CI must run it); it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT_DIR = Path(__file__).resolve().parent / "http_audit"
STARTUP_SECONDS = 120  # migrations and the demo seed on a busy machine


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the GraphQL-over-HTTP audit needs Node.js (>= 18) and npm. "
            "Install them (e.g. `apt-get install nodejs npm`) and run the tests again.",
            pytrace=False,
        )
    return path


def _installed_matches_pins() -> bool:
    """Whether node_modules holds exactly the versions package.json pins."""
    pins = json.loads((AUDIT_DIR / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        manifest = AUDIT_DIR / "node_modules" / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"the server was not ready within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def audit_runner() -> str:
    node, npm = _tool("node"), _tool("npm")
    if not _installed_matches_pins():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=AUDIT_DIR, check=True, timeout=300
        )
    return node


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("http_audit")
    port = _free_port()
    log = tmp / "server.log"
    env = {
        **os.environ,
        "BANDENG_DATABASE_URL": f"sqlite://{tmp / 'audit.sqlite3'}",
        "BANDENG_WATCH_POLICY": "false",
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(server, f"http://127.0.0.1:{port}/readyz", log)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_every_must_and_should_audit_passes(audit_runner, server_url):
    result = subprocess.run(
        [audit_runner, "audit.mjs", server_url], cwd=AUDIT_DIR, capture_output=True, text=True, timeout=300
    )
    report = result.stdout + result.stderr
    lines = [
        line
        for line in result.stdout.splitlines()
        if line.split(" ", 1)[0] in ("OK", "WARN", "ERROR", "NOTICE")
    ]
    failing = [
        line for line in lines if not line.startswith("OK") and (" MUST " in line or " SHOULD " in line)
    ]
    assert result.returncode == 0, report
    assert not failing, report
    # the runner really ran the audits (graphql-http 1.23.1: 61, 13 MUST and 25 SHOULD)
    assert len(lines) >= 50, report
    assert sum(" MUST " in line for line in lines) >= 10, report
    assert sum(" SHOULD " in line for line in lines) >= 20, report
