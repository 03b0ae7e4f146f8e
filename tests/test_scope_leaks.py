"""Cross-scope leaks: no foreign row reaches a caller by any path of the API.

Callers: a resident of 福禄巷北社区第一网格 (``resident_wang``), that grid's worker
(``grid_worker_chen``), the secretary of 福禄巷北社区 (``secretary_zhang``), and for
good measure the judge, the street official of 南川西路街道 and the one of the other
street. Paths tried: root lists and their ``totalCount``, every nested field (walked
generically: every object with an id anywhere in a deep response must be one the
caller may read), contact details, cursors taken from another caller, single lookups
of foreign rows (NOT_FOUND, worded exactly like a missing id), and filter arguments
that name foreign units.

What each caller may read is written out below from the seed, not derived from the
service: ``SCOPES`` is the expectation.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import pytest

from models.concerns import Concern, ConcernEvent
from models.councils import AgendaTopic, Attendance, Meeting
from tests.conftest import Demo, error_codes, gql

# ----------------------------------------------------------------- what callers read


@dataclass(frozen=True)
class Scope:
    """Seed keys a caller may read. ``None``: no read rule at all (root list FORBIDDEN).

    Agenda topics are those of the readable meetings, concern events those of the
    readable concerns, attendance that of the readable meetings (only the listed
    attendees' when attendance is the caller's own)."""

    units: tuple[str, ...]
    people: tuple[str, ...]
    contact: tuple[str, ...]  # whose phone and address are shown
    councils: tuple[str, ...] | None
    meetings: tuple[str, ...] | None
    concerns: tuple[str, ...] | None
    attendance_only_of: tuple[str, ...] | None = None
    concern_events: bool = True  # the history of the readable concerns (volunteers: not)


FULU_PEOPLE = (
    *("resident_wang", "resident_li", "resident_zhao", "grid_worker_chen", "grid_worker_liu"),
    *("secretary_zhang", "judge_he", "volunteer_zhao"),
)

SCOPES: dict[str, Scope] = {
    "resident_wang": Scope(
        units=("nanchuan", "fulu", "fulu_g1"),
        people=("resident_wang",),
        contact=("resident_wang",),
        councils=("fulu",),
        meetings=("wall", "park", "safety", "elevator_council"),
        concerns=("wall", "drain"),
        attendance_only_of=("resident_wang",),
    ),
    "grid_worker_chen": Scope(
        units=("nanchuan", "fulu", "fulu_g1"),
        people=("resident_wang", "resident_li", "grid_worker_chen"),
        contact=("resident_wang", "resident_li", "grid_worker_chen"),
        councils=("fulu",),
        meetings=("wall", "park", "safety", "elevator_council"),
        concerns=("wall", "ebikes", "drain"),
    ),
    "secretary_zhang": Scope(
        units=("nanchuan", "fulu", "fulu_g1", "fulu_g2"),
        people=FULU_PEOPLE,
        contact=FULU_PEOPLE,
        councils=("fulu",),
        meetings=("wall", "park", "safety", "elevator_council"),
        concerns=("wall", "ebikes", "pipe", "drain", "order"),
    ),
    "judge_he": Scope(
        units=("nanchuan", "fulu", "xinqing"),
        people=("judge_he",),
        contact=("judge_he",),
        councils=("fulu", "xinqing"),
        meetings=("wall", "park", "safety", "elevator_council", "civil_code"),
        concerns=None,
        attendance_only_of=("judge_he",),
    ),
    "street_official_xu": Scope(
        units=("nanchuan", "fulu", "fulu_g1", "fulu_g2", "xinqing", "xinqing_g1"),
        people=(*FULU_PEOPLE, "resident_sun", "secretary_huang", "street_official_xu"),
        contact=("street_official_xu",),
        councils=("fulu", "xinqing"),
        meetings=("wall", "park", "safety", "elevator_council", "civil_code"),
        concerns=("wall", "ebikes", "pipe", "drain", "order", "lamp"),
    ),
    "street_official_gao": Scope(
        units=("kuangshan", "duji", "duji_g1", "duji_g2"),
        people=("resident_zhou", "resident_wu", "grid_worker_ma", "secretary_yang", "street_official_gao"),
        contact=("street_official_gao",),
        councils=("duji",),
        meetings=("drainage",),
        concerns=("elevator", "road"),
    ),
    "volunteer_zhao": Scope(
        units=("nanchuan", "fulu"),
        people=("volunteer_zhao",),
        contact=("volunteer_zhao",),
        councils=None,
        meetings=None,
        concerns=("order",),
        concern_events=False,
    ),
}
FOCUS = ["resident_wang", "grid_worker_chen", "secretary_zhang"]
FULU_2026 = (
    "park",
    "safety",
    "elevator_council",
)  # 福禄巷北社区's meetings of this year  # the callers of the brief
MISSING_ID = 987654  # no seeded row has it


async def readable_ids(demo: Demo, caller: str) -> dict[str, set[str]]:
    """GraphQL type name -> ids the caller may read, from ``SCOPES`` and the stored rows."""
    scope = SCOPES[caller]
    w = demo.world

    def ids(kind: str, keys) -> set[str]:
        return {str(getattr(w, kind)[k].id) for k in keys or ()}

    meetings = [int(i) for i in ids("meetings", scope.meetings)]
    concerns = [int(i) for i in ids("concerns", scope.concerns)]
    attendance = Attendance.filter(meeting_id__in=meetings)
    if scope.attendance_only_of is not None:
        attendance = attendance.filter(person_id__in=[w.people[k].id for k in scope.attendance_only_of])

    async def stored(query) -> set[str]:
        return {str(i) for i in await query.values_list("id", flat=True)}

    return {
        "OrgUnit": ids("units", scope.units),
        "Person": ids("people", scope.people),
        "Council": ids("councils", scope.councils),
        "Meeting": ids("meetings", scope.meetings),
        "Concern": ids("concerns", scope.concerns),
        "AgendaTopic": await stored(AgendaTopic.filter(meeting_id__in=meetings)),
        "Attendance": await stored(attendance),
        "ConcernEvent": await stored(
            ConcernEvent.filter(concern_id__in=concerns if scope.concern_events else [])
        ),
    }


# ------------------------------------------------------------------ the deep walk

# Every path at most 8 fields deep and about 4,000 rows (the query limits,
# docs/operations.md), page sizes at least twice the demo's: nested paths to a person
# stop at their home unit's id (PL, CL); the root lists walk the rest.
DEEP_QUERY = """
fragment U on OrgUnit { __typename id parent { __typename id } children(first: 5) { __typename id } }
fragment P on Person { __typename id name phone address homeUnit { ...U } }
fragment PL on Person { __typename id name phone address homeUnit { __typename id } }
fragment C on Concern {
  __typename id unit { ...U } raisedBy { ...P } recordedBy { ...P }
  events(first: 5) { __typename id actor { ...P } }
}
fragment CL on Concern {
  __typename id unit { __typename id } raisedBy { ...PL } recordedBy { ...PL }
  events(first: 5) { __typename id actor { ...PL } }
}
fragment M on Meeting {
  __typename id council { __typename id unit { __typename id } }
  topics(first: 5) { __typename id meeting { __typename id } concern { ...CL } raisedBy { ...PL } }
  attendance(first: 6) { __typename id person { ...PL } meeting { __typename id } }
}
query {
  me { person { ...P } roles { unit { ...U } } }
  orgUnits(first: 30) { totalCount nodes { ...U } }
  people(first: 50) { totalCount nodes { ...P } }
  councils(first: 10) {
    totalCount nodes { __typename id unit { ...U } meetings(first: 10) { __typename id council { __typename id } } }
  }
  meetings(first: 10) { totalCount nodes { ...M } }
  concerns(first: 20) { totalCount nodes { ...C } }
}
"""

ROOT_LISTS = {
    "orgUnits": "OrgUnit",
    "people": "Person",
    "councils": "Council",
    "meetings": "Meeting",
    "concerns": "Concern",
}


def collect(value, seen: dict[str, set[str]], people: dict[str, dict]) -> None:
    """Every object with ``__typename`` and ``id`` anywhere in a response."""
    if isinstance(value, list):
        for item in value:
            collect(item, seen, people)
    elif isinstance(value, dict):
        if "__typename" in value and "id" in value:
            seen.setdefault(value["__typename"], set()).add(value["id"])
            if value["__typename"] == "Person" and "phone" in value:
                people[value["id"]] = value
        for item in value.values():
            collect(item, seen, people)


async def walk(demo: Demo, caller: str) -> dict:
    """Run the deep query as ``caller``; assert it shows exactly what the caller may read."""
    scope = SCOPES[caller]
    readable = await readable_ids(demo, caller)
    async with demo.client(caller) as client:
        body = await gql(client, DEEP_QUERY)
    forbidden = {field for field in ("councils", "meetings", "concerns") if getattr(scope, field) is None}
    assert sorted((e["path"][0], e["extensions"]["code"]) for e in body.get("errors") or []) == sorted(
        (field, "FORBIDDEN") for field in forbidden
    ), body
    data = body["data"]
    for field in forbidden:
        assert data[field] is None

    seen: dict[str, set[str]] = {}
    people: dict[str, dict] = {}
    collect(data, seen, people)
    for typename, allowed in readable.items():
        found = seen.get(typename, set())
        assert found <= allowed, f"{caller} sees foreign {typename} rows {sorted(found - allowed, key=int)}"
        # Everything readable is reachable from the root lists, so the sets are equal.
        assert found == allowed, f"{caller} misses {typename} rows {sorted(allowed - found, key=int)}"
    assert set(seen) <= set(readable), f"unexpected types {set(seen) - set(readable)}"

    for field, typename in ROOT_LISTS.items():
        if field not in forbidden:
            assert data[field]["totalCount"] == len(readable[typename]), (field, data[field]["totalCount"])
            assert {n["id"] for n in data[field]["nodes"]} == readable[typename], field

    contact = {demo.id("people", key) for key in scope.contact}
    for person_id, person in people.items():
        shows = person["phone"] is not None or person["address"] is not None
        assert shows == (person_id in contact), f"{caller}: contact details of person {person_id}: {person}"
    return data


@pytest.mark.parametrize("caller", list(SCOPES))
async def test_deep_response_holds_no_foreign_row(demo, caller):
    await walk(demo, caller)


async def test_planted_cross_scope_links_come_back_null(mutable_demo):
    """Rows inside the caller's scope that point outside it: the pointer is null."""
    demo = mutable_demo
    w = demo.world
    park, wall, ebikes = w.meetings["park"], w.concerns["wall"], w.concerns["ebikes"]
    # A fulu meeting discussing a concern of grid 2 and one of the other street.
    topic_pipe = await AgendaTopic.create(
        meeting=park,
        scope_path=park.scope_path,
        owner_id=w.people["resident_zhao"].id,
        title="水管漏水",
        concern=w.concerns["pipe"],
        raised_by=w.people["resident_zhao"],
    )
    topic_elevator = await AgendaTopic.create(
        meeting=park,
        scope_path=park.scope_path,
        owner_id=w.people["resident_zhou"].id,
        title="老楼加装电梯经验交流",
        concern=w.concerns["elevator"],
        raised_by=w.people["resident_zhou"],
    )
    # Visitors from grid 2 and from the other street at that meeting.
    visits = {}
    for key in ("resident_zhao", "resident_zhou"):
        person = w.people[key]
        visits[key] = await Attendance.create(
            meeting=park, person=person, scope_path=park.scope_path, owner_id=person.id, capacity="guest"
        )
    # The other street's official acting on concerns of grid 1.
    gao = w.people["street_official_gao"]
    events = [
        await ConcernEvent.create(
            concern=concern,
            scope_path=concern.scope_path,
            owner_id=concern.owner_id,
            actor=gao,
            action="note",
        )
        for concern in (wall, ebikes)
    ]

    expected_concern = {  # caller -> (pipe topic's concern shown, elevator topic's concern shown)
        "resident_wang": (False, False),
        "grid_worker_chen": (False, False),
        "secretary_zhang": (True, False),
    }
    for caller in FOCUS:
        data = await walk(demo, caller)  # no foreign id anywhere
        park_node = next(m for m in data["meetings"]["nodes"] if m["id"] == str(park.id))
        topics = {t["id"]: t for t in park_node["topics"]}
        pipe_shown, elevator_shown = expected_concern[caller]
        assert (topics[str(topic_pipe.id)]["concern"] is not None) == pipe_shown, caller
        assert (topics[str(topic_elevator.id)]["concern"] is not None) == elevator_shown, caller
        assert topics[str(topic_elevator.id)]["raisedBy"] is None, caller
        attendance = {a["id"]: a for a in park_node["attendance"]}
        if caller == "resident_wang":
            assert str(visits["resident_zhao"].id) not in attendance  # attendance is the resident's own
        else:
            assert attendance[str(visits["resident_zhou"].id)]["person"] is None, caller
            zhao_shown = attendance[str(visits["resident_zhao"].id)]["person"] is not None
            assert zhao_shown == (caller == "secretary_zhang"), caller
        shown_events = {e["id"]: e for c in data["concerns"]["nodes"] for e in c["events"]}
        assert str(events[0].id) in shown_events, caller  # every caller here reads the wall concern
        for event in events:
            if str(event.id) in shown_events:
                assert shown_events[str(event.id)]["actor"] is None, caller


