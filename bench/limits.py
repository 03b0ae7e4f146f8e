"""Prints how long the query limits take to refuse (or pass) the issue-8 reproducers.

Not a test. No database is needed: every request below is decided before execution (a
refused one never reaches the database; the passing fragment DAG only asks for
``__typename``). For each case it prints the median and the worst of ``--repeat`` runs of

* the measure alone (``schema.limits.Limits.check`` on a parsed document), and
* the whole request through the in-process HTTP app (parse, validation, limits, answer),

for the fragment DAG (F0..F(n-1), each spreading the next twice) at 10, 20 and 40
fragments, and for the 130-byte fan-out query. With ``--old`` it also times Strawberry's
``QueryDepthLimiter`` (the limiter this replaced) on small DAGs, to show its doubling.

    python bench/limits.py
    python bench/limits.py --repeat 50 --old
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run against the checkout this file lives in
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from graphql import parse, validate  # noqa: E402

from app.http import create_app  # noqa: E402
from policies.store import PolicyStore  # noqa: E402
from schema.limits import Limits  # noqa: E402
from schema.root import build_schema  # noqa: E402
from services.config import POLICY_DIR_DEFAULT, Settings  # noqa: E402

FAN_OUT = "{councils{nodes{meetings{council{meetings{council{meetings{council{meetings{id}}}}}}}}}}"


def fragment_dag(size: int, leaf: str = "councils { nodes { id } }") -> str:
    parts = ["query Dag { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(size - 1)]
    parts.append(f"fragment F{size - 1} on Query {{ {leaf} }}")
    return "\n".join(parts)


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


async def timed_async(fn, repeat: int) -> tuple[float, float, object]:
    runs, last = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        last = await fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs), last


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--old", action="store_true", help="also time Strawberry's QueryDepthLimiter")
    args = parser.parse_args()

    settings = Settings(database_url="sqlite://:memory:", watch_policy=False)
    schema = build_schema(settings)._schema
    limits = Limits.of(settings)
    app = create_app(settings, policy_store=PolicyStore(POLICY_DIR_DEFAULT), manage_database=False)
    print(f"# {platform.node()} {platform.python_version()} {platform.machine()}; repeat {args.repeat}")
    print(f"# command: python {' '.join(sys.argv)}")
    cases = [(f"fragment DAG, {n} fragments (cost 20 x 2^{n - 1})", fragment_dag(n)) for n in (10, 20, 40)]
    cases += [("fragment DAG, 40 fragments, __typename leaf (passes)", fragment_dag(40, "__typename"))]
    cases += [("fan-out query (130 bytes)", FAN_OUT)]
    print(f"{'case':55} {'measure ms (p50/max)':>22} {'HTTP ms (p50/max)':>20}  answer")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for title, query in cases:
            document = parse(query)
            m50, mmax = timed(lambda document=document: limits.check(schema, document), args.repeat)

            async def request(query=query):
                return (await client.post("/graphql", json={"query": query})).json()

            h50, hmax, body = await timed_async(request, args.repeat)
            codes = [e["extensions"]["code"] for e in body.get("errors") or []] or ["ok"]  # type: ignore[union-attr]
            print(f"{title:55} {m50:10.2f} / {mmax:8.2f} {h50:9.2f} / {hmax:8.2f}  {','.join(codes)}")
    if args.old:
        from strawberry.extensions import QueryDepthLimiter

        rules = QueryDepthLimiter(max_depth=10).validation_rules
        print("\nStrawberry's QueryDepthLimiter (replaced), validation of the DAG alone:")
        for n in (10, 12, 14, 16):
            document = parse(fragment_dag(n))
            m50, mmax = timed(lambda document=document: validate(schema, document, rules), 3)
            print(f"  {n} fragments: {m50:9.2f} ms (max {mmax:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
