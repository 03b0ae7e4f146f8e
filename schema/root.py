"""The whole schema, composed from the per-domain query and mutation types."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from schema.admin import AdminQuery
from schema.alliance import AllianceMutation, AllianceQuery
from schema.audit import AuditExtension
from schema.concerns import ConcernMutation, ConcernQuery, ConcernSteps
from schema.councils import (
    CouncilMutation,
    CouncilQuery,
    MeetingTransitions,
    TaskSteps,
    TopicTransitions,
    VoteSteps,
)
from schema.extensions import MaskUnexpectedErrors, classify_errors
from schema.mediation import CaseTransitions, MediationMutation, MediationQuery, ReferralTransitions
from schema.org import OrgQuery
from schema.statistics import StatisticsQuery
from services.config import Settings


@strawberry.type(
    description="Everything a caller may read. Every field needs `Authorization: Bearer <token>` "
    "and returns only what the policy (`policies/policy.csv`) lets the caller's roles see."
)
class Query(OrgQuery, CouncilQuery, ConcernQuery, AdminQuery, StatisticsQuery, AllianceQuery, MediationQuery):
    pass


@strawberry.type(
    description="Changes. Each mutation reads its target within the caller's scope (NOT_FOUND "
    "otherwise), asks the policy for the action (FORBIDDEN otherwise), then acts."
)
class Mutation(
    CouncilMutation,
    ConcernMutation,
    ConcernSteps,
    MeetingTransitions,
    TopicTransitions,
    TaskSteps,
    VoteSteps,
    AllianceMutation,
    MediationMutation,
    CaseTransitions,
    ReferralTransitions,
):
    pass


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
            MaskUnexpectedErrors,
            AuditExtension,
        ],
    )
