"""The whole schema, composed from the per-domain query and mutation types."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from schema.concerns import ConcernMutation, ConcernQuery
from schema.councils import CouncilMutation, CouncilQuery
from schema.extensions import MaskUnexpectedErrors
from schema.org import OrgQuery
from services.config import Settings

Query = merge_types("Query", (OrgQuery, CouncilQuery, ConcernQuery))
Mutation = merge_types("Mutation", (CouncilMutation, ConcernMutation))


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            MaskUnexpectedErrors,
        ],
    )
