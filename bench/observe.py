"""What the operator's view costs each request: ``app.observe.Observe`` (request id, metrics,
the ``request`` log line), first around an ASGI app that answers at once, then around the
real application answering ``{ me { name } }`` from its proven plan (the fast path, the
cheapest request there is) on a throwaway SQLite demo database.

Not a test; prints CPU microseconds per request (median of rounds, variants alternating).

    python bench/observe.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import seed  # noqa: E402
from app.http import create_app  # noqa: E402
from app.observe import Observe  # noqa: E402
from services import database, identity, logs, metrics  # noqa: E402
from services.config import Settings  # noqa: E402

SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/graphql",
    "raw_path": b"/graphql",
    "root_path": "",
    "query_string": b"",
    "scheme": "http",
    "http_version": "1.1",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 50000),
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer bdg_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        (b"accept", b"application/json"),
    ],
}
BODY = {"type": "http.response.body", "body": b'{"data":{"me":{"name":"x"}}}'}
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}


async def answer(scope, receive, send) -> None:
    """What the layers below note on a compiled read, then the answer."""
    metrics.note_operation("Me")
    metrics.note_actor(7)
    metrics.note_code(metrics.OK)
    await send(START)
    await send(BODY)


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message) -> None:
    pass


async def per_request(app, n: int) -> float:
    # CPU time of this process: the figure holds on a machine busy with other work
    started = time.process_time()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    return (time.process_time() - started) / n * 1e6


DEVNULL = open(os.devnull, "w")  # noqa: SIM115  (where the log lines go)


async def compare(title: str, bare, observed, requests: int, rounds: int) -> None:
    variants = {
        "without Observe": (bare, "WARNING", "json"),
        "Observe, log level WARNING (metrics only)": (observed, "WARNING", "json"),
        "Observe + JSON request line": (observed, "INFO", "json"),
        "Observe + console request line": (observed, "INFO", "console"),
    }
    figures: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (app, level, fmt) in variants.items():
            logs.configure(level, fmt, stream=DEVNULL)
            figures[name].append(await per_request(app, requests))
    logging.getLogger().handlers.clear()
    base = statistics.median(figures["without Observe"])
    print(f"{title}: {requests} requests x {rounds} rounds, median CPU µs per request")
    for name, values in figures.items():
        median = statistics.median(values)
        extra = (
            ""
            if name == "without Observe"
            else f"  (+{median - base:.1f} µs, +{(median / base - 1) * 100:.1f}%)"
        )
        print(f"  {name:<45} {median:7.1f}{extra}")


async def main(args: argparse.Namespace) -> None:
    print(f"python {sys.version.split()[0]}")
    await compare("an app that answers at once", answer, Observe(answer), args.requests, args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/bench.sqlite3"
        await database.upgrade(url)
        await database.connect(url)
        try:
            world = await seed.seed_demo()
            token = await identity.issue_token(world.people["resident_wang"].id, "bench")
            settings = Settings(database_url=url, rate_limit_token_rate=0, rate_limit_address_rate=0)
            app = create_app(settings, manage_database=False)
            SCOPE["headers"] = [(b"authorization", f"Bearer {token}".encode()), *SCOPE["headers"][:2]]
            body = b'{"query":"{ me { name } }"}'

            async def receive_query():
                return {"type": "http.request", "body": body, "more_body": False}

            async def request(observe: bool):
                stack = app.middleware_stack or app.build_middleware_stack()
                app.middleware_stack = stack
                target = stack if observe else stack.app  # Observe, or what it wraps

                async def call(scope, receive, send):
                    await target(scope, receive_query, send)

                return call

            observed, bare = await request(True), await request(False)
            await per_request(observed, 10)  # planned, proven: the fast path from here on
            await compare(
                "{ me { name } } from its proven plan (SQLite)",
                bare,
                observed,
                args.requests // 10,
                args.rounds,
            )
        finally:
            await database.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
