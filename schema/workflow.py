"""Mutations made from the declared machines (``services.workflow``), not written by hand.

Each transition mutation is one generic resolver over one declared step (or, for a
machine whose API takes an ``action`` enum, over the step the input names): it builds
the audit entry from the step's policy action, calls ``workflow.perform`` and answers
the moved object or the typed ``InvalidTransition``. The input types, the action enums
and the descriptions come from the declarations; only the GraphQL names are given here,
so the public API keeps the names it has always had.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import strawberry

from schema.audit import audited
from schema.context import Info
from schema.input_limits import text_field
from schema.types import node_class
from services import workflow
from services.workflow import Input, Machine, Ref, Step


@strawberry.type(
    description="The step asked for is not possible in the object's current state (or another step "
    "changed the object first); nothing was changed. Branch on `__typename`."
)
class InvalidTransition:
    message: str = strawberry.field(description="What was refused and why.")
    current_status: str = strawberry.field(
        description="The status the object is in (unchanged), e.g. `closed`."
    )
    allowed_actions: list[str] = strawberry.field(
        description="The steps that are possible (for the caller) now."
    )
    action: str | None = strawberry.field(default=None, description="The step that was asked for.")
    audit_code: strawberry.Private[str] = "INVALID_TRANSITION"

    @classmethod
    def from_result(cls, result: workflow.InvalidTransition) -> InvalidTransition:
        return cls(
            message=result.message,
            current_status=result.current_status,
            allowed_actions=list(result.allowed_actions),
            action=result.action,
        )


def outcome(result: Any, node: Any) -> Any:
    """A service's result as GraphQL: the object (as ``node``), or the typed refusal."""
    if isinstance(result, workflow.InvalidTransition):
        return InvalidTransition.from_result(result)
    return node_class(node).from_row(result)


def result_union(node: Any, name: str, description: str) -> Any:
    return Annotated[node | InvalidTransition, strawberry.union(name, description=description)]


# ------------------------------------------------------------------------------- inputs

_SCALARS: dict[Any, Any] = {
    str: str,
    int: int,
    bool: bool,
    dt.date: dt.date,
    dt.datetime: dt.datetime,
    Ref: strawberry.ID,
    list[str]: list[str],
    list[Ref]: list[strawberry.ID],
}


_REQUIRED = object()  # an input with no default


def _field(item: Input, **field: Any) -> Any:
    """The input field of a declared input (text with its declared limit)."""
    if item.max_length is not None:
        return text_field(item.description, item.max_length, each=item.type == list[str], **field)
    return strawberry.field(description=item.description, **field)


def _annotation(item: Input) -> tuple[Any, Any]:
    """(GraphQL annotation, default) of one declared input."""
    kind = _SCALARS.get(item.type, item.type)  # an enum stands for itself
    if item.required:
        return kind, _REQUIRED
    if item.default is not None:
        default = list(item.default) if isinstance(item.default, tuple) else item.default
        return kind, default
    return Optional[kind], None  # noqa: UP045


def input_type(
    name: str, description: str, inputs: Sequence[Input], extra: dict[str, Any] | None = None
) -> Any:
    """A GraphQL input type from declared inputs (``extra``: name -> (annotation, field))."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    for item in inputs:
        annotation, default = _annotation(item)
        annotations[item.name] = annotation
        if default is _REQUIRED:
            namespace[item.name] = _field(item)
        elif isinstance(default, list):
            namespace[item.name] = _field(item, default_factory=lambda default=default: list(default))
        else:
            namespace[item.name] = _field(item, default=default)
    for key, (annotation, value) in (extra or {}).items():
        annotations[key] = annotation
        namespace[key] = value
    return strawberry.input(type(name, (), namespace), name=name, description=description)


def _policy_of(machine: Machine, step: Step) -> tuple[str, str]:
    assert step.policy is not None
    return step.resource or machine.resource, step.policy


def _describe(machine: Machine, step: Step) -> str:
    resource, action = _policy_of(machine, step)
    return f"{step.description.rstrip('.')} (`{resource}` {action}; an illegal step answers `InvalidTransition`)."


# ----------------------------------------------------------------------------- mutations


# (resource, step) -> (mutation, the ``action`` enum value it takes, or None): what the
# permission matrix must cover (tests/test_permission_matrix.py).
STEP_MUTATIONS: dict[tuple[str, str], tuple[str, str | None]] = {}


@dataclass(frozen=True)
class StepMutation:
    """The GraphQL names of one step's mutation."""

    action: str
    name: str  # e.g. acceptConcern
    input: str  # e.g. ConcernStepInput (steps with the same inputs may share one)
    input_description: str = ""  # default: the step's description


