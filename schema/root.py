"""The whole schema, composed from the per-domain query and mutation types."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

import schema
from schema.audit import AuditExtension
from schema.extensions import MaskUnexpectedErrors, classify_errors
from schema.limits import StrictInput
from services.config import Settings


def _domains() -> list[ModuleType]:
    """Every module of this package that names its root types in ``QUERIES`` and
    ``MUTATIONS`` (a new domain is a new module here, found without being listed)."""
    found = []
    for info in sorted(pkgutil.iter_modules(schema.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"schema.{info.name}")
        if hasattr(module, "QUERIES") or hasattr(module, "MUTATIONS"):
            found.append(module)
    return found


DOMAINS = _domains()

Query = strawberry.type(
    type("Query", tuple(t for m in DOMAINS for t in getattr(m, "QUERIES", ())), {}),
    description="Everything a caller may read. Every field needs `Authorization: Bearer <token>` "
    "and returns only what the policy (`policies/policy.csv`) lets the caller's roles see.",
)
Mutation = strawberry.type(
    type("Mutation", tuple(t for m in DOMAINS for t in getattr(m, "MUTATIONS", ())), {}),
    description="Changes. Each mutation reads its target within the caller's scope (NOT_FOUND "
    "otherwise), asks the policy for the action (FORBIDDEN otherwise), then acts.",
)


class BandengSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Replaces Strawberry's default, which logs every error (FORBIDDEN included).
        classify_errors(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # Build the limiter rules once: ValidationCache keys on the rule classes, and the
    # limiters create new classes each time they are constructed (a cache that never hits).
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    return BandengSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: AddValidationRules(limit_rules),
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            StrictInput,
            MaskUnexpectedErrors,
            AuditExtension,
        ],
    )
