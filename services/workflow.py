"""One way to change state: declared machines, one step function, race-free.

Every stateful resource (a concern, a meeting, a topic, a task, a vote, a mediation
case, a referral) declares once, as a ``Machine``: its states, and its steps: the
states a step leaves from and the state it leads to, the policy action that decides
it, the input it takes, what it changes, the counters it increments and the effects it
has on linked objects. ``perform`` runs any step, always in this order and in ONE
transaction:

1. read the object within the caller's scope (NOT_FOUND otherwise);
2. ask the policy for the step's action on the object's facts (FORBIDDEN otherwise);
3. check the transition: the state allows the step (``InvalidTransition`` otherwise);
4. validate the input and work out the changes (``BAD_USER_INPUT``, nothing written);
5. apply them as a *conditional* update: ``... WHERE id = ? AND status = <read> AND
   version = <read> RETURNING *`` (compare-and-set; the row as changed comes back with
   it, not read again), counters as ``col = col + 1``. When no row matches, another step
   got there first: the caller gets the same ``InvalidTransition`` as for any illegal
   step, and nothing is written;
6. write the event row (one writer, one column shape: ``models.base.EventRecord``);
7. run the step's writes and its effects on linked objects (the same machinery: a
   linked object moves by one of its own declared steps, under a row lock);
8. write the audit record of the mutation;
9. after the commit, publish a notice of each event on the bus (``services.bus``).

A creation (``create``) is a step from no state: it finds the parents, asks the policy
on the new object's facts, inserts the row and writes its first event and the audit
record, in one transaction too.

Statements: when nothing follows the event (no ``after`` writes, no ``on_change``, no
effects), the event waits and goes with the audit record, in ONE statement on PostgreSQL
(``services.rows.insert``). A concern step is then: the read (5), the update returning
the row, event + audit; raising a concern: the grid's read, the insert, event + audit.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from policies.relations import Facts
from policies.resources import RESOURCES
from services import audit, bus, rows
from services.authz import RequestAuth, model_of
from services.ids import camel, clean_text


@dataclass(frozen=True)
class InvalidTransition:
    """The step asked for is not possible in the object's current state (or another step
    changed the object first); nothing was changed."""

    action: str
    current_status: str
    allowed_actions: tuple[str, ...]
    message: str


class Refused(Exception):
    """Raised by a step's hooks when the object's state (or a linked object's) does not
    allow the step after all: answered as ``InvalidTransition``. ``status`` and
    ``allowed`` describe the object that refused, when it is not the one stepped on
    (a task cannot come from a topic that is not decided)."""

    def __init__(
        self,
        message: str,
        status: str | None = None,
        allowed: tuple[str, ...] = (),
        excluded: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.allowed = allowed
        self.excluded = excluded  # steps of the object that the same reason refuses too


class _LostRace(Exception):
    """The conditional update matched no row: roll back, answer InvalidTransition."""


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Input:
    """One input a step takes, as the API shows it (``schema/workflow.py`` builds the
    GraphQL input types from these). ``type`` is a Python type: ``str``, ``int``,
    ``bool``, ``date``, ``datetime``, ``list[str]``, an enum, or ``Ref`` (an id).
    ``max_length`` is required for text (``str``, and each item of ``list[str]``): the API
    refuses longer text before the step runs, and says so in the input's description."""

    name: str
    type: Any
    description: str
    required: bool = False
    default: Any = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.type in (str, list[str]) and self.max_length is None:
            raise TypeError(f"The text input `{self.name}` needs a max_length.")


NOTE_LENGTH = 2000  # the longest note a step keeps in its event (every `note` input declares it)
DESCRIPTION_LENGTH = 2000  # the longest `description` of a created object (concern, topic, case)


class Ref:
    """The type of an input that names another object by its id."""


@dataclass
class StepCall:
    """What a step's hooks see and fill in: the caller, the object as read (``None``
    while creating), the input, and the changes to make."""

    auth: RequestAuth
    machine: Machine
    step: Step
    row: Any
    input: Mapping[str, Any]
    now: datetime
    target: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    counters: tuple[str, ...] = ()
    note: str = ""
    event_action: str = ""
    context: dict[str, Any] = field(default_factory=dict)  # what hooks pass on to each other
    # The top-level step's rows written with its audit record, at the end (None: write now).
    deferred: list[tuple[type[Model], dict[str, Any]]] | None = None

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.input.get(name, default)
        return default if value is None else value

    def take_note(self, required: bool = False) -> str:
        """The input's ``note`` (stripped, at most ``NOTE_LENGTH`` characters) as the event's note."""
        self.note = clean_text(self.arg("note"), "note", NOTE_LENGTH, required=required)
        return self.note


Hook = Callable[[StepCall], Awaitable[None]]


def within(resource: str, input_name: str, key: str) -> Callable[[StepCall], Awaitable[Facts]]:
    """A creation step's ``locate``: the parent the input names, found in the caller's scope
    (NOT_FOUND otherwise) and kept as ``call.context[key]``; the new object lies in the
    parent's scope."""

    async def locate(call: StepCall) -> Facts:
        parent = await call.auth.get_visible(resource, call.arg(input_name), camel(input_name))
        call.context[key] = parent
        return Facts(parent.scope_path)

    return locate


@dataclass(frozen=True)
class Effect:
    """After a step: move linked objects of another machine by one of its steps, in the
    same transaction. ``targets`` names their ids; each is locked, then ``when`` (if
    given) decides on the locked row whether the step applies, and a linked object whose
    state does not allow the step is left alone."""

    resource: str
    action: str | Callable[[StepCall], str]
    targets: Callable[[StepCall], Awaitable[Iterable[int]]]
    note: Callable[[StepCall], str]
    when: Callable[[StepCall, Any], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class Step:
    """One declared step: from ``sources`` to ``target`` (``None``: the state stays),
    decided by the policy action ``policy`` (``None``: only as another step's effect)."""

    action: str
    sources: frozenset[str]
    target: str | None
    policy: str | None
    description: str
    inputs: tuple[Input, ...] = ()
    locate: Callable[[StepCall], Awaitable[Facts]] | None = None  # creation: parents and facts
    prepare: Hook | None = None  # validation; fills ``changes`` (may raise Refused)
    after: Hook | None = None  # further writes in the same transaction
    counters: tuple[str, ...] = ()  # columns incremented by one (atomically)
    exclusive: bool = True  # compare-and-set on the version; False: on the state only
    effects: tuple[Effect, ...] = ()
    resource: str | None = None  # the policy resource deciding it, when not the machine's (Ballot)
    recorded: bool = True  # False: no event (an anonymous ballot is only counted)
    outcomes: frozenset[str] = frozenset()  # the states the input chooses from (target None)

    @property
    def creates(self) -> bool:
        return not self.sources

    @property
    def leads_to(self) -> frozenset[str]:
        """Every state the step may lead to (empty: the state stays)."""
        return self.outcomes if self.target is None else frozenset({self.target})


def step(
    action: str,
    sources: Iterable[Any],
    target: Any,
    policy: str | None,
    description: str,
    **options: Any,
) -> Step:
    """A ``Step`` from enum members or strings; ``target`` may be a set of states, of which
    the step's ``prepare`` chooses one by the input (a rating closes or reopens)."""
    if isinstance(target, set | frozenset):
        options["outcomes"] = frozenset(_value(t) for t in target)
        target = None
    return Step(
        action,
        frozenset(_value(s) for s in sources),
        None if target is None else _value(target),
        policy,
        description,
        **options,
    )


def creation(action: str, target: Any, description: str, **options: Any) -> Step:
    """A step that creates the object (from no state), decided by the policy's ``create``."""
    return step(action, (), target, "create", description, **options)


def _value(state: Any) -> str:
    return state.value if isinstance(state, enum.Enum) else str(state)


@dataclass(frozen=True)
class Machine:
    """A stateful resource's declaration: its states and steps, its event table and how
    an event is tied to the object, and the facts a step is decided on."""

    resource: str
    noun: str  # "concern", for messages
    event_model: type[Model]
    steps: tuple[Step, ...] = ()
    # The event's columns that name the object (may be a coroutine function); by default
    # the event table's foreign key to the object (``concern_id``).
    event_keys: Callable[[Any], dict[str, Any] | Awaitable[dict[str, Any]]] | None = None
    # The input naming the object; by default that same column's name (``concern_id``).
    id_input: str = ""
    state_field: str = "status"
    states: type[enum.Enum] | None = None  # by default the enum of the state column
    event_prefix: str = ""  # events of a referral read referral_accept, referral_return ...
    # The facts a step is decided on, given the caller's person id (default: the object's
    # own columns).
    facts: Callable[[Any, Step, int], Facts] | None = None
    # A condition of the row beyond its state, e.g. "not already at the street" (None: ok).
    guard: Callable[[Any, Step], str | None] | None = None
    # Runs after every step of this machine, in its transaction (a referral's step is a
    # change of its case too: the court's ``updatedSince`` sync must see it).
    on_change: Hook | None = None

    def __post_init__(self) -> None:
        fields = self.model._meta.fields_map
        states = self.states
        if states is None:
            states = fields[self.state_field].enum_type  # type: ignore[attr-defined]
            object.__setattr__(self, "states", states)
        (link,) = (
            name
            for name in self.event_model._meta.fk_fields
            if self.event_model._meta.fields_map[name].model_name == f"models.{self.resource}"  # type: ignore[attr-defined]
        )
        column = f"{link}_id"
        if self.event_keys is None:
            object.__setattr__(self, "event_keys", lambda row: {column: row.id})
        if not self.id_input:
            object.__setattr__(self, "id_input", column)
        names = [s.action for s in self.steps]
        assert len(names) == len(set(names)), f"{self.resource}: duplicate steps"
        known = {_value(s) for s in states}
        actions = RESOURCES[self.resource].actions
        for s in self.steps:
            assert s.sources <= known and s.leads_to <= known, (self.resource, s.action)
            own = RESOURCES[s.resource].actions if s.resource else actions
            assert s.policy is None or s.policy in own, (
                f"{self.resource}.{s.action}: {s.policy} is not in the vocabulary"
            )
        MACHINES[self.resource] = self

    @property
    def model(self) -> type[Model]:
        return model_of(self.resource)

    def get(self, action: str) -> Step:
        for s in self.steps:
            if s.action == action:
                return s
        raise KeyError(f"{self.resource} has no step {action!r}")

    def facts_for(self, row: Any, step: Step, actor_id: int) -> Facts:
        return self.facts(row, step, actor_id) if self.facts else Facts.of(row, self.resource)

    def state_of(self, row: Any) -> str:
        return _value(getattr(row, self.state_field))

    def blocked(self, row: Any, step: Step) -> str | None:
        """Why ``step`` cannot leave ``row``'s state (None when it can)."""
        state = self.state_of(row)
        if state not in step.sources:
            return f"A {self.noun} that is {state} cannot {step.action.replace('_', ' ')}."
        return self.guard(row, step) if self.guard else None

    def allowed_actions(self, auth: RequestAuth, row: Any) -> tuple[str, ...]:
        """The steps the caller may take now: the state allows them and the policy too."""
        return tuple(
            s.action
            for s in self.steps
            if s.policy is not None
            and not s.creates
            and self.blocked(row, s) is None
            and auth.plan(s.resource or self.resource, s.policy).allows(
                self.facts_for(row, s, auth.actor.person_id)
            )
        )

    def refusal(
        self, auth: RequestAuth, row: Any, action: str, message: str, excluded: tuple[str, ...] = ()
    ) -> InvalidTransition:
        allowed = tuple(a for a in self.allowed_actions(auth, row) if a not in excluded)
        hint = f" Allowed now: {', '.join(allowed)}." if allowed else " No step is possible for you now."
        return InvalidTransition(action, self.state_of(row), allowed, message + hint)


MACHINES: dict[str, Machine] = {}


# ------------------------------------------------------------------------------ running


async def perform(
    auth: RequestAuth, machine: Machine, action: str, input: Mapping[str, Any]
) -> Any | InvalidTransition:
    """Run one step of ``machine`` on the object named by ``input[machine.id_input]``."""
    step = machine.get(action)
    if step.policy is None or step.creates:
        raise ValueError(f"{machine.resource}.{action} is not a step a caller takes")
    try:
        async with bus.collecting(), in_transaction():  # notices published after the commit
            row = await auth.get_visible(
                machine.resource, input.get(machine.id_input), camel(machine.id_input)
            )
            facts = machine.facts_for(row, step, auth.actor.person_id)
            auth.require(step.resource or machine.resource, step.policy, facts)
            blocked = machine.blocked(row, step)
            if blocked:
                return machine.refusal(auth, row, action, blocked)
            call = _call(auth, machine, step, row, input)
            call.deferred = []
            try:
                if step.prepare is not None:
                    await step.prepare(call)
            except Refused as refused:
                return _refused(auth, machine, row, action, refused)
            changed = await _change(call)
            entry = await audit.record_change(changed, call.deferred)
    except _LostRace:
        current = await machine.model.get(id=row.id)
        return machine.refusal(
            auth, current, action, f"The {machine.noun} was changed by someone else first."
        )
    if entry is not None:
        entry.written = True
    return changed


async def create(auth: RequestAuth, machine: Machine, action: str, input: Mapping[str, Any]) -> Any:
    """Run a creation step: locate the parents (NOT_FOUND), ask the policy on the new
    object's facts (FORBIDDEN), validate, insert it with its first event and the audit
    record, in one transaction."""
    step = machine.get(action)
    if not step.creates or step.locate is None or step.policy is None:
        raise ValueError(f"{machine.resource}.{action} does not create")
    call = _call(auth, machine, step, None, input)
    call.deferred = []
    async with bus.collecting(), in_transaction():
        try:
            row = await _create(call)
        except Refused as refused:
            return _refused(auth, machine, None, action, refused)
        entry = await audit.record_change(row, call.deferred)
    if entry is not None:
        entry.written = True
    return row


async def _create(call: StepCall) -> Any:
    step = call.step
    assert step.locate is not None and step.policy is not None
    facts = await step.locate(call)
    call.auth.require(step.resource or call.machine.resource, step.policy, facts)
    if step.prepare is not None:
        await step.prepare(call)
    return await insert(call)


async def create_linked(cause: StepCall, machine: Machine, action: str, input: Mapping[str, Any]) -> Any:
    """Create an object of another machine as part of ``cause``'s step, by that machine's
    own creation step (its parents found in the caller's scope, its policy decision, its
    validation, its first event), in the cause's transaction (whose audit record covers
    both). A round's finding becomes a concern this way."""
    step = machine.get(action)
    if not step.creates:
        raise ValueError(f"{machine.resource}.{action} does not create")
    return await _create(_call(cause.auth, machine, step, None, input, cause))


def _call(
    auth: RequestAuth,
    machine: Machine,
    step: Step,
    row: Any,
    input: Mapping[str, Any],
    cause: StepCall | None = None,
) -> StepCall:
    """A step's call; one that follows from ``cause`` (an effect, a linked creation)
    happens at the cause's time."""
    return StepCall(
        auth,
        machine,
        step,
        row,
        input,
        cause.now if cause is not None else auth.now(),
        step.target,
        counters=step.counters,
        event_action=action_of(machine, step),
    )


def action_of(machine: Machine, step: Step) -> str:
    """The event action a step records (a referral's ``accept`` is ``referral_accept``)."""
    return machine.event_prefix + step.action


def _refused(
    auth: RequestAuth, machine: Machine, row: Any, action: str, refused: Refused
) -> InvalidTransition:
    if refused.status is not None or row is None:
        return InvalidTransition(action, refused.status or "", refused.allowed, refused.message)
    return machine.refusal(auth, row, action, refused.message, refused.excluded)


class Command:
    """The change a ``command`` block makes: name its row with ``done(row)``."""

    row: Any = None

    def __call__(self, row: Any) -> Any:
        self.row = row
        return row


@asynccontextmanager
async def command() -> AsyncIterator[Command]:
    """A change that is not a step of a machine (an alliance unit corrected, attendance
    recorded): its writes and its audit record in one transaction."""
    done = Command()
    async with in_transaction():
        yield done
        entry = await audit.record_change(done.row)
    if entry is not None:
        entry.written = True


async def insert(call: StepCall) -> Any:
    """Insert the object ``call.changes`` describes, in state ``call.target``, with its
    creation event, then its ``after`` writes and effects. For creation steps, and for
    steps of other machines that create a linked object (putting a concern on the agenda
    creates a topic)."""
    _check_target(call)
    machine = call.machine
    values = dict(call.changes)
    if call.target is not None:
        values[machine.state_field] = call.target
    row = await rows.create(machine.model, values)
    call.row = row
    await _recorded(call, None)
    return row


def _check_target(call: StepCall) -> None:
    if call.step.outcomes:
        assert call.target in call.step.outcomes, (call.machine.resource, call.step.action, call.target)


async def _change(call: StepCall) -> Any:
    """The conditional update, the event, the step's writes and effects."""
    _check_target(call)
    machine, step, row = call.machine, call.step, call.row
    before = machine.state_of(row)
    values: dict[str, Any] = dict(call.changes)
    if call.target is not None:
        values[machine.state_field] = call.target
    if "updated_at" in machine.model._meta.fields_map and "updated_at" not in values:
        values["updated_at"] = call.now
    condition: dict[str, Any] = {"id": row.id}
    within = None
    if step.exclusive:
        condition.update({machine.state_field: before, "version": row.version})
    else:
        within = (machine.state_field, sorted(step.sources))
    changed = await rows.update(
        machine.model, values, increments=("version", *call.counters), where=condition, within=within
    )
    if changed is None:
        raise _LostRace
    call.row = changed
    await _recorded(call, before)
    return changed


async def _recorded(call: StepCall, before: str | None) -> None:
    """The step's event (``call.row`` is the object as changed), then what follows it.
    The event of a top-level step that nothing follows waits for the audit record."""
    if call.step.recorded:
        after = call.machine.state_of(call.row)
        event = await event_row(
            call.machine,
            call.row,
            call.event_action,
            before,
            after,
            call.note,
            call.auth.actor.person_id,
            call.now,
        )
        bus.pending(
            bus.Notice.of(call.machine.resource, call.row, call.event_action, before, after, call.now)
        )
        if call.deferred is not None and not _followed(call):
            call.deferred.append(event)
        else:
            await rows.insert([event])
    await _after(call)


def _followed(call: StepCall) -> bool:
    """Whether the step writes more after its event (hooks may read what came before)."""
    return bool(call.step.after or call.machine.on_change or call.step.effects)


async def _after(call: StepCall) -> None:
    if call.step.after is not None:
        await call.step.after(call)
    if call.machine.on_change is not None:
        await call.machine.on_change(call)
    for effect in call.step.effects:
        await _apply_effect(call, effect)


async def _apply_effect(cause: StepCall, effect: Effect) -> None:
    machine = MACHINES[effect.resource]
    action = effect.action if isinstance(effect.action, str) else effect.action(cause)
    step = machine.get(action)
    for target_id in await effect.targets(cause):
        # Lock the linked row first, then decide: two callers finishing the last two tasks
        # of one topic at once must not both see "one task still open".
        row = await machine.model.filter(id=target_id).select_for_update().first()
        if row is None or machine.blocked(row, step) is not None:
            continue
        if effect.when is not None and not await effect.when(cause, row):
            continue
        call = _call(cause.auth, machine, step, row, {}, cause)
        call.note = effect.note(cause)
        if step.prepare is not None:
            await step.prepare(call)
        await _change(call)


async def record_event(
    machine: Machine,
    row: Any,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str,
    actor_id: int | None,
    at: datetime,
) -> None:
    """Write one event now (``event_row``)."""
    await rows.insert([await event_row(machine, row, action, from_status, to_status, note, actor_id, at)])


async def event_row(
    machine: Machine,
    row: Any,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str,
    actor_id: int | None,
    at: datetime,
) -> tuple[type[Model], dict[str, Any]]:
    """The one event shape (``services.rows.insert`` writes it): the object's scope, owner
    and link columns are copied onto the event, so the same people see the event as see
    the object."""
    event_model = machine.event_model
    assert machine.event_keys is not None  # every machine has them after __post_init__
    keys = machine.event_keys(row)
    if inspect.isawaitable(keys):
        keys = await keys
    values: dict[str, Any] = {
        "scope_path": row.scope_path,
        "owner_id": row.owner_id,
        "actor_id": actor_id,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "note": note,
        "created_at": at,
        **keys,
    }
    for column in RESOURCES[event_model.__name__].links.values():
        values[column] = getattr(row, column)
    return event_model, values