# --------------------------------------------------------------------------- cursors

CURSOR_SOURCES = ["street_official_gao", "admin"]  # callers whose cursors are replayed
CURSOR_QUERY = "{{ {field}(first: 100) {{ edges {{ cursor node {{ id }} }} }} }}"


@pytest.mark.parametrize("caller", FOCUS)
async def test_foreign_cursors_reveal_nothing(demo, caller):
    readable = await readable_ids(demo, caller)
    for field, typename in ROOT_LISTS.items():
        cursors: dict[str, int] = {}  # cursor -> id of the row it was issued for
        for source in CURSOR_SOURCES:
            async with demo.client(source) as client:
                body = await gql(client, CURSOR_QUERY.format(field=field))
            for edge in (body["data"].get(field) or {}).get("edges", []):
                cursors[edge["cursor"]] = int(edge["node"]["id"])
        assert cursors, f"no cursors for {field}"
        pages = [
            f'c{i}: {field}(first: 100, after: "{cursor}") '
            "{ totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage } }"
            for i, cursor in enumerate(cursors)
        ]
        body = {"data": {}}
        async with demo.client(caller) as client:
            for start in range(0, len(pages), 10):  # within the alias limit (15)
                part = await gql(client, "{ " + " ".join(pages[start : start + 10]) + " }")
                assert "errors" not in part, part
                body["data"].update(part["data"])
        allowed = sorted((int(i) for i in readable[typename]), reverse=field != "orgUnits")
        for i, row_id in enumerate(cursors.values()):
            page = body["data"][f"c{i}"]
            after = [x for x in allowed if (x > row_id if field == "orgUnits" else x < row_id)]
            assert [int(n["id"]) for n in page["nodes"]] == after, (field, row_id, page)
            assert page["totalCount"] == len(allowed), (field, row_id, page)
            assert page["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


GARBAGE_CURSORS = [
    "garbage",
    "",
    "!!!",
    "Yz",  # cut off
    _b64("c1:abc"),
    _b64("x1:5"),
    _b64("c1:9" + "9" * 30),  # a number no id column can hold
    _b64("c1:0"),
    "\u7f51\u683c",  # 网格
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
async def test_garbage_cursor_is_bad_user_input(demo, cursor):
    async with demo.client("secretary_zhang") as client:
        for field in ROOT_LISTS:
            document = f"query($after: String) {{ {field}(after: $after) {{ totalCount }} }}"
            body = await gql(client, document, {"after": cursor})
            assert error_codes(body) == ["BAD_USER_INPUT"], (field, body)
            assert body["data"][field] is None


# ---------------------------------------------------------------- single lookups

LOOKUPS = {
    "orgUnit": "units",
    "person": "people",
    "council": "councils",
    "meeting": "meetings",
    "concern": "concerns",
}


def normalised(error: dict, row_id: int | str) -> tuple[str, dict]:
    """The error with the id it names replaced, to compare "elsewhere" with "nowhere"."""
    return re.sub(rf"\b{row_id}\b", "<id>", error["message"]), error.get("extensions")


@pytest.mark.parametrize("caller", FOCUS)
async def test_foreign_lookups_read_like_missing_ids(demo, caller):
    scope = SCOPES[caller]
    for field, kind in LOOKUPS.items():
        mine = set(getattr(scope, kind) or ())
        foreign = {key: row.id for key, row in getattr(demo.world, kind).items() if key not in mine}
        assert foreign, f"{caller} can see every {kind}"
        targets = {**foreign, "missing": MISSING_ID}
        lookups = [f'{alias}: {field}(id: "{row_id}") {{ id }}' for alias, row_id in targets.items()]
        body: dict = {"data": {}, "errors": []}
        async with demo.client(caller) as client:
            for start in range(0, len(lookups), 10):  # within the alias limit (15)
                part = await gql(client, "{ " + " ".join(lookups[start : start + 10]) + " }")
                body["data"].update(part["data"])
                body["errors"] += part.get("errors") or []
        errors = {e["path"][0]: e for e in body.get("errors") or []}
        assert set(errors) == set(targets), (field, body)
        assert all(body["data"][alias] is None for alias in targets)
        missing = normalised(errors["missing"], MISSING_ID)
        assert missing[1] == {"code": "NOT_FOUND"}, missing
        for alias, row_id in foreign.items():
            assert normalised(errors[alias], row_id) == missing, (
                field,
                alias,
                errors[alias],
                errors["missing"],
            )


# Mutations on a foreign target fail like mutations on a missing one.
FOREIGN_TARGETS = [
    ("scheduleMeeting", "ScheduleMeetingInput", "councilId", "councils", "duji"),
    ("addAgendaTopic", "AddAgendaTopicInput", "meetingId", "meetings", "drainage"),
    ("raiseConcern", "RaiseConcernInput", "unitId", "units", "duji_g1"),
    ("recordAttendance", "RecordAttendanceInput", "meetingId", "meetings", "drainage"),
    ("recordAttendance", "RecordAttendanceInput", "personId", "people", "resident_zhou"),
]
MUTATION_BASE = {
    "scheduleMeeting": {
        "councilId": ("councils", "fulu"),
        "title": "议事",
        "startsAt": "2026-12-20T10:00:00+08:00",
    },
    "addAgendaTopic": {"meetingId": ("meetings", "park"), "title": "议题"},
    "raiseConcern": {"unitId": ("units", "fulu_g1"), "title": "诉求", "category": "other"},
    "recordAttendance": {"meetingId": ("meetings", "park"), "personId": ("people", "resident_li")},
}


async def row_counts() -> list[int]:
    return [await model.all().count() for model in (Meeting, AgendaTopic, Attendance, Concern, ConcernEvent)]


@pytest.mark.parametrize(("mutation", "input_type", "argument", "kind", "key"), FOREIGN_TARGETS)
async def test_foreign_mutation_targets_read_like_missing_ones(
    demo, request, mutation, input_type, argument, kind, key
):
    document = f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ id }} }}"
    base = {
        name: demo.id(*value) if isinstance(value, tuple) else value
        for name, value in MUTATION_BASE[mutation].items()
    }
    foreign_id = demo.id(kind, key)
    counts = await row_counts()
    messages = {}
    for caller in FOCUS:
        async with demo.client(caller) as client:
            for label, row_id in (("foreign", foreign_id), ("missing", str(MISSING_ID))):
                body = await gql(client, document, {"input": {**base, argument: row_id}})
                assert error_codes(body) == ["NOT_FOUND"], (caller, label, body)
                messages[label] = normalised(body["errors"][0], row_id)
        assert messages["foreign"] == messages["missing"], (caller, messages)
    after = await row_counts()
    if after != counts:
        request.getfixturevalue("mutable_demo")  # the shared world is spoilt: reseed it after this test
    assert after == counts, "a refused mutation wrote rows"


