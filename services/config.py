"""Configuration, read from the environment in one place (Starlette's ``Config``).

Every setting has a safe default so that ``bandeng serve --demo`` runs anywhere:
SQLite in the working directory, the policy files shipped in ``policies/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.config import Config
from tortoise.backends.base.config_generator import expand_db_url

from models import MODULES as MODEL_MODULES

POLICY_DIR_DEFAULT = Path(__file__).resolve().parent.parent / "policies"


DEVELOPMENT_SECRET = "bandeng-development-secret-change-me"


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str = "sqlite://bandeng.sqlite3"
    secret: str = DEVELOPMENT_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    policy_dir: Path = field(default=POLICY_DIR_DEFAULT)
    max_body_bytes: int = 256 * 1024
    max_page_size: int = 100
    # totalCount is exact up to this many rows, an estimate beyond (docs/operations.md)
    exact_count_limit: int = 10_000
    # Query limits (area "limits", docs/operations.md): checked before execution.
    max_query_depth: int = 8
    max_aliases: int = 15
    max_directives: int = 50
    max_tokens: int = 2000
    max_query_cost: int = 5000
    log_level: str = "INFO"
    log_format: str | None = None  # "json" or "console"; None: json in production, console otherwise
    # /metrics (docs/operations.md, "Metrics"): "auto" (open in development; in production
    # only with BANDENG_METRICS_TOKEN), "open", or "off"; the token, when set, is always asked
    metrics: str = "auto"
    metrics_token: str = ""
    tracing: str = "off"  # "off", "otlp" or "console" (services/tracing.py; the otel extra)
    watch_policy: bool = True
    # Where the policy comes from (docs/operations.md, "Several instances"): "files" (the
    # folder, watched) or "database" (the newest version published with `bandeng policy publish`).
    policy_source: str = "files"
    policy_poll_seconds: float = 5.0  # database source: read the newest version this often too
    # --- HTTP protocol (issue 8: strict bodies, GraphQL over HTTP, CORS, headers) ---
    cors_origins: tuple[str, ...] = ()  # origins whose pages may call the API; none by default
    max_json_depth: int = 32  # how deeply arrays/objects may nest in a request's JSON
    # --- timeouts and database faults (issue 8): see docs/operations.md ---
    request_timeout: float = 10.0  # seconds; a request still running is cancelled and answered 503
    ready_timeout: float = 1.0  # seconds /readyz waits for the database's SELECT 1
    db_statement_timeout_ms: int = 5000  # PostgreSQL statement_timeout (0 = none)
    db_idle_in_transaction_timeout_ms: int = 10000  # PostgreSQL idle_in_transaction_session_timeout
    db_command_timeout: float = 6.0  # seconds the client waits for any one statement's answer
    db_connect_timeout: float = 5.0  # seconds to open one connection
    db_acquire_timeout: float = 5.0  # seconds to wait for a free connection of the pool
    # PostgreSQL random_page_cost for Bandeng's sessions ("" = the server's own): the
    # default 4 assumes disk seeks, and then a grid's newest page walks the primary key
    # backwards through other grids' rows instead of the (scope_path, id) index
    db_random_page_cost: str = "1.1"
    db_pool_min: int = 1
    db_pool_max: int = 10

    # Compiled reads (schema/compiled.py): "on", "off", or "verify" (run both executors and
    # record any difference; the tests).
    compiled_reads: str = "on"

    # --- operations: environment, production mode, rate limits, HTTP server, drain ---------
    env: str = "development"  # or "production"
    introspection: bool | None = None  # None: on in development, off in production
    field_suggestions: bool | None = None  # "Did you mean …?"; None: on in development, off in production
    graphiql: bool | None = None  # None: on in development, off in production
    trusted_documents: Path | None = None  # JSON manifest {sha256 hex: document}
    rate_limit_token_rate: float = 20.0  # requests per second per bearer token; 0 = off
    rate_limit_token_burst: int = 40
    rate_limit_address_rate: float = 100.0  # requests per second per client address; 0 = off
    rate_limit_address_burst: int = 200
    redis_url: str = ""  # shared rate-limit buckets; empty = in-process buckets
    rate_limit_prefix: str = "bandeng:ratelimit:"
    trusted_proxies: str = ""  # comma-separated addresses/networks whose X-Forwarded-For counts
    drain_seconds: float = 5.0  # /readyz answers 503 this long after SIGTERM before closing
    shutdown_timeout: float = 30.0  # then in-flight requests get this long to finish
    http_max_header_bytes: int = 32 * 1024  # request line + headers
    http_max_headers: int = 100
    http_header_timeout: float = 10.0  # from the first byte (or the connection) to the end of the headers
    http_body_timeout: float = 30.0  # from the end of the headers to the end of the body
    http_keep_alive_timeout: float = 5.0  # idle time allowed between two requests
    http_limit_concurrency: int = 1000  # connections + running requests; beyond: 503
    http_backlog: int = 2048
    http_parser: str = "httptools"  # or "h11": both with the limits above (app/server.py)
    # --- signed webhooks (services/webhooks.py): the delivery worker of each instance ---
    webhooks: bool = True  # run the delivery worker in this instance's lifespan
    webhook_poll_interval: float = 1.0  # seconds between looks at the outbox and the due deliveries
    webhook_timeout: float = 10.0  # seconds one POST may take (connect, send, answer)
    webhook_concurrency: int = 8  # POSTs in flight per instance
    webhook_per_endpoint: int = 2  # of which at most this many to one endpoint
    webhook_max_attempts: int = 10  # then the delivery is failed (replay it to try again)
    webhook_retry_base: float = 5.0  # seconds before the 2nd attempt; doubled each time
    webhook_retry_max: float = 3600.0  # the longest wait between two attempts

    @property
    def production(self) -> bool:
        """True when ``BANDENG_ENV=production``."""
        return self.env == "production"

    @property
    def log_format_in_force(self) -> str:
        return self.log_format or ("json" if self.production else "console")

    @property
    def metrics_access(self) -> str:
        """How /metrics answers: "off" (not served), "token" (Bearer BANDENG_METRICS_TOKEN),
        "open"."""
        if self.metrics == "off":
            return "off"
        if self.metrics_token:
            return "token"
        if self.metrics == "open" or not self.production:
            return "open"
        return "off"  # production without a token: not served until one is set

    @property
    def introspection_enabled(self) -> bool:
        return (not self.production) if self.introspection is None else self.introspection

    @property
    def field_suggestions_enabled(self) -> bool:
        return (not self.production) if self.field_suggestions is None else self.field_suggestions

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.production) if self.graphiql is None else self.graphiql

    def production_problems(self) -> list[str]:
        """What keeps this configuration from running in production (empty when fine)."""
        problems = []
        if self.env not in ("production", "development"):
            problems.append(f"BANDENG_ENV must be `production` or `development`, not {self.env!r}")
        if self.production and self.secret == DEVELOPMENT_SECRET:
            problems.append(
                "BANDENG_SECRET is not set: production mode refuses the public development "
                "secret; give BANDENG_SECRET a long random value (e.g. `openssl rand -hex 32`)"
            )
        return problems

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (field names and values) applied."""
        return replace(self, **changes)


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Read ``BANDENG_*`` variables (and an optional ``.env`` file) into ``Settings``."""
    env_file = Path(".env")
    config = Config(env_file if env_file.exists() else None, environ=environ or os.environ)
    defaults = Settings()
    return Settings(
        database_url=config("BANDENG_DATABASE_URL", default=defaults.database_url),
        secret=config("BANDENG_SECRET", default=defaults.secret),
        host=config("BANDENG_HOST", default=defaults.host),
        port=config("BANDENG_PORT", cast=int, default=defaults.port),
        policy_dir=Path(config("BANDENG_POLICY_DIR", default=str(defaults.policy_dir))),
        max_body_bytes=config("BANDENG_MAX_BODY_BYTES", cast=int, default=defaults.max_body_bytes),
        max_page_size=config("BANDENG_MAX_PAGE_SIZE", cast=int, default=defaults.max_page_size),
        exact_count_limit=config("BANDENG_EXACT_COUNT_LIMIT", cast=int, default=defaults.exact_count_limit),
        # Query limits (area "limits").
        max_query_depth=config("BANDENG_MAX_QUERY_DEPTH", cast=int, default=defaults.max_query_depth),
        max_aliases=config("BANDENG_MAX_ALIASES", cast=int, default=defaults.max_aliases),
        max_directives=config("BANDENG_MAX_DIRECTIVES", cast=int, default=defaults.max_directives),
        max_tokens=config("BANDENG_MAX_TOKENS", cast=int, default=defaults.max_tokens),
        max_query_cost=config("BANDENG_MAX_QUERY_COST", cast=int, default=defaults.max_query_cost),
        log_level=config("BANDENG_LOG_LEVEL", default=defaults.log_level),
        log_format=_auto(
            _choice(
                "BANDENG_LOG_FORMAT",
                config("BANDENG_LOG_FORMAT", default="auto"),
                ("auto", "json", "console"),
            )
        ),
        metrics=_choice(
            "BANDENG_METRICS", config("BANDENG_METRICS", default=defaults.metrics), ("auto", "open", "off")
        ),
        metrics_token=config("BANDENG_METRICS_TOKEN", default=defaults.metrics_token),
        tracing=_choice(
            "BANDENG_TRACING", config("BANDENG_TRACING", default=defaults.tracing), ("off", "otlp", "console")
        ),
        watch_policy=config("BANDENG_WATCH_POLICY", cast=bool, default=defaults.watch_policy),
        policy_source=_choice(
            "BANDENG_POLICY_SOURCE",
            config("BANDENG_POLICY_SOURCE", default=defaults.policy_source),
            ("files", "database"),
        ),
        policy_poll_seconds=config(
            "BANDENG_POLICY_POLL_SECONDS", cast=float, default=defaults.policy_poll_seconds
        ),
        # --- HTTP protocol ---
        cors_origins=parse_origins(config("BANDENG_CORS_ORIGINS", default="")),
        max_json_depth=config("BANDENG_MAX_JSON_DEPTH", cast=int, default=defaults.max_json_depth),
        # --- timeouts and database faults ---
        request_timeout=config("BANDENG_REQUEST_TIMEOUT", cast=float, default=defaults.request_timeout),
        ready_timeout=config("BANDENG_READY_TIMEOUT", cast=float, default=defaults.ready_timeout),
        db_statement_timeout_ms=config(
            "BANDENG_DB_STATEMENT_TIMEOUT_MS", cast=int, default=defaults.db_statement_timeout_ms
        ),
        db_idle_in_transaction_timeout_ms=config(
            "BANDENG_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
            cast=int,
            default=defaults.db_idle_in_transaction_timeout_ms,
        ),
        db_command_timeout=config(
            "BANDENG_DB_COMMAND_TIMEOUT", cast=float, default=defaults.db_command_timeout
        ),
        db_random_page_cost=parse_page_cost(
            config("BANDENG_DB_RANDOM_PAGE_COST", default=defaults.db_random_page_cost)
        ),
        db_connect_timeout=config(
            "BANDENG_DB_CONNECT_TIMEOUT", cast=float, default=defaults.db_connect_timeout
        ),
        db_acquire_timeout=config(
            "BANDENG_DB_ACQUIRE_TIMEOUT", cast=float, default=defaults.db_acquire_timeout
        ),
        db_pool_min=config("BANDENG_DB_POOL_MIN", cast=int, default=defaults.db_pool_min),
        db_pool_max=config("BANDENG_DB_POOL_MAX", cast=int, default=defaults.db_pool_max),
        compiled_reads=_choice(
            "BANDENG_COMPILED_READS",
            config("BANDENG_COMPILED_READS", default=defaults.compiled_reads),
            ("on", "off", "verify"),
        ),
        # --- operations ---
        env=config("BANDENG_ENV", default=defaults.env).strip().lower(),
        introspection=config("BANDENG_INTROSPECTION", cast=_switch, default=None),
        field_suggestions=config("BANDENG_FIELD_SUGGESTIONS", cast=_switch, default=None),
        graphiql=config("BANDENG_GRAPHIQL", cast=_switch, default=None),
        trusted_documents=config("BANDENG_TRUSTED_DOCUMENTS", cast=_path, default=None),
        rate_limit_token_rate=config(
            "BANDENG_RATE_LIMIT_TOKEN_RATE", cast=float, default=defaults.rate_limit_token_rate
        ),
        rate_limit_token_burst=config(
            "BANDENG_RATE_LIMIT_TOKEN_BURST", cast=int, default=defaults.rate_limit_token_burst
        ),
        rate_limit_address_rate=config(
            "BANDENG_RATE_LIMIT_ADDRESS_RATE", cast=float, default=defaults.rate_limit_address_rate
        ),
        rate_limit_address_burst=config(
            "BANDENG_RATE_LIMIT_ADDRESS_BURST", cast=int, default=defaults.rate_limit_address_burst
        ),
        redis_url=config("BANDENG_REDIS_URL", default=defaults.redis_url),
        rate_limit_prefix=config("BANDENG_RATE_LIMIT_PREFIX", default=defaults.rate_limit_prefix),
        trusted_proxies=config("BANDENG_TRUSTED_PROXIES", default=defaults.trusted_proxies),
        drain_seconds=config("BANDENG_DRAIN_SECONDS", cast=float, default=defaults.drain_seconds),
        shutdown_timeout=config("BANDENG_SHUTDOWN_TIMEOUT", cast=float, default=defaults.shutdown_timeout),
        http_max_header_bytes=config(
            "BANDENG_HTTP_MAX_HEADER_BYTES", cast=int, default=defaults.http_max_header_bytes
        ),
        http_max_headers=config("BANDENG_HTTP_MAX_HEADERS", cast=int, default=defaults.http_max_headers),
        http_header_timeout=config(
            "BANDENG_HTTP_HEADER_TIMEOUT", cast=float, default=defaults.http_header_timeout
        ),
        http_body_timeout=config("BANDENG_HTTP_BODY_TIMEOUT", cast=float, default=defaults.http_body_timeout),
        http_keep_alive_timeout=config(
            "BANDENG_HTTP_KEEP_ALIVE_TIMEOUT", cast=float, default=defaults.http_keep_alive_timeout
        ),
        http_limit_concurrency=config(
            "BANDENG_HTTP_LIMIT_CONCURRENCY", cast=int, default=defaults.http_limit_concurrency
        ),
        http_backlog=config("BANDENG_HTTP_BACKLOG", cast=int, default=defaults.http_backlog),
        http_parser=_choice(
            "BANDENG_HTTP_PARSER",
            config("BANDENG_HTTP_PARSER", default=defaults.http_parser),
            ("httptools", "h11"),
        ),
        webhooks=config("BANDENG_WEBHOOKS", cast=bool, default=defaults.webhooks),
        webhook_poll_interval=config(
            "BANDENG_WEBHOOK_POLL_INTERVAL", cast=float, default=defaults.webhook_poll_interval
        ),
        webhook_timeout=config("BANDENG_WEBHOOK_TIMEOUT", cast=float, default=defaults.webhook_timeout),
        webhook_concurrency=config(
            "BANDENG_WEBHOOK_CONCURRENCY", cast=int, default=defaults.webhook_concurrency
        ),
        webhook_per_endpoint=config(
            "BANDENG_WEBHOOK_PER_ENDPOINT", cast=int, default=defaults.webhook_per_endpoint
        ),
        webhook_max_attempts=config(
            "BANDENG_WEBHOOK_MAX_ATTEMPTS", cast=int, default=defaults.webhook_max_attempts
        ),
        webhook_retry_base=config(
            "BANDENG_WEBHOOK_RETRY_BASE", cast=float, default=defaults.webhook_retry_base
        ),
        webhook_retry_max=config("BANDENG_WEBHOOK_RETRY_MAX", cast=float, default=defaults.webhook_retry_max),
    )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    text = value.strip().lower()
    if text not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return text


def _auto(value: str) -> str | None:
    return None if value == "auto" else value


def _switch(value: str) -> bool | None:
    """``on``/``off`` (or true/false, 1/0, yes/no); empty or ``auto`` means "follow BANDENG_ENV"."""
    text = value.strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"expected on, off or auto, not {value!r}")


def _path(value: str) -> Path | None:
    return Path(value) if value.strip() else None


def parse_page_cost(text: str) -> str:
    """``BANDENG_DB_RANDOM_PAGE_COST``: a positive number, or empty for the server's own."""
    value = text.strip()
    if value:
        try:
            ok = float(value) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"BANDENG_DB_RANDOM_PAGE_COST must be a positive number or empty, got {text!r}")
    return value


