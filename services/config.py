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
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 3000
    max_page_size: int = 100
    log_level: str = "INFO"
    watch_policy: bool = True
    # --- HTTP protocol (issue 8: strict bodies, GraphQL over HTTP, CORS, headers) ---
    cors_origins: tuple[str, ...] = ()  # origins whose pages may call the API; none by default
    max_json_depth: int = 32  # how deeply arrays/objects may nest in a request's JSON

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
        max_query_depth=config("BANDENG_MAX_QUERY_DEPTH", cast=int, default=defaults.max_query_depth),
        max_aliases=config("BANDENG_MAX_ALIASES", cast=int, default=defaults.max_aliases),
        max_tokens=config("BANDENG_MAX_TOKENS", cast=int, default=defaults.max_tokens),
        max_page_size=config("BANDENG_MAX_PAGE_SIZE", cast=int, default=defaults.max_page_size),
        log_level=config("BANDENG_LOG_LEVEL", default=defaults.log_level),
        watch_policy=config("BANDENG_WATCH_POLICY", cast=bool, default=defaults.watch_policy),
        # --- HTTP protocol ---
        cors_origins=parse_origins(config("BANDENG_CORS_ORIGINS", default="")),
        max_json_depth=config("BANDENG_MAX_JSON_DEPTH", cast=int, default=defaults.max_json_depth),
    )


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


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL; migrations live in ``models.migrations``."""
    return {
        "connections": {"default": database_url},
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