# ------------------------------------------------------------------- filter arguments


LIST_KINDS = {
    "orgUnits": "units",
    "people": "people",
    "councils": "councils",
    "meetings": "meetings",
    "concerns": "concerns",
}
G1_PEOPLE = ("resident_wang", "resident_li", "grid_worker_chen")
G2_PEOPLE = ("resident_zhao", "grid_worker_liu")
FULU_GRIDS = ("fulu_g1", "fulu_g2")
WALL_EBIKES = ("wall", "ebikes")
EBIKES_PIPE = ("ebikes", "pipe")

# A list, its arguments ({kind:key}: that seed row's id), and the seed rows that
# resident_wang, grid_worker_chen and secretary_zhang (FOCUS) each get.
G1_CONCERNS = (*WALL_EBIKES, "drain")

# fmt: off
FILTERS: list[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    # list       arguments                           resident_wang       grid_worker   secretary_zhang
    ("concerns", 'unitId: "{units:fulu_g2}"',        (),                 (),           ("pipe", "order")),
    ("concerns", 'unitId: "{units:duji_g1}"',        (),                 (),           ()),
    ("concerns", 'unitId: "{units:fulu_g1}"',        ("wall", "drain"),  G1_CONCERNS,  G1_CONCERNS),
    ("concerns", 'search: "电梯"',                   (),                 (),           ()),
    ("concerns", 'search: "水管"',                   (),                 (),           ("pipe",)),
    ("concerns", 'category: "infrastructure"',       ("wall",),          ("wall",),    ("wall",)),
    ("concerns", "status: SUBMITTED",                (),                 ("ebikes",),  EBIKES_PIPE),
    ("people",   'unitId: "{units:duji}"',           (),                 (),           ()),
    ("people",   'unitId: "{units:kuangshan}"',      (),                 (),           ()),
    ("people",   'unitId: "987654"',                 (),                 (),           ()),
    ("people",   'unitId: "{units:fulu_g2}"',        (),                 (),           G2_PEOPLE),
    ("people",   'unitId: "{units:nanchuan}"',       ("resident_wang",), G1_PEOPLE,    FULU_PEOPLE),
    ("people",   'search: "周"',                     (),                 (),           ()),
    ("people",   'search: "赵"',                     (),                 (),           ("resident_zhao", "volunteer_zhao")),
    ("councils", 'unitId: "{units:duji}"',           (),                 (),           ()),
    ("councils", 'search: "议事会"',                 ("fulu",),          ("fulu",),    ("fulu",)),
    ("meetings", 'councilId: "{councils:duji}"',     (),                 (),           ()),
    ("meetings", 'councilId: "{councils:xinqing}"',  (),                 (),           ()),
    ("meetings", "status: CLOSED",                   ("wall",),          ("wall",),    ("wall",)),
    ("meetings", 'startsAfter: "2026-01-01T00:00Z"', FULU_2026,          FULU_2026,    FULU_2026),
    ("orgUnits", 'parentId: "{units:duji}"',         (),                 (),           ()),
    ("orgUnits", 'parentId: "{units:nanchuan}"',     ("fulu",),          ("fulu",),    ("fulu",)),
    ("orgUnits", 'parentId: "{units:fulu}"',         ("fulu_g1",),       ("fulu_g1",), FULU_GRIDS),
    ("orgUnits", "kind: GRID",                       ("fulu_g1",),       ("fulu_g1",), FULU_GRIDS),
]
# fmt: on


@pytest.mark.parametrize(
    ("field", "arguments", "expected"),
    [pytest.param(field, arguments, seen, id=f"{field}({arguments})") for field, arguments, *seen in FILTERS],
)
async def test_filters_naming_foreign_rows_find_nothing_foreign(demo, field, arguments, expected):
    arguments = re.sub(r"\{(\w+):(\w+)\}", lambda m: demo.id(m[1], m[2]), arguments)
    query = f"{{ {field}({arguments}, first: 100) {{ totalCount nodes {{ id }} }} }}"
    for caller, keys in zip(FOCUS, expected, strict=True):
        async with demo.client(caller) as client:
            body = await gql(client, query)
        assert "errors" not in body, (caller, body)
        page = body["data"][field]
        assert {n["id"] for n in page["nodes"]} == {demo.id(LIST_KINDS[field], k) for k in keys}, (
            caller,
            page,
        )
        assert page["totalCount"] == len(keys), (caller, page)
