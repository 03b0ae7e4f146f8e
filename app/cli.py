"""The ``bandeng`` command: serve, migrate, seed, token, webhook, policy, schema, documents."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from services import logs
from services.config import DEVELOPMENT_SECRET, load_settings

DEMO_DATABASE = "sqlite://bandeng-demo.sqlite3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bandeng", description="Bandeng (小板凳) governance service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the GraphQL service (migrates the database first)")
    serve.add_argument("--host", help="interface to listen on (default BANDENG_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default BANDENG_PORT or 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help=f"use {DEMO_DATABASE} (unless BANDENG_DATABASE_URL is set), seed it, print a token per role",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on one socket (uvicorn's supervisor); each runs the whole application",
    )

    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load the demo data into the configured database")

    token = sub.add_parser("token", help="issue or revoke API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a new token for a person")
    issue.add_argument("--person", required=True, help="person id or exact name")
    issue.add_argument("--label", default="", help="what the token is for")
    revoke = token_sub.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token")

    webhook = sub.add_parser("webhook", help="signed webhooks for partner tokens")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    register = webhook_sub.add_parser(
        "register", help="register an endpoint for a partner token; prints its id and signing secret"
    )
    register.add_argument("--token", required=True, help="the partner's API token")
    register.add_argument("--url", required=True, help="where events are POSTed (http:// or https://)")
    register.add_argument("--secret", help="the signing secret (default: a new one, printed once)")
    register.add_argument("--description", default="", help="what it is for")

    policy = sub.add_parser("policy", help="check and explain the policy files")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser(
        "check", help="validate a policy directory, run its tests, show the access change"
    )
    check.add_argument("directory", nargs="?", type=Path, help="default: BANDENG_POLICY_DIR")
    check.add_argument(
        "--against",
        type=Path,
        help="the policy in force to compare with (default: BANDENG_POLICY_DIR when DIRECTORY differs)",
    )
    publish = policy_sub.add_parser(
        "publish",
        help="check a policy directory like `check` and, only if it passes, store it as the next "
        "version, which every instance with BANDENG_POLICY_SOURCE=database serves",
    )
    publish.add_argument("directory", type=Path)
    publish.add_argument("--note", default="", help="why (kept with the version)")
    publish.add_argument("--by", help="who publishes (default: user@host)")
    versions = policy_sub.add_parser("versions", help="list the published versions, newest first")
    versions.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    rollback = policy_sub.add_parser(
        "rollback", help="publish an older version's files again, as the next version (checked again)"
    )
    rollback.add_argument("number", type=int, help="the version to serve again")
    rollback.add_argument("--note", default="", help="why (default: 'rollback to version N')")
    rollback.add_argument("--by", help="who publishes (default: user@host)")
    explain = policy_sub.add_parser("explain", help="why an actor may or may not do something")
    who = explain.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="person id or exact name")
    who.add_argument("--token", help="an API token (the actor behind it)")
    explain.add_argument("--action", required=True, help="read, create, update, ...")
    explain.add_argument("--resource", required=True, help="e.g. Concern, Person.contact")
    explain.add_argument("--id", type=int, help="one object; without it, the list filter is shown")

    schema_cmd = sub.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema_cmd.add_argument("--write", action="store_true", help="write schema/schema.graphql")

    documents = sub.add_parser("documents", help="trusted documents (BANDENG_TRUSTED_DOCUMENTS)")
    documents_sub = documents.add_subparsers(dest="documents_command", required=True)
    hash_cmd = documents_sub.add_parser(
        "hash", help="print a manifest {sha256: document} of .graphql files (one operation per file)"
    )
    hash_cmd.add_argument("files", nargs="+", type=Path, metavar="FILE")

    args = parser.parse_args(argv)
    settings = load_settings()
    # BANDENG_LOG_LEVEL and BANDENG_LOG_FORMAT, for every command (services/logs.py)
    logs.configure(settings.log_level, settings.log_format_in_force)
    if args.command == "serve" and args.demo and "BANDENG_DATABASE_URL" not in _environ():
        settings = settings.with_overrides(database_url=DEMO_DATABASE)
    if args.command == "schema":
        return _schema(args.write)
    if args.command == "documents":
        return _documents_hash(args.files)
    if args.command == "policy" and args.policy_command == "check":
        return _policy_check(settings, args)
    if args.command == "serve":
        return _serve(settings, args)
    return asyncio.run(_database_command(settings, args))


def _environ():
    import os

    return os.environ


def _schema(write: bool) -> int:
    from schema.root import build_schema

    text = build_schema().as_str() + "\n"
    if write:
        target = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0


async def _database_command(settings, args) -> int:
    from app import seed
    from services import database, identity
    from services.errors import BandengError

    await database.upgrade(settings.database_url)
    if args.command == "migrate":
        print("database is up to date")
        return 0
    await database.connect(settings.database_url)
    try:
        if args.command == "seed":
            await seed.seed_demo(settings.policy_dir)
            print("demo data is in place")
        elif args.command == "token" and args.token_command == "issue":
            person = await identity.find_person(args.person)
            token = await identity.issue_token(person.id, args.label)
            print(token)
            # the id is what `registerWebhook(input: {tokenId})` names (stderr: stdout is the token)
            print(f"token id {await identity.token_id(token)}", file=sys.stderr)
        elif args.command == "policy" and args.policy_command == "explain":
            return await _policy_explain(settings, args)
        elif args.command == "policy" and args.policy_command in ("publish", "rollback"):
            return await _policy_publish(settings, args)
        elif args.command == "policy" and args.policy_command == "versions":
            return await _policy_versions(args.limit)
        elif args.command == "token" and args.token_command == "revoke":
            if not await identity.revoke_token(args.token):
                print("no active token matches", file=sys.stderr)
                return 1
            print("revoked")
        elif args.command == "webhook" and args.webhook_command == "register":
            from services import webhooks

            endpoint = await webhooks.register_endpoint_for_token(
                args.token, args.url, args.secret, args.description
            )
            print(f"endpoint {endpoint.id} for token {endpoint.token_id}: {endpoint.url}")
            print(f"signing secret (shown once): {endpoint.secret}")
        return 0
    except BandengError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await database.disconnect()


def _policy_check(settings, args) -> int:
    from policies.check import check_directory

    directory = (args.directory or settings.policy_dir).resolve()
    against = args.against
    if against is None and directory != settings.policy_dir.resolve():
        against = settings.policy_dir
    report = check_directory(directory, against)
    if _print_report(report, directory, against):
        return 0
    print(f"FAILED: {len(report.errors)} problem(s) in {directory}; nothing was changed")
    return 1


def _print_report(report, directory, against) -> bool:
    """Print a check's problems, warnings and access change; True when it passed."""
    for error in report.errors:
        print(f"error: {error}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    if report.ok:
        print(f"ok: {directory} (version {report.version}), {report.tests_run} policy tests passed")
        if against is not None:
            print(f"access change against {against}:")
            print("\n".join(f"  {line}" for line in report.changes) or "  none")
    return report.ok


async def _policy_publish(settings, args) -> int:
    from policies.loader import PolicyError
    from policies.published import read_folder
    from services import policy_versions

    by = args.by or policy_versions.default_publisher()
    latest = await policy_versions.newest()
    against = f"published version {latest.number}" if latest else None
    if args.policy_command == "rollback":
        label = f"published version {args.number}"
        outcome = await policy_versions.rollback(args.number, by=by, note=args.note)
    else:
        label = str(args.directory.resolve())
        try:
            files = read_folder(args.directory.resolve())
        except PolicyError as exc:
            print("\n".join(f"error: {problem}" for problem in exc.problems))
            print(f"FAILED: {label} cannot be read; nothing was published")
            return 1
        outcome = await policy_versions.publish(files, label=label, by=by, note=args.note)
    if not _print_report(outcome.report, label, against):
        print(f"FAILED: {len(outcome.report.errors)} problem(s) in {label}; nothing was published")
        return 1
    version = outcome.version
    assert version is not None
    if not outcome.stored:
        print(f"unchanged: published version {version.number} has exactly these files; nothing was stored")
        return 0
    print(f"published: version {version.number} ({version.checksum}) by {version.published_by}")
    if settings.policy_source != "database":
        print("note: instances serve published versions only with BANDENG_POLICY_SOURCE=database")
    return 0


async def _policy_versions(limit: int) -> int:
    from services import policy_versions

    rows = await policy_versions.history(limit)
    if not rows:
        print("no policy has been published (bandeng policy publish DIR)")
        return 0
    for row in rows:
        copied = f" (version {row.copied_from} again)" if row.copied_from else ""
        note = f": {row.note}" if row.note else ""
        print(
            f"{row.number:>5}  {row.checksum}  {row.published_at:%Y-%m-%d %H:%M:%S %Z}  "
            f"{row.published_by}{copied}{note}"
        )
    return 0


async def _policy_explain(settings, args) -> int:
    from policies.store import PolicyStore
    from services import identity
    from services.explain import explain

    if args.token:
        actor = await identity.authenticate(args.token)
        if actor is None:
            print("error: the token is unknown or revoked", file=sys.stderr)
            return 1
    else:
        actor = await identity.actor_for_person(await identity.find_person(args.person))
    authorizer = PolicyStore(settings.policy_dir).current
    if settings.policy_source == "database":  # the newest published version, as instances serve it
        from policies.loader import PolicyError
        from policies.published import build_published
        from services import policy_versions

        newest = await policy_versions.newest()
        if newest is not None:
            publication = policy_versions.publication_of(newest)
            try:
                authorizer = build_published(newest.files, newest.checksum, publication)
            except PolicyError as exc:
                print(
                    f"error: published version {newest.number} cannot be loaded here: {exc}", file=sys.stderr
                )
                return 1
    result = await explain(authorizer, actor, args.resource, args.action, args.id)
    print("\n".join(result.lines()))
    return 0


async def _prepare_demo(settings) -> list[str]:
    from app import seed
    from policies import vocabulary
    from services import database, identity, people

    await database.connect(settings.database_url)
    try:
        world = await seed.seed_demo(settings.policy_dir)
        lines = []
        for key in seed.DEMO_LOGINS:
            person = world.people[key]
            # Demo tokens are re-issued at every start; the previous ones stop working.
            token = await identity.reissue_token(person.id, "demo")
            role, where = (await people.roles_of(person.id))[0]
            lines.append(
                f"  {role:<16} {person.name} @ {where}\n"
                f"  {'':<16} {vocabulary.ROLES[role]}\n"
                f'  {"":<16} {{"Authorization": "Bearer {token}"}}\n'
            )
        return lines
    finally:
        await database.disconnect()


def _documents_hash(files: list[Path]) -> int:
    """Print the manifest of ``files``: each file's exact text is one trusted document."""
    import json

    from graphql import GraphQLSyntaxError, parse

    from schema.trusted import document_hash

    manifest = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            parse(text)
        except GraphQLSyntaxError as exc:
            print(f"error: {path}: {exc.message}", file=sys.stderr)
            return 1
        manifest[document_hash(text)] = text
    print(json.dumps(manifest, indent=2, ensure_ascii=False))
    return 0


def _operations_summary(settings) -> str:
    """One log line: the environment and the limits in force (no secrets, no Redis password)."""
    from urllib.parse import urlsplit

    def limit(rate: float, burst: int) -> str:
        return f"{rate:g}/s burst {burst}" if rate > 0 else "off"

    where = "this process"
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        where = f"Redis {url.hostname}:{url.port or 6379}"
    return (
        f"{settings.env} mode; introspection {'on' if settings.introspection_enabled else 'off'}, "
        f"GraphiQL {'on' if settings.graphiql_enabled else 'off'}, trusted documents "
        f"{settings.trusted_documents or 'off'}; rate limits per token {limit(settings.rate_limit_token_rate, settings.rate_limit_token_burst)}, "
        f"per address {limit(settings.rate_limit_address_rate, settings.rate_limit_address_burst)} (buckets in {where}); "
        f"trusted proxies {settings.trusted_proxies or 'none'}"
    )


async def _demo_traces(database_url: str) -> list[str]:
    from app import seed
    from services import database

    await database.connect(database_url)
    try:
        return await seed.demo_traces()
    finally:
        await database.disconnect()


def _serve(settings, args) -> int:
    from app.http import create_app
    from app.server import serve
    from services import database, tracing

    if args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    problems = settings.production_problems()
    if settings.production and args.demo:
        problems.append(
            "--demo loads demo data and prints its tokens: not in production "
            "(unset BANDENG_ENV or set BANDENG_ENV=development)"
        )
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("refusing to start (BANDENG_ENV=production)", file=sys.stderr)
        return 2
    try:
        tracing.configure(settings.tracing)  # BANDENG_TRACING (the otel extra)
        app = create_app(settings)
    except (ValueError, tracing.TracingUnavailable) as exc:
        # e.g. an unreadable BANDENG_TRUSTED_DOCUMENTS manifest, BANDENG_TRACING without the extra
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.secret == DEVELOPMENT_SECRET and not args.demo:
        logging.getLogger("bandeng").warning(
            "BANDENG_SECRET is not set: tokens are hashed with the public development secret"
        )
    logging.getLogger("bandeng").info("%s", _operations_summary(settings))
    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(database.upgrade(settings.database_url))
    if settings.production and (traces := asyncio.run(_demo_traces(settings.database_url))):
        print(
            f"error: the database holds demo data ({'; '.join(traces)}): not in production; "
            "point BANDENG_DATABASE_URL at the production database",
            file=sys.stderr,
        )
        print("refusing to start (BANDENG_ENV=production)", file=sys.stderr)
        return 2
    if args.demo:
        lines = asyncio.run(_prepare_demo(settings))
        print(
            f"\nBandeng demo on {settings.database_url}\nGraphiQL: http://{host}:{port}/graphql "
            '(paste one {"Authorization": ...} line below into the Headers tab)\n'
        )
        print("\n".join(lines))
    if args.workers > 1:
        from app.server import serve_workers

        serve_workers(settings, host, port, args.workers, _worker_app)
        return 0
    serve(app, settings, host, port, app.state.drain)
    return 0


def _worker_app(settings, drain):
    """The application of one worker process of ``serve --workers N`` (built in it)."""
    from app.http import create_app

    logs.configure(settings.log_level, settings.log_format_in_force)
    return create_app(settings, drain=drain)


if __name__ == "__main__":
    sys.exit(main())
