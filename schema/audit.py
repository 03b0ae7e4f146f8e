"""Auditing at the GraphQL edge: one record per mutation, one per denied request."""

from __future__ import annotations

import functools
from collections.abc import Callable

from graphql import FieldNode
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from services import audit
from services.errors import BadUserInput, BandengError, is_database_down

# Mutation root field -> (resource, action) it performs; a test keeps this complete.
AUDITED: dict[str, tuple[str, str]] = {}
DEPENDS_ON_INPUT = "depends on input"


def _target_id(input_value: object) -> str | None:
    """The first ``*_id`` of an input (the object a mutation acts on)."""
    for name, value in vars(input_value).items():
        if name.endswith("_id") and value is not None:
            return str(value)
    return None


def audited(field: str, resource: str, action: str | Callable[[object], str]) -> Callable:
    """Record the outcome of a mutation resolver ``(self, info, input)`` for the audit log.

    ``action`` is the policy action it performs, or a function of the input when that
    depends on it (a case's ESCALATE is decided as ``escalate``, its SETTLE as ``update``).
    A change writes the record in its own transaction (``services.audit.record_change``);
    a refusal or failure is written when the request ends."""
    AUDITED[field] = (resource, action if isinstance(action, str) else DEPENDS_ON_INPUT)

    def decorate(resolver):
        @functools.wraps(resolver)
        async def wrapper(self, info, input):
            context = info.context
            entry = audit.AuditEntry(
                operation="mutation",
                field=field,
                decision="allow",
                policy_version=context.authorizer.version,
                actor_id=context.actor.person_id if context.actor else None,
                token_id=context.actor.token_id if context.actor else None,
                resource=resource,
                action=action if isinstance(action, str) else action(input),
                # A create acts on no existing object: its input ids name the parent
                # (grid, meeting), which is not an object of ``resource``.
                object_id=None if action == "create" else _target_id(input),
            )
            try:
                with audit.recording(entry):
                    result = await resolver(self, info, input)
            except BandengError as exc:
                entry.code = exc.code
                entry.decision = "deny" if exc.code in audit.DENIED_CODES else "allow"
                raise
            except Exception as exc:
                entry.code = "SERVICE_UNAVAILABLE" if is_database_down(exc) else "INTERNAL_SERVER_ERROR"
                raise
            else:
                refusal = getattr(result, "audit_code", None)
                if refusal:  # a typed business refusal: allowed by the policy, refused by the state
                    entry.code = refusal
                return result
            finally:
                # A change stored its record with it; a refusal or failure changed nothing and
                # is recorded now, in the order of the request's mutations.
                await audit.write([entry])

        return wrapper

    return decorate


def _refused_input(execution_context, errors) -> list[audit.AuditEntry]:
    """A mutation whose input ``StrictInput`` refused before it ran: one record per root
    field, as ``audited`` writes for input the services refuse (the value is not kept)."""
    if not any(isinstance(e.original_error, BadUserInput) and not e.path for e in errors):
        return []
    operation = get_operation_ast(execution_context.graphql_document, execution_context.operation_name)
    if operation is None:
        return []
    context = execution_context.context
    actor = getattr(context, "actor", None)
    entries = []
    for node in operation.selection_set.selections:
        if isinstance(node, FieldNode) and node.name.value in AUDITED:
            resource, action = AUDITED[node.name.value]
            entries.append(
                audit.AuditEntry(
                    operation="mutation",
                    field=node.name.value,
                    decision="allow",
                    code=BadUserInput.code,
                    policy_version=context.authorizer.version,
                    actor_id=actor.person_id if actor else None,
                    token_id=actor.token_id if actor else None,
                    resource=resource,
                    action=None if action == DEPENDS_ON_INPUT else action,
                )
            )
    return entries


def _root_field(error) -> str:
    """The root field an error belongs to: its name, not the alias the client chose."""
    if len(error.path) == 1 and error.nodes:
        return error.nodes[0].name.value
    return str(error.path[0])


class AuditExtension(SchemaExtension):
    """Records a query refused by authentication or by the policy, when it is over (a
    mutation's record is written by ``audited``)."""

    async def on_operation(self):
        yield
        context = self.execution_context.context
        entries = []
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        # Strawberry's OperationType (graphql-core's enum never compares equal to it); no
        # document means the request failed to parse, and nothing was decided.
        is_mutation = (
            self.execution_context.graphql_document is not None
            and self.execution_context.operation_type == OperationType.MUTATION
        )
        if is_mutation:
            entries.extend(_refused_input(self.execution_context, errors))
        else:
            denied = [
                e for e in errors if (e.extensions or {}).get("code") in {"FORBIDDEN", "UNAUTHENTICATED"}
            ]
            if denied:
                first = denied[0]
                original = first.original_error
                actor = getattr(context, "actor", None)
                entries.append(
                    audit.AuditEntry(
                        operation="query",
                        field=",".join(sorted({_root_field(e) for e in denied if e.path})),
                        decision="deny",
                        code=first.extensions["code"],
                        policy_version=context.authorizer.version,
                        actor_id=actor.person_id if actor else None,
                        token_id=actor.token_id if actor else None,
                        resource=getattr(original, "resource", None),
                        action=getattr(original, "action", None),
                    )
                )
        await audit.write(entries)