def step_mutations(machine: Machine, node: Any, result: Any, mutations: Sequence[StepMutation]) -> type:
    """A type to mix into ``Mutation``: one mutation per declared step."""
    inputs: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for spec in mutations:
        step = machine.get(spec.action)
        if spec.input not in inputs:
            inputs[spec.input] = input_type(
                spec.input, spec.input_description or step.description, step.inputs
            )
        STEP_MUTATIONS[(machine.resource, step.action)] = (spec.name, None)
        namespace[_snake(spec.name)] = strawberry.mutation(
            resolver=_resolver(machine, spec.name, inputs[spec.input], node, result, [step]),
            description=_describe(machine, step),
        )
    return strawberry.type(type(f"{machine.resource}StepMutations", (), namespace))


def action_enum(machine: Machine, name: str, description: str) -> Any:
    """The GraphQL enum of a machine's steps that callers take (e.g. ``CaseAction``)."""
    steps = [s for s in machine.steps if s.policy is not None and not s.creates]
    members = {s.action.upper(): strawberry.enum_value(s.action, description=s.description) for s in steps}
    return strawberry.enum(enum.Enum(name, members), description=description)  # type: ignore[misc]


def action_mutation(
    machine: Machine,
    node: Any,
    result: Any,
    actions: Any,
    *,
    name: str,
    input: str,
    input_description: str,
    description: str,
) -> type:
    """A type to mix into ``Mutation``: one mutation whose input names the step in the
    ``actions`` enum (``action_enum``), e.g. ``transitionMeeting``."""
    steps = [machine.get(member.value) for member in actions]
    for member in actions:
        STEP_MUTATIONS[(machine.resource, member.value)] = (name, member.name)
    merged: dict[str, Input] = {}
    for s in steps:
        for item in s.inputs:
            merged.setdefault(item.name, item)
    id_input, *rest = merged.values()
    input_cls = input_type(
        input,
        input_description,
        [id_input],
        extra={
            "action": (actions, strawberry.field(description="The step.")),
            **{item.name: _extra(item) for item in rest},
        },
    )
    policies = sorted({f"`{r}` {a}" for r, a in (_policy_of(machine, s) for s in steps)})
    field = strawberry.mutation(
        resolver=_resolver(machine, name, input_cls, node, result, steps),
        description=f"{description} ({', '.join(policies)}). A step the state does not allow is an "
        "`InvalidTransition`.",
    )
    return strawberry.type(type(f"{machine.resource}ActionMutation", (), {_snake(name): field}))


def _extra(item: Input) -> tuple[Any, Any]:
    annotation, default = _annotation(item)
    if default is _REQUIRED:  # required by some step, optional for the others
        annotation, default = Optional[annotation], None  # noqa: UP045
    return annotation, _field(item, default=default)


def _resolver(
    machine: Machine, name: str, input_cls: Any, node: Any, result: Any, steps: Sequence[Step]
) -> Any:
    """One generic resolver: audit entry from the step's policy action, the step, the outcome."""
    (resource,) = {_policy_of(machine, s)[0] for s in steps}
    if len(steps) == 1:
        only = steps[0].action
        audit_action: Any = _policy_of(machine, steps[0])[1]

        def action_of(value: Any) -> str:
            return only
    else:

        def action_of(value: Any) -> str:
            return value.action.value

        def audit_action(value: Any) -> str:
            return _policy_of(machine, machine.get(action_of(value)))[1]

    async def resolve(self: Any, info: Info, input: Any) -> Any:
        done = await workflow.perform(info.context.auth, machine, action_of(input), input_values(input))
        return outcome(done, node)

    return _signed(audited(name, resource, audit_action), resolve, input_cls, result)


def _signed(audit: Any, resolve: Any, input_cls: Any, result: Any) -> Any:
    """``resolve`` with its GraphQL signature (set before the audit wrapper copies it)."""
    resolve.__annotations__ = {
        "info": Info,
        "input": Annotated[input_cls, strawberry.argument(description="What to do; see the input type.")],
        "return": Optional[result],  # noqa: UP045
    }
    return audit(resolve)


def input_values(value: Any) -> Any:
    """An input object as plain values for the services: nested inputs as dicts, enums by value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [input_values(v) for v in value]
    if hasattr(value, "__strawberry_definition__"):
        return {k: input_values(v) for k, v in vars(value).items()}
    return value


def command(
    name: str,
    resource: str,
    action: str,
    run: Any,
    input_cls: Any,
    result: Any,
    description: str,
) -> Any:
    """A mutation that runs ``run(auth, **input)`` (a service command or a creation step),
    audited as ``resource`` ``action``, and answers its row as ``result`` (or the typed
    refusal, when ``result`` is a union with ``InvalidTransition``)."""
    node = (
        typing.get_args(typing.get_args(result)[0])[0] if typing.get_origin(result) is Annotated else result
    )

    async def resolve(self: Any, info: Info, input: Any) -> Any:
        return outcome(await run(info.context.auth, **input_values(input)), node)

    return strawberry.mutation(
        resolver=_signed(audited(name, resource, action), resolve, input_cls, result), description=description
    )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
