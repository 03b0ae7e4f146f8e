"""For admins: the policy in force, access explanations, and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from policies.relations import Facts
from schema.context import Info
from schema.input_limits import text_argument
from schema.limits import CAP
from schema.types import Node, listing, optional_id, reference
from services import audit as audit_service
from services import explain as explain_service
from services.identity import actor_for_person

POLICY_FACTS = Facts("")  # the policy itself lies in the global scope
DECIDING_RULES_CAP = 50  # rules for one resource and action through one person's roles: a handful


@strawberry.type(description="Why the last change to the policy files was refused.")
class PolicyLoadError:
    at: datetime = strawberry.field(description="When the change was refused.")
    refused_version: str | None = strawberry.field(description="Version hash of the refused files.")
    refused_published_version: int | None = strawberry.field(
        description="The published version refused (`BANDENG_POLICY_SOURCE=database`): this instance "
        "keeps serving the policy in force until a newer one loads."
    )
    problems: list[str] = strawberry.field(
        description="Each problem with its file and line (strings: free in the query cost)."
    )


@strawberry.enum(description="Where the policy in force on an instance came from.")
class PolicySource(Enum):
    FILES = strawberry.enum_value("files", description="The policy folder (`BANDENG_POLICY_DIR`).")
    DATABASE = strawberry.enum_value(
        "database", description="A version published with `bandeng policy publish`."
    )


@strawberry.type(description="A published policy version (`bandeng policy publish`).")
class PolicyPublication:
    number: int = strawberry.field(description="1, 2, 3 ... in the order of publication.")
    published_at: datetime = strawberry.field(description="When it was published.")
    published_by: str = strawberry.field(description="Who published it.")
    note: str = strawberry.field(description="Why, in the publisher's words.")


@strawberry.type(description="The policy in force on this instance.")
class PolicyStatus:
    version: str = strawberry.field(
        description="Hash of model.conf and policy.csv; equal on every instance with the same files."
    )
    loaded_at: datetime = strawberry.field(description="When this instance put it in force.")
    rule_count: int = strawberry.field(description="Number of `p` rules.")
    source: PolicySource = strawberry.field(description="Where it came from.")
    published: PolicyPublication | None = strawberry.field(
        description="The published version it is (null when it came from the files)."
    )
    last_error: PolicyLoadError | None = strawberry.field(
        description="The last refused change (files on disk, or a published version) while it is "
        "not the policy in force."
    )


@strawberry.type(description="A policy rule that applies to one of the actor's role assignments.")
class RuleMatch:
    rule: str = strawberry.field(
        description="The rule as written, e.g. `p, grid_worker, Concern, read, in_scope`."
    )
    file: str = strawberry.field(description="The policy file.")
    line: int = strawberry.field(description="Its line number.")
    role: str = strawberry.field(description="The actor's role through which the rule applies.")
    scope_path: str = strawberry.field(description="The scope of that role assignment.")
    matches_object: bool | None = strawberry.field(
        description="Whether the rule reaches the object asked about (null when no object was named)."
    )


@strawberry.type(description="The policy's answer to: may this actor do this, and why?")
class AccessExplanation:
    allowed: bool = strawberry.field(description="The decision (for a list: whether any rule applies).")
    policy_version: str = strawberry.field(description="Version of the policy that decided.")
    object_scope: str | None = strawberry.field(description="Scope path of the object asked about.")
    deciding_rules: list[RuleMatch] = strawberry.field(
        description=f"The rules that decided (allowing rules, or the ones considered); at most "
        f"{DECIDING_RULES_CAP}, in the order of the policy file.",
        metadata={CAP: DECIDING_RULES_CAP},
    )
    list_filter: str | None = strawberry.field(
        description="For reads of a type: the SQL condition lists will apply."
    )


@strawberry.type(description="One audit record: who did or was refused what, under which policy.")
class AuditRecord(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the record.")
    at: datetime = strawberry.field(description="When.")
    actor_id = reference(
        "actor", "The person behind the token; null without one or if the caller may not read that person."
    )
    operation: str = strawberry.field(description="`query` or `mutation`.")
    field: str = strawberry.field(description="The root field(s) concerned.")
    resource: str | None = strawberry.field(description="Policy resource, e.g. `Concern`.")
    action: str | None = strawberry.field(description="Policy action, e.g. `create`.")
    object_id: str | None = strawberry.field(description="The object acted on, when known.")
    decision: str = strawberry.field(description="`allow` or `deny`.")
    code: str | None = strawberry.field(description="Error code, when refused or failed.")
    policy_version: str = strawberry.field(description="Version of the policy in force.")


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description="The policy in force on this instance and the last refused change (`Policy` read)."
    )
    def policy_status(self, info: Info) -> PolicyStatus | None:
        info.context.auth.require("Policy", "read", POLICY_FACTS)
        store = info.context.policy_store
        authorizer = info.context.authorizer
        failure = store.last_error if store is not None else None
        publication = authorizer.policy.publication
        return PolicyStatus(
            version=authorizer.version,
            loaded_at=authorizer.policy.loaded_at,
            rule_count=len(authorizer.policy.parsed.rules),
            source=PolicySource.FILES if publication is None else PolicySource.DATABASE,
            published=PolicyPublication(
                number=publication.number,
                published_at=publication.published_at,
                published_by=publication.published_by,
                note=publication.note,
            )
            if publication
            else None,
            last_error=PolicyLoadError(
                at=failure.at,
                refused_version=failure.version,
                refused_published_version=failure.published,
                problems=list(failure.problems),
            )
            if failure
            else None,
        )

    @strawberry.field(
        description="Explain a decision for a person (`Policy` explain): the rules and the list filter."
    )
    async def explain_access(
        self,
        info: Info,
        person_id: Annotated[
            strawberry.ID, strawberry.argument(description="The person whose access to explain.")
        ],
        resource: Annotated[str, text_argument("Policy resource, e.g. `Concern`.", 32)],
        action: Annotated[str, text_argument("Policy action, e.g. `read`.", 16)],
        object_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One object; without it, the list.")
        ] = None,
    ) -> AccessExplanation | None:
        auth = info.context.auth
        auth.require("Policy", "explain", POLICY_FACTS)
        person = await auth.get_visible("Person", person_id, "personId")
        result = await explain_service.explain(
            info.context.authorizer,
            await actor_for_person(person),
            resource,
            action,
            optional_id(object_id, "objectId"),
        )
        return AccessExplanation(
            allowed=result.allowed,
            policy_version=result.policy_version,
            object_scope=result.object_scope,
            deciding_rules=[
                RuleMatch(
                    rule=m.text,
                    file="policy.csv",
                    line=m.rule.line,
                    role=m.role,
                    scope_path=m.scope_path,
                    matches_object=m.matches_object,
                )
                for m in (result.deciding or result.rules)[:DECIDING_RULES_CAP]
            ],
            list_filter=result.list_filter,
        )

    audit_log = listing(
        AuditRecord,
        audit_service.RECORDS,
        "The audit log (`AuditRecord` read), newest first.",
        actor_id=(strawberry.ID, "Only this person's records."),
        resource=(str, "Only this policy resource.", 32),
        object_id=(str, "Only this object (with `resource`).", 32),
        decision=(str, "`allow` or `deny`.", 8),
        since=(datetime, "At or after this time."),
        until=(datetime, "Before this time."),
    )


QUERIES = (AdminQuery,)
