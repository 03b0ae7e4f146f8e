"""How long a client waits when PostgreSQL freezes, and how fast the service recovers.

Not a test. Creates ``bandeng_faults_<random>``, runs ``bandeng serve --demo`` against it
through ``tests/faultproxy.py`` with the default timeouts (or whatever ``BANDENG_*`` the
environment sets), freezes the proxy, and prints when ``/readyz`` and a GraphQL query
answer; then resumes and prints how long recovery took. Drops the database at the end.

    python bench/faults.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultproxy import FaultProxy  # noqa: E402

QUERY = "{ me { name } concerns { totalCount } }"


def _codes(response: httpx.Response) -> object:
    body = response.json()
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []] or body.get("status", "ok")


async def _timed(label: str, request) -> None:
    began = time.monotonic()
    response = await request
    print(
        f"  {label:<28} HTTP {response.status_code} {_codes(response)} after {time.monotonic() - began:.2f} s"
    )


async def main(base_url: str) -> None:
    name = f"bandeng_faults_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = urlsplit(base_url)
    user = target.netloc.rsplit("@", 1)[0] + "@" if "@" in target.netloc else ""
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "BANDENG_DATABASE_URL": f"{target.scheme}://{user}127.0.0.1:{proxy.port}/{name}",
        "BANDENG_WATCH_POLICY": "false",
        "BANDENG_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "app.cli", "serve", "--demo", "--port", str(port)),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        token = None
        while token is None:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise SystemExit("the service exited before printing its tokens")
            if match := re.search(r"Bearer (bdg_[\w-]+)", line):
                token = match.group(1)

        async def drain() -> None:
            while await process.stdout.readline():
                pass

        drainer = asyncio.create_task(drain())
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=120, headers=headers
        ) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            print(f"service on {port}, database {name} through a proxy on {proxy.port}")
            await _timed("healthy query", client.post("/graphql", json={"query": QUERY}))
            proxy.freeze()
            print("frozen:")
            await asyncio.gather(
                _timed("/readyz", client.get("/readyz")),
                _timed("query", client.post("/graphql", json={"query": QUERY})),
            )
            await _timed("/readyz again", client.get("/readyz"))
            proxy.resume()
            began = time.monotonic()
            for _ in range(1000):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            print(f"resumed: /readyz 200 after {time.monotonic() - began:.2f} s")
            await _timed("query", client.post("/graphql", json={"query": QUERY}))
        drainer.cancel()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        await proxy.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/test")
    asyncio.run(main(parser.parse_args().database_url))
