"""Every field that names, describes or counts another resource's rows goes through that
resource's read rule (issue 8, finding 7): where the caller may not read the object, the
field is null, or the filter answers as for an object that does not exist.

**Which fields.** The committed SDL (``schema/schema.graphql``) is walked, not the code, so
a field added anywhere is seen. In every object type (not the root types, not inputs), a
field *refers to another resource* when

1. its name is ``count`` or ends, camel-case, in ``Id``, ``Ids``, ``Name``, ``Names`` or
   ``Count`` (a connection's own ``totalCount`` excepted: it counts the list's own rows,
   through the list's read rule);
2. it is an ``Int`` (a number might count rows: each is declared a count of readable rows
   or a figure of its own object);
3. it is a scalar whose description names another type or a root field in backticks
   (`` `Concern` ``, `` `concern(id:)` ``), other than its own type and its field resources.

Each such field is either *guarded* — built by ``schema.types.reference``/``shown_with``,
which name the relation they read through in the field's metadata (``REVEALS``) — and then
proved both ways below (``PROOFS``), or listed in ``NOT_GUARDED`` with the reason it shows
nothing of another resource's rows. A new field that fits a rule and is neither fails
``test_every_denormalised_field_is_declared``, naming it.

**Which arguments.** Every ``ID`` argument of a root list, and every argument named
``*Id``, that takes another resource's id: filtering by an object the caller cannot read
answers exactly as filtering by one that does not exist (the same empty list); a lookup
answers NOT_FOUND with the same message for both (``FILTER_PROOFS``, ``NOT_A_FILTER``).

Pairs of "may read the parent, not the target" come from the demo where the policy has
them; where it has none, from a copy of the policy without one read rule (``VARIANT``),
which is the same code under a policy a deployment could write.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import GraphQLObjectType, GraphQLScalarType, build_schema, get_named_type

from app.http import create_app
from models.audit import AuditRecord
from models.concerns import Concern
from models.councils import Task
from models.people import Person
from policies.store import PolicyStore
from schema.root import build_schema as build_strawberry_schema
from schema.types import REVEALS
from services import reads
from tests.conftest import POLICY_DIR, error_codes, gql

SDL = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
NAME_RULE = re.compile(r"^count$|[a-z](Id|Ids|Name|Names|Count)$")
BACKTICKED = re.compile(r"`([A-Za-z][A-Za-z.]*)(\(|`)")
MISSING_ID = "987654321"

# ------------------------------------------------------------------ the fields, declared

# Fields that fit a rule but show nothing of another resource's rows, and why (reviewed).
NOT_GUARDED: dict[str, str] = {
    # names
    "Me.personId": "The caller's own person id: the token's holder knows who they are.",
    "AuditRecord.objectId": "The id the audited request named, as sent (it may name an object that "
    "never existed: a refused lookup of id 999). It is the audit record's own fact, shown only to "
    "`AuditRecord` readers; withholding it would leave the audit unable to say what was refused.",
    "Task.volunteerName": "Free text for a volunteer without an account: no Person row stands behind "
    "it (a volunteer with an account is the task's `ownerPerson`, guarded; the two are exclusive, "
    "see test_a_task_volunteer_name_never_names_a_person).",
    # counts of the object's own
    "Concern.supervisionCount": "A counter kept on the concern itself (the street urged it on n "
    "times, 督办), addressed to whoever handles it — the volunteer of a service order too. It is not "
    "counted from the history and shows nothing of its events (who, when, note).",
    "Meeting.attendanceCount": "The head count the secretary records when closing (e.g. 31), a "
    "figure of the meeting's own minutes, not a count of `Attendance` rows (the demo records 23 "
    "and 31 with 5 and 3 rows).",
    "VoteResults.forCount": "A tally of the vote itself (who voted is never stored with a choice; "
    "ballots are not readable by anyone), shown once the vote is closed.",
    "VoteResults.againstCount": "As forCount: a tally of the vote itself.",
    "VoteResults.abstainCount": "As forCount: a tally of the vote itself.",
    "VoteResults.total": "As forCount: the number of ballots, a tally of the vote itself.",
    "PolicyStatus.ruleCount": "A figure of the policy itself; `policyStatus` needs `Policy` read.",
    "PolicyPublication.number": "The number of a published policy version: a fact of the policy "
    "itself; `policyStatus` needs `Policy` read.",
    "PolicyLoadError.refusedPublishedVersion": "As PolicyPublication.number: the policy version "
    "this instance refused.",
    # figures of the object's own
    "Concern.rating": "The resident's rating of this concern, part of it.",
    "Rating.score": "The rating's own score.",
    "Vote.thresholdPercent": "The vote's own rule.",
    "Workstation.officers": "The workstation's own staff figure.",
    "OutreachEvent.attendance": "Residents reached: a figure of the event, recorded with it.",
    "RuleMatch.line": "A line of the policy file, shown to `Policy` explain only.",
    # statistics: counted in SQL over the caller's visible rows (services/statistics.py,
    # tests/test_statistics.py proves the counts per role)
    **{
        f"{kind}.{name}": "Counted over the caller's readable rows (`RequestAuth.visible`), "
        "never over the table."
        for kind, names in {
            "CategoryFigure": ("count", "countAYearEarlier"),
            "ConcernStatistics": ("collected", "resolved", "closed", "overdueNow"),
            "CouncilStatistics": ("councils", "meetingsHeld", "attendances"),
            "DisputeStatistics": ("opened", "settled", "referred"),
            "OutreachStatistics": ("events", "residentsReached"),
        }.items()
        for name in names
    },
    # descriptions that name another type
    "AuditRecord.resource": "The name of a policy resource (a word of the vocabulary), not a row.",
    "Concern.category": "A word of the category vocabulary (`concernCategories`), not a row.",
    "AgendaTopic.source": "Says only whether the topic came from a concern (公开说事 makes a concern a "
    "public topic on purpose), never which: the concern itself is `AgendaTopic.concern`, guarded.",
    # --- signed webhooks: the delivery log's own facts, read only by `WebhookDelivery` /
    # `WebhookAttempt` readers (the admin, the partner for its own endpoints)
    "WebhookEndpoint.tokenId": "The token the admin registered the endpoint for: tokens are not a "
    "policy resource, the id shows nothing of a token (only its HMAC is stored) and is what "
    "`registerWebhook` was given.",
    "WebhookDelivery.eventId": "Which event the delivery carries, an id only (the event's content, "
    "the case and the referral are in the body, which the API never shows): what an operator needs "
    "to replay from it (`sinceEventId`).",
    "WebhookDelivery.source": "The name of the history the event is from (a resource's name), not a row.",
    "WebhookDelivery.attemptCount": "A counter kept on the delivery itself, moved with each attempt; "
    "the attempts are shown under `WebhookAttempt` read.",
    "WebhookDelivery.lastStatusCode": "The HTTP status the receiver last answered: a figure of the delivery.",
    "WebhookAttempt.number": "The attempt's own place in its delivery (1, 2, 3 ...).",
    "WebhookAttempt.statusCode": "The HTTP status the receiver answered: a figure of the attempt.",
    "WebhookAttempt.durationMs": "How long the attempt took: a figure of the attempt.",
    "WebhookReplay.replayed": "How many deliveries of the caller's replay were queued: the "
    "mutation's own result, for an endpoint the caller may replay.",
}


def sdl_fields() -> dict[str, str]:
    """Every field of the committed SDL that refers to another resource by the rules above,
    with the rule that picked it."""
    schema = build_schema(SDL.read_text(encoding="utf-8"))
    roots = {schema.query_type.name, schema.mutation_type.name if schema.mutation_type else ""}
    types = {name for name, t in schema.type_map.items() if isinstance(t, GraphQLObjectType)}
    found: dict[str, str] = {}
    for type_name, type_ in schema.type_map.items():
        if not isinstance(type_, GraphQLObjectType) or type_name.startswith("__") or type_name in roots:
            continue
        for name, field in type_.fields.items():
            named = get_named_type(field.type)
            if not isinstance(named, GraphQLScalarType):
                continue
            key = f"{type_name}.{name}"
            if NAME_RULE.search(name) and not (name == "totalCount" and type_name.endswith("Connection")):
                found[key] = "name"
            elif named.name == "Int" and not (name == "totalCount" and type_name.endswith("Connection")):
                found[key] = "Int"
            else:
                for word, _ in BACKTICKED.findall(field.description or ""):
                    if word.split(".")[0] == type_name:
                        continue  # its own type, or its field resources (`Person.contact`)
                    if word in types or word in schema.query_type.fields:
                        found[key] = f"description names `{word}`"
    return found


def guarded_fields() -> dict[str, str]:
    """Fields built by the guarded helpers: ``Type.field`` -> the resource they reveal."""
    found = {}
    strawberry_schema = build_strawberry_schema()
    for type_name, type_ in strawberry_schema.schema_converter.type_map.items():
        definition = getattr(type_.definition, "fields", None)
        if definition is None:
            continue
        for field in definition:
            relation = (field.metadata or {}).get(REVEALS)
            name = strawberry_schema.config.name_converter.get_graphql_name(field)
            graphql_field = strawberry_schema._schema.type_map[type_name].fields.get(name)  # type: ignore[union-attr]
            if relation is None or graphql_field is None:
                continue
            if not isinstance(get_named_type(graphql_field.type), GraphQLScalarType):
                continue  # objects and lists of objects are `one`/`many` (the loaders themselves)
            found[f"{type_name}.{name}"] = reads.relation(type_name, relation).resource
    return found


# ---------------------------------------------------------------- a policy without a rule

# Each changed rule makes a "may read the parent, not the target" pair the policy lacks
# (rule -> its replacement; None: dropped).
VARIANT: dict[str, str | None] = {
    # AuditRecord.actorId, auditLog(actorId:): the admin reads only their own person
    "p, admin, Person, read, any": "p, admin, Person, read, own",
    "p, resident, Council, read, in_community": None,  # meetings(councilId:)
    "p, resident, Workstation, read, contains_scope": None,  # outreachEvents(workstationId:)
    "p, street_official, Workstation, read, in_scope": None,  # legalConsultations(workstationId:)
    "p, grid_worker, AllianceUnit, read, contains_scope": None,  # tasks(allianceUnitId:)
    "p, grid_worker, AllianceUnit, read, in_community": None,
    "p, grid_worker, OrgUnit, read, contains_scope": None,  # people/councils/gridRounds(unitId:)
    "p, alliance_staff, OrgUnit, read, contains_scope": None,  # allianceUnits(unitId:)
    # orgUnits(parentId:): the secretary sees the community's subtree, not the street above
    "p, secretary, OrgUnit, read, contains_scope": None,
    # webhookDeliveries(endpointId:): the court reads its deliveries, not its endpoint
    "p, court, WebhookEndpoint, read, own": None,
}


@pytest.fixture
def variant(settings, tmp_path):
    """An app on the same database under the policy without the ``VARIANT`` rules."""
    directory = tmp_path / "policies"
    directory.mkdir()
    shutil.copy(POLICY_DIR / "model.conf", directory / "model.conf")
    text = (POLICY_DIR / "policy.csv").read_text(encoding="utf-8")
    for rule, replacement in VARIANT.items():
        assert f"\n{rule}\n" in text, f"the rule {rule!r} is gone from policy.csv: choose another pair"
        text = text.replace(f"\n{rule}\n", f"\n{replacement}\n" if replacement else "\n")
    (directory / "policy.csv").write_text(text, encoding="utf-8")
    (directory / "tests").mkdir()  # the shipped policy tests assert the removed rules
    return create_app(
        settings.with_overrides(policy_dir=directory, watch_policy=False),
        policy_store=PolicyStore(directory),
        manage_database=False,
    )


def client_on(app, demo, key: str):
    import httpx

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {demo.tokens[key]}"},
    )


# --------------------------------------------------------------------------- inventory


def test_every_denormalised_field_is_declared():
    """A field that fits a rule is guarded (and proved below) or listed with a reason."""
    found, guarded = sdl_fields(), guarded_fields()
    undeclared = sorted(f"{key} ({rule})" for key, rule in found.items() if key not in guarded | NOT_GUARDED)
    assert not undeclared, (
        "fields that name or count another resource without going through its read rule: "
        f"{undeclared}; build them with schema.types.reference/shown_with, or list them in "
        "NOT_GUARDED with the reason they reveal nothing"
    )
    stale = sorted(set(NOT_GUARDED) - set(found))
    assert not stale, f"NOT_GUARDED lists fields no rule picks (renamed or gone?): {stale}"
    both = sorted(set(NOT_GUARDED) & set(guarded))
    assert not both, f"guarded and also excused: {both}"
    unproved = sorted(set(guarded) - set(PROOFS))
    assert not unproved, f"guarded fields without a proof both ways in PROOFS: {unproved}"


def test_the_rules_pick_the_fields_of_the_finding():
    """The rules are not vacuous: they pick the fields issue 8 found leaking."""
    found, guarded = sdl_fields(), guarded_fields()
    assert {"Concern.assigneeName", "Task.concernId", "AuditRecord.actorId"} <= set(found)
    assert guarded == {
        "Concern.assigneeName": "Person",
        "Task.concernId": "Concern",
        "AuditRecord.actorId": "Person",
    }
    assert "ConcernConnection.totalCount" not in found


# Fields that show another resource's *object* without ``one``/``many``, and how they
# still go through its read rule (reviewed).
CUSTOM_OBJECT_FIELDS: dict[str, str] = {
    "Me.person": "The request's `Person` loader (`Loaders.by_id`), as `one` does.",
    "RoleGrant.unit": "The request's `OrgUnit` loader (`Loaders.by_id`), as `one` does.",
    "WebhookRegistration.endpoint": "The endpoint the mutation has just created for the caller "
    "(`WebhookEndpoint` create), answered once with its secret: the row of the answer itself.",
    "WebhookReplay.endpoint": "The endpoint the replay named, read by the replay itself with "
    "`RequestAuth.get_visible` (NOT_FOUND when the caller may not read it).",
    # Subscription payloads (schema/subscriptions.py): the object an event is about, sent
    # only when the subscriber's read plan allows it (tests/test_subscriptions.py).
    "ConcernChange.concern": "The subscriber's `Concern` read plan on the row, per event.",
    "ReferralChange.referral": "The subscriber's `Referral` read plan on the row, per event.",
    "MeetingChange.meeting": "The subscriber's `Meeting` read plan on the row, per event.",
    "DecisionTaken.topic": "The subscriber's `AgendaTopic` read plan on the row, per event.",
}


def test_every_field_showing_another_resources_object_reads_through_its_rule():
    """An object-typed field whose type is a policy resource is built by ``one``/``many``
    (the policy-filtered loaders; metadata ``REVEALS``) or listed in ``CUSTOM_OBJECT_FIELDS``
    with the way it applies the rule. A connection's own nodes are the list's rows."""
    from policies.resources import RESOURCES

    strawberry_schema = build_strawberry_schema()
    graphql = strawberry_schema._schema
    missing, declared, custom = [], set(), set()
    for type_name, concrete in strawberry_schema.schema_converter.type_map.items():
        fields = getattr(concrete.definition, "fields", None)
        if fields is None or type_name.endswith(("Connection", "Edge")) or type_name in ("Query", "Mutation"):
            continue
        for field in fields:
            name = strawberry_schema.config.name_converter.get_graphql_name(field)
            graphql_field = graphql.type_map[type_name].fields.get(name)  # type: ignore[union-attr]
            if graphql_field is None or get_named_type(graphql_field.type).name not in RESOURCES:
                continue
            key = f"{type_name}.{name}"
            if (field.metadata or {}).get(REVEALS) is not None:
                declared.add(key)
            elif key in CUSTOM_OBJECT_FIELDS:
                custom.add(key)
            else:
                missing.append(key)
    assert not missing, f"object fields of another resource that bypass one/many: {sorted(missing)}"
    assert custom == set(CUSTOM_OBJECT_FIELDS), "CUSTOM_OBJECT_FIELDS lists fields that are gone"
    assert {"Concern.assignee", "Task.topic", "Attendance.person"} <= declared


async def test_a_task_volunteer_name_never_names_a_person(demo):
    """``NOT_GUARDED['Task.volunteerName']`` holds in the data: no task both has an owner
    person and a volunteer name, and the demo has a volunteer without account."""
    assert await Task.filter(owner_person_id__not_isnull=True).exclude(volunteer_name="").count() == 0
    assert await Task.exclude(volunteer_name="").count() >= 1


# ------------------------------------------------------------------- proofs both ways


@dataclass(frozen=True)
class Proof:
    """``query`` (variables ``{"id": parent}``) reads ``field`` of the parent; ``target``
    looks up the object the field reveals. ``hidden`` may read the parent and not the
    target, ``shown`` both; ``variant`` says the hidden role is under ``VARIANT``."""

    query: str
    target: str
    hidden: str
    shown: str
    variant: bool = False


PROOFS: dict[str, Proof] = {
    # the finding: a dispatched service order, the volunteer hidden from the resident
    # and from the grid worker of the order's grid (not the volunteer's)
    "Concern.assigneeName": Proof(
        "query($id: ID!) { node: concern(id: $id) { value: assigneeName } }",
        "query($id: ID!) { person(id: $id) { id } }",
        hidden="resident_zhao",
        shown="secretary_zhang",
    ),
    # a task of grid 1's concern, read by the grid worker of grid 2 (Task in_community)
    "Task.concernId": Proof(
        "query($id: ID!) { node: task(id: $id) { value: concernId } }",
        "query($id: ID!) { concern(id: $id) { id } }",
        hidden="grid_worker_liu",
        shown="grid_worker_chen",
    ),
    "AuditRecord.actorId": Proof(
        "query($id: String) { auditLog(objectId: $id, first: 1) { nodes { value: actorId } } }",
        "query($id: ID!) { person(id: $id) { id } }",
        hidden="admin",
        shown="admin",
        variant=True,
    ),
}


async def _parent_and_target(field: str, demo) -> tuple[str, str, str]:
    """(the parent's id as the proof's query takes it, the target's id, the value shown)."""
    world = demo.world
    if field == "Concern.assigneeName":
        order = await Concern.get(id=world.concerns["order"].id)
        person = await Person.get(id=order.assignee_id)
        return str(order.id), str(person.id), order.assignee_name
    if field == "Task.concernId":
        task = world.tasks["ebikes_sweep"]
        return str(task.id), str(task.concern_id), str(task.concern_id)
    if field == "AuditRecord.actorId":
        # a refused step by resident_wang on his own concern: the record to read back
        wall, wang = world.concerns["wall"], world.people["resident_wang"]
        async with demo.client("resident_wang") as client:
            body = await gql(
                client,
                "mutation($id: ID!) { acceptConcern(input: {concernId: $id}) { __typename } }",
                {"id": str(wall.id)},
            )
        assert error_codes(body) == ["FORBIDDEN"], body
        assert await AuditRecord.filter(object_id=str(wall.id)).count() == 1
        return str(wall.id), str(wang.id), str(wang.id)
    raise AssertionError(field)


def _value(body: dict):
    data = body["data"]
    if "node" in data:
        assert data["node"] is not None, "the role must read the parent object"
        return data["node"]["value"]
    nodes = data["auditLog"]["nodes"]
    assert len(nodes) == 1, "the role must read the parent record"
    return nodes[0]["value"]


@pytest.mark.parametrize("field", sorted(PROOFS))
async def test_a_guarded_field_is_null_where_its_object_is_hidden(field, mutable_demo, variant):
    proof, demo = PROOFS[field], mutable_demo
    parent, target, value = await _parent_and_target(field, demo)
    hidden_app = variant if proof.variant else demo.app
    async with client_on(hidden_app, demo, proof.hidden) as hidden, demo.client(proof.shown) as shown:
        # the premise, through the API: the hidden role reads the parent, not the target
        looked_up = await gql(hidden, proof.target, {"id": target})
        assert error_codes(looked_up) == ["NOT_FOUND"], looked_up
        assert _value(await gql(hidden, proof.query, {"id": parent})) is None
        # both ways: who may read the target gets the value
        assert (await gql(shown, proof.target, {"id": target}))["data"] is not None
        assert _value(await gql(shown, proof.query, {"id": parent})) == value


async def test_a_name_that_names_no_person_is_the_concerns_own(demo):
    """A concern given to a team by name (no person) shows the name to its resident."""
    drain = demo.world.concerns["drain"]
    assert drain.assignee_id is None and drain.assignee_name
    async with demo.client("resident_wang") as wang:
        body = await gql(wang, "query($id: ID!) { concern(id: $id) { assigneeName assignee { id } } }",
                         {"id": str(drain.id)})  # fmt: skip
    assert body["data"]["concern"] == {"assigneeName": drain.assignee_name, "assignee": None}


async def test_the_history_does_not_name_the_assignee(demo):
    """The dispatch's event note no longer carries the volunteer's name (the same leak in
    the concern's history, readable by its resident)."""
    order = demo.world.concerns["order"]
    volunteer = demo.world.people["volunteer_zhao"].name
    async with demo.client("resident_zhao") as zhao:
        body = await gql(zhao, "query($id: ID!) { concern(id: $id) { events { action note } } }",
                         {"id": str(order.id)})  # fmt: skip
    events = body["data"]["concern"]["events"]
    assert any(e["action"] == "assign" for e in events)
    assert all(volunteer not in e["note"] for e in events)


@pytest.mark.parametrize(
    ("query", "loaded"),
    [
        ("{ tasks(first: 50) { nodes { id %s } } }", "concernId"),
        ("{ concerns(first: 50) { nodes { id %s } } }", "assigneeName"),
    ],
)
async def test_a_guarded_field_costs_one_batched_statement(query, loaded, mutable_demo, count_queries):
    """The check goes through the request's loader: at most one statement for the whole page,
    however many rows name an object (a second concern is given to a person first, so
    that two rows of the page name people)."""
    demo = mutable_demo
    async with demo.client("secretary_zhang") as client:
        assigned = await gql(
            client,
            "mutation($c: ID!, $p: ID!) { assignConcern(input: {concernId: $c, assigneeId: $p}) "
            "{ __typename } }",
            {"c": demo.id("concerns", "wall"), "p": demo.id("people", "grid_worker_chen")},
        )
        assert assigned["data"]["assignConcern"] == {"__typename": "Concern"}, assigned
        with count_queries() as without:
            plain = await gql(client, query % "")
        with count_queries() as guarded:
            body = await gql(client, query % loaded)
    assert "errors" not in body and "errors" not in plain
    values = [n[loaded] for n in next(iter(body["data"].values()))["nodes"]]
    assert len([v for v in values if v]) >= 2, values
    if loaded == "assigneeName":  # two rows name a person (not only a team's name)
        assert await Concern.filter(assignee_id__not_isnull=True).count() >= 2
    # one statement more, or none where the compiled path reads the named objects inside
    # the page's own statement (PostgreSQL, schema/compiled.py "folds"); never one per row
    assert guarded.count - without.count in (0, 1), guarded.statements


# ---------------------------------------------------------------------- filter arguments


@dataclass(frozen=True)
class FilterProof:
    """``root(arg: id)`` as ``role``: the rows of ``target`` (a lookup of the object the id
    names) exist for the role unfiltered; under ``variant`` (or the shipped policy) the
    role cannot read the object, and the filter answers as for a missing id."""

    root: str
    arg: str
    target: str
    role: str
    object_of: str  # "units:fulu_g2": the demo object whose id is the filter's value
    variant: bool = True


FILTER_PROOFS: dict[str, FilterProof] = {
    # the finding: the volunteer sees the order but not its grid
    "concerns(unitId:)": FilterProof(
        "concerns", "unitId", "orgUnit", "volunteer_zhao", "units:fulu_g2", False
    ),
    "people(unitId:)": FilterProof("people", "unitId", "orgUnit", "grid_worker_chen", "units:fulu_g1"),
    "councils(unitId:)": FilterProof("councils", "unitId", "orgUnit", "grid_worker_chen", "units:fulu"),
    "gridRounds(unitId:)": FilterProof(
        "gridRounds", "unitId", "orgUnit", "grid_worker_chen", "units:fulu_g1"
    ),
    "allianceUnits(unitId:)": FilterProof(
        "allianceUnits", "unitId", "orgUnit", "alliance_staff_dizhi", "units:nanchuan"
    ),
    "meetings(councilId:)": FilterProof("meetings", "councilId", "council", "resident_wang", "councils:fulu"),
    "tasks(allianceUnitId:)": FilterProof(
        "tasks", "allianceUnitId", "allianceUnit", "grid_worker_chen", "alliance_units:dizhi"
    ),
    "outreachEvents(workstationId:)": FilterProof(
        "outreachEvents", "workstationId", "workstations", "resident_wang", "workstations:fulu"
    ),
    "legalConsultations(workstationId:)": FilterProof(
        "legalConsultations", "workstationId", "workstations", "street_official_xu", "workstations:fulu"
    ),
    "auditLog(actorId:)": FilterProof("auditLog", "actorId", "person", "admin", "people:resident_wang"),
    "orgUnits(parentId:)": FilterProof(
        "orgUnits", "parentId", "orgUnit", "secretary_zhang", "units:nanchuan"
    ),
    "webhookDeliveries(endpointId:)": FilterProof(
        "webhookDeliveries", "endpointId", "webhookEndpoints", "court_district", "webhooks:court"
    ),
}

# Arguments that take another resource's id but are not such filters, and why (reviewed).
NOT_A_FILTER: dict[str, str] = {
    "auditLog(objectId:)": "A string matched against the record's own column (see NOT_GUARDED's "
    "AuditRecord.objectId), for `AuditRecord` readers.",
    "explainAccess(personId:)": "A lookup: NOT_FOUND for a person missing or out of scope alike "
    "(`RequestAuth.get_visible`).",
    "explainAccess(objectId:)": "`Policy` explain decides on the object's facts by design: only the "
    "holders of that privilege (admin) may ask, and it answers only the scope path.",
    "statistics(unitId:)": "A lookup: NOT_FOUND for a unit missing or out of scope alike, same message "
    "(test_statistics_answers_an_invisible_unit_as_a_missing_one).",
}


def sdl_id_arguments() -> set[str]:
    """Every argument of a root query field that takes another resource's id."""
    schema = build_schema(SDL.read_text(encoding="utf-8"))
    found = set()
    for name, field in schema.query_type.fields.items():
        for arg_name, arg in field.args.items():
            if arg_name == "id":
                continue  # a lookup's own id: NOT_FOUND alike (tests/test_scope_leaks.py)
            if get_named_type(arg.type).name == "ID" or arg_name.endswith(("Id", "Ids")):
                found.add(f"{name}({arg_name}:)")
    return found


def test_every_id_argument_is_declared():
    found = sdl_id_arguments()
    undeclared = sorted(found - set(FILTER_PROOFS) - set(NOT_A_FILTER))
    assert not undeclared, f"id arguments without a proof or a reason: {undeclared}"
    stale = sorted((set(FILTER_PROOFS) | set(NOT_A_FILTER)) - found)
    assert not stale, f"declared arguments the schema no longer has: {stale}"


def _object_id(demo, spec: str) -> str:
    kind, key = spec.split(":")
    return str(getattr(demo.world, kind)[key].id)


def _listing(proof: FilterProof, filtered: bool = True) -> str:
    if not filtered:
        return f"{{ {proof.root}(first: 50) {{ totalCount nodes {{ id }} }} }}"
    return f"query($v: ID) {{ {proof.root}({proof.arg}: $v, first: 50) {{ totalCount nodes {{ id }} }} }}"


TARGET_LOOKUP = {
    "orgUnit": "query($id: ID!) { orgUnit(id: $id) { id } }",
    "council": "query($id: ID!) { council(id: $id) { id } }",
    "allianceUnit": "query($id: ID!) { allianceUnit(id: $id) { id } }",
    "person": "query($id: ID!) { person(id: $id) { id } }",
    # no lookup by id: the list of what the role may read
    "workstations": "{ workstations(first: 50) { nodes { id } } }",
    "webhookEndpoints": "{ webhookEndpoints(first: 50) { nodes { id } } }",
}


async def _readable(client, proof: FilterProof, object_id: str) -> bool:
    body = await gql(client, TARGET_LOOKUP[proof.target], {"id": object_id})
    if proof.target in ("workstations", "webhookEndpoints"):
        if "errors" in body:
            return False
        return object_id in [n["id"] for n in body["data"][proof.target]["nodes"]]
    if error_codes(body) == ["NOT_FOUND"]:
        return False
    return body["data"][proof.target] is not None


@pytest.mark.parametrize("argument", sorted(FILTER_PROOFS))
async def test_a_filter_by_a_hidden_object_answers_as_by_a_missing_one(argument, mutable_demo, variant):
    proof, demo = FILTER_PROOFS[argument], mutable_demo
    if proof.root == "auditLog":  # the log is written by requests: one by the person filtered on
        async with demo.client("resident_wang") as wang:
            await gql(wang, "{ auditLog { totalCount } }")
    object_id = _object_id(demo, proof.object_of)
    query = _listing(proof)
    # shown: under the shipped policy (or by a role that reads the object) the filter
    # finds rows
    shown_role = "secretary_zhang" if not proof.variant else proof.role
    async with demo.client(shown_role) as shown:
        assert await _readable(shown, proof, object_id)
        found = (await gql(shown, query, {"v": object_id}))["data"][proof.root]
        assert found["totalCount"] >= 1, (argument, found)
    # hidden: the role reads rows of the list but not the object the filter names
    async with client_on(variant if proof.variant else demo.app, demo, proof.role) as hidden:
        assert not await _readable(hidden, proof, object_id)
        everything = (await gql(hidden, _listing(proof, filtered=False)))["data"]
        assert everything[proof.root]["totalCount"] >= 1, "the role must read rows of the list"
        by_hidden = await gql(hidden, query, {"v": object_id})
        by_missing = await gql(hidden, query, {"v": MISSING_ID})
    assert by_hidden == by_missing
    assert by_hidden["data"][proof.root] == {"totalCount": 0, "nodes": []}


async def test_the_finding_filter_would_have_leaked(demo):
    """The volunteer reads the service order in a grid it cannot see: the unfiltered list
    has it, so only the filter's own check keeps ``unitId`` from confirming the grid."""
    order = demo.world.concerns["order"]
    async with demo.client("volunteer_zhao") as volunteer:
        body = await gql(volunteer, "{ concerns(first: 50) { nodes { id unit { id } } } }")
    assert {"id": str(order.id), "unit": None} in body["data"]["concerns"]["nodes"]


async def test_statistics_answers_an_invisible_unit_as_a_missing_one(demo):
    query = 'query($u: ID) { statistics(since: "2024-01-01T00:00:00Z", until: "2027-01-01T00:00:00Z", unitId: $u) { since } }'
    hidden = _object_id(demo, "units:duji")
    async with demo.client("resident_wang") as wang:
        by_hidden = await gql(wang, query, {"u": hidden})
        by_missing = await gql(wang, query, {"u": MISSING_ID})
    assert error_codes(by_hidden) == error_codes(by_missing) == ["NOT_FOUND"]
    strip = [e["message"].replace(hidden, "?") for e in by_hidden["errors"]]
    assert strip == [e["message"].replace(MISSING_ID, "?") for e in by_missing["errors"]]


async def test_the_history_does_not_name_a_hidden_original_or_task(mutable_demo):
    """Notes the system writes carry no id of an object the history's readers may not read:
    a merge does not name the original (another resident's concern), a resolution by tasks
    does not name the task."""
    demo = mutable_demo
    ebikes, wall, lamp = (demo.world.concerns[k] for k in ("ebikes", "wall", "lamp"))
    async with demo.client("grid_worker_chen") as worker:
        merged = await gql(
            worker,
            "mutation($c: ID!, $o: ID!) { mergeConcern(input: {concernId: $c, duplicateOfId: $o}) "
            "{ ... on Concern { status } } }",
            {"c": str(ebikes.id), "o": str(wall.id)},
        )
    assert merged["data"]["mergeConcern"] == {"status": "MERGED"}, merged
    query = "query($id: ID!) { concern(id: $id) { duplicateOf { id } events { action note } } }"
    async with demo.client("resident_li") as li:
        body = await gql(li, query, {"id": str(ebikes.id)})
    assert body["data"]["concern"]["duplicateOf"] is None  # wall is resident_wang's
    merge = [e["note"] for e in body["data"]["concern"]["events"] if e["action"] == "merge"]
    assert merge and all(f"#{wall.id}" not in note for note in merge)
    async with demo.client("resident_sun") as sun:
        body = await gql(sun, query, {"id": str(lamp.id)})
    resolved = [e["note"] for e in body["data"]["concern"]["events"] if e["action"] == "resolve"]
    task = demo.world.tasks["lamp_repair"]
    assert resolved == [f"all tasks done: {task.result}"]
