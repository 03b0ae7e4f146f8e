"""Prints what the HTTP parser costs: req/s and server CPU ms per request for ``{ me { name } }``
under ``BANDENG_HTTP_PARSER=httptools`` and ``=h11`` (issue 9).

Not a test. Two ``bandeng serve --demo`` processes (each on its own SQLite file, rate limits
off, both with the same HTTP limits), measured in alternating rounds of
``wrk -t1 -c16 -d{seconds}s`` after a warm-up; the medians are printed.

    python bench/http_parser.py
    python bench/http_parser.py --rounds 5 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from peer import Measure, Server, run_wrk, start_server, wait_ready, wrk_script  # noqa: E402
from run import _free_port  # noqa: E402

QUERY = "{ me { name } }"
PARSERS = ("httptools", "h11")


def demo_token(server: Server, seconds: float = 120) -> str:
    """The first token of the demo banner (a resident)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited:\n{server.log.read_text()[-3000:]}")
        found = re.findall(r'"Bearer ([^"]+)"', server.log.read_text(encoding="utf-8"))
        if found:
            return found[0]
        time.sleep(0.2)
    raise SystemExit(f"{server.name} printed no demo token:\n{server.log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10, help="wrk -d per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="wrk warm-up before each run, s (default 3)")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bandeng-http-parser-"))
    servers: dict[str, Server] = {}
    scripts: dict[str, Path] = {}
    try:
        for name in PARSERS:
            (folder / name).mkdir()
            env = dict(
                {k: v for k, v in os.environ.items() if not k.startswith("BANDENG_")},
                BANDENG_DATABASE_URL=f"sqlite://{folder / name / 'bandeng.sqlite3'}",
                BANDENG_HTTP_PARSER=name,
                BANDENG_RATE_LIMIT_TOKEN_RATE="0",
                BANDENG_RATE_LIMIT_ADDRESS_RATE="0",
                BANDENG_WATCH_POLICY="false",
                BANDENG_LOG_LEVEL="warning",
                PYTHONUNBUFFERED="1",
            )
            port = _free_port()
            argv = [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)]
            servers[name] = start_server(name, argv, env, ROOT, port, folder)
        for name, server in servers.items():
            token = demo_token(server)
            wait_ready(server, token, QUERY)
            scripts[name] = wrk_script(folder, name, token, {"query": QUERY})
        measures: dict[str, list[Measure]] = {name: [] for name in PARSERS}
        for n in range(args.rounds):
            order = PARSERS if n % 2 == 0 else PARSERS[::-1]
            for name in order:
                m = run_wrk(servers[name], scripts[name], args)
                measures[name].append(m)
                print(
                    f"round {n + 1} {name:9}: {m.rate:7.0f} req/s  {m.cpu_per_request:.3f} CPU ms/req  "
                    f"p50 {m.p50_ms:.2f} ms  failed {m.failed}",
                    flush=True,
                )
        print(
            f"\nmedians of {args.rounds} rounds, wrk -t1 -c{args.connections} -d{args.seconds:g}s, {QUERY}:"
        )
        for name in PARSERS:
            rates = [m.rate for m in measures[name]]
            cpu = [m.cpu_per_request for m in measures[name]]
            print(
                f"  {name:9}: {statistics.median(rates):7.0f} req/s  "
                f"{statistics.median(cpu):.3f} server CPU ms/request"
            )
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
