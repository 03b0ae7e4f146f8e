"""The whole schema, composed from the per-domain query and mutation types."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache

import schema
from schema.audit import AuditExtension
from schema.compiled import CompiledReads, Compiler
from schema.context import Authenticate
from schema.extensions import MaskUnexpectedErrors, classify_errors
from schema.input_limits import StrictInput
from schema.limits import Limits, QueryLimits
from schema.observe import NoteOperation
from schema.trusted import HideSuggestions, TrustedDocuments, load_manifest
from services.config import Settings


def _domains() -> list[ModuleType]:
    """Every module of this package that names its root types in ``QUERIES`` and
    ``MUTATIONS`` (a new domain is a new module here, found without being listed)."""
    found = []
    for info in sorted(pkgutil.iter_modules(schema.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"schema.{info.name}")
        if any(hasattr(module, name) for name in ("QUERIES", "MUTATIONS", "SUBSCRIPTIONS")):
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

Subscription = strawberry.type(
    type("Subscription", tuple(t for m in DOMAINS for t in getattr(m, "SUBSCRIPTIONS", ())), {}),
    description="Changes as they commit, over a websocket (`graphql-transport-ws`, token in "
    "`connection_init`). Each event is decided per subscriber like a read: only objects the "
    "caller may read now, with the same field rules.",
)


class BandengSchema(strawberry.Schema):
    compiler: Compiler

    def process_errors(self, errors, execution_context=None) -> None:
        # Replaces Strawberry's default, which logs every error (FORBIDDEN included).
        classify_errors(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    limits = Limits.of(settings)
    # Production mode (services.config, "operations"): introspection, suggestions, trusted documents.
    static_rules: list = []
    if not settings.introspection_enabled:
        static_rules.append(NoSchemaIntrospectionCustomRule)
    production: list = []
    if settings.trusted_documents is not None:
        manifest = load_manifest(settings.trusted_documents)
        production.append(lambda: TrustedDocuments(manifest))
    if not settings.field_suggestions_enabled:
        production.append(HideSuggestions)
    if static_rules:
        production.append(lambda: AddValidationRules(static_rules))
    compiler: list[Compiler] = []  # the schema's, once it exists
    built = BandengSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            *production,
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=256),
            # graphql-core's rules only (static classes, so the cache hits), then the
            # depth/alias/directive/cost limits with the request's variables.
            lambda: ValidationCache(maxsize=256),
            lambda: QueryLimits(limits),
            # Text, ids and cursors checked before the token's lookup: a refusal costs no SQL.
            StrictInput,
            NoteOperation,
            Authenticate,
            # After authentication: a plannable query runs from its plan (or is checked
            # against the reference executor, in ``verify`` mode).
            lambda: CompiledReads(compiler[0], settings.compiled_reads),
            MaskUnexpectedErrors,
            AuditExtension,
        ],
    )
    compiler.append(Compiler(built))
    built.compiler = compiler[0]  # the HTTP layer's fast path reads the proven plans
    return built
