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
    max_page_size: int = 100
    # Query limits (area "limits", docs/operations.md): checked before execution.
    max_query_depth: int = 8
    max_aliases: int = 15
    max_directives: int = 50
    max_tokens: int = 2000
    max_query_cost: int = 5000
    log_level: str = "INFO"
    watch_policy: bool = True

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
        # Query limits (area "limits").
        max_query_depth=config("BANDENG_MAX_QUERY_DEPTH", cast=int, default=defaults.max_query_depth),
        max_aliases=config("BANDENG_MAX_ALIASES", cast=int, default=defaults.max_aliases),
        max_directives=config("BANDENG_MAX_DIRECTIVES", cast=int, default=defaults.max_directives),
        max_tokens=config("BANDENG_MAX_TOKENS", cast=int, default=defaults.max_tokens),
        max_query_cost=config("BANDENG_MAX_QUERY_COST", cast=int, default=defaults.max_query_cost),
        log_level=config("BANDENG_LOG_LEVEL", default=defaults.log_level),
        watch_policy=config("BANDENG_WATCH_POLICY", cast=bool, default=defaults.watch_policy),
    )


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