def parse_origins(text: str) -> tuple[str, ...]:
    """``BANDENG_CORS_ORIGINS``: comma-separated origins (``https://app.example.org``), or
    ``*`` for any. A browser sends an origin as scheme, host and port only, so anything else
    (a path, a trailing slash) could never match and is refused here, at start-up."""
    origins = []
    for item in text.split(","):
        origin = item.strip()
        if not origin:
            continue
        if origin != "*":
            scheme, sep, rest = origin.partition("://")
            if (
                scheme.lower() not in ("http", "https")
                or not sep
                or not rest
                or any(c in rest for c in "/?#")
            ):
                raise ValueError(
                    f"BANDENG_CORS_ORIGINS: {origin!r} is not an origin; "
                    "give scheme://host[:port], e.g. https://app.example.org"
                )
            origin = f"{scheme.lower()}://{rest.lower()}"
        origins.append(origin)
    return tuple(origins)


def is_postgres_url(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def connection_config(database_url: str, settings: Settings | None = None) -> str | dict[str, Any]:
    """Tortoise's connection entry: for PostgreSQL with ``settings``, the timeouts and the
    pool (``services.postgres``: asyncpg with a pool-acquire timeout); otherwise the URL.

    Options in the URL's query string (``?max_size=20``) win over the settings."""
    if settings is None or not is_postgres_url(database_url):
        return database_url
    expanded = expand_db_url(database_url)
    credentials = expanded["credentials"]
    server_settings = dict(credentials.pop("server_settings", None) or {})
    server_settings.setdefault("statement_timeout", str(settings.db_statement_timeout_ms))
    server_settings.setdefault(
        "idle_in_transaction_session_timeout", str(settings.db_idle_in_transaction_timeout_ms)
    )
    # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic
    # plan, and a generic plan of `scope_path LIKE $1` cannot use the scope index (the
    # prefix is unknown): measured by bench/counts.py, a grid's bounded count went from
    # 19 ms to 316 ms (a scan of the whole index). Plan every run with its values.
    server_settings.setdefault("plan_cache_mode", "force_custom_plan")
    # services.reads.inlined writes values into SQL as standard strings (quotes doubled):
    # a backslash must stay an ordinary character (PostgreSQL's default since 9.1, kept)
    server_settings["standard_conforming_strings"] = "on"
    if settings.db_random_page_cost:
        # data that lives in memory or on SSD: an index read costs little more than a
        # sequential one (measured: a grid's page of concerns 6.3 ms -> 0.16 ms, bench/)
        server_settings.setdefault("random_page_cost", settings.db_random_page_cost)
    credentials["server_settings"] = server_settings
    credentials.setdefault("minsize", settings.db_pool_min)
    credentials.setdefault("maxsize", settings.db_pool_max)
    credentials.setdefault("timeout", settings.db_connect_timeout)  # asyncpg: connect timeout
    credentials.setdefault("command_timeout", settings.db_command_timeout)
    credentials.setdefault("acquire_timeout", settings.db_acquire_timeout)
    return {"engine": "services.postgres", "credentials": credentials}


def tortoise_config(database_url: str, settings: Settings | None = None) -> dict[str, Any]:
    """The Tortoise config for one database URL; migrations live in ``models.migrations``.

    With ``settings`` (the running service), a PostgreSQL connection gets the timeouts
    and pool sizes of the settings; without (migrations, tools), none: a migration may
    rightly run longer than a request's statement timeout."""
    return {
        "connections": {"default": connection_config(database_url, settings)},
        "apps": {
            "models": {
                "models": list(MODEL_MODULES),
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For Tortoise's own CLI: ``tortoise -c services.config.TORTOISE_ORM makemigrations``.
TORTOISE_ORM = tortoise_config(load_settings().database_url)
