"""Demo data from the places in the domain brief, for GraphiQL and for the tests.

Two streets: 南川西路街道 with 福禄巷北社区 and 新青村 (where a district court's
judges keep a workstation), and 矿山集街道 with 杜集社区. Each has grids, people in
every role, councils with meetings, topics and attendance, and residents' concerns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from models.concerns import Concern, ConcernEvent, ConcernKind, ConcernStatus
from models.councils import AgendaTopic, Attendance, Council, Meeting, MeetingStatus, TopicStatus
from models.loop import (
    AllianceUnit,
    MeetingEvent,
    MeetingUnit,
    Rating,
    Task,
    TaskEvent,
    TaskOwnerKind,
    TaskStatus,
    Vote,
    VoteChoice,
    VoteStatus,
)
from models.org import OrgUnit, UnitKind
from models.people import Person, RoleAssignment
from services.concerns import DUE_HOURS
from services.org import create_unit

# key: (kind, name, parent key)
UNITS: list[tuple[str, UnitKind, str, str | None]] = [
    ("nanchuan", UnitKind.STREET, "南川西路街道", None),
    ("fulu", UnitKind.COMMUNITY, "福禄巷北社区", "nanchuan"),
    ("fulu_g1", UnitKind.GRID, "福禄巷北社区第一网格", "fulu"),
    ("fulu_g2", UnitKind.GRID, "福禄巷北社区第二网格", "fulu"),
    ("xinqing", UnitKind.VILLAGE, "新青村", "nanchuan"),
    ("xinqing_g1", UnitKind.GRID, "新青村第一网格", "xinqing"),
    ("kuangshan", UnitKind.STREET, "矿山集街道", None),
    ("duji", UnitKind.COMMUNITY, "杜集社区", "kuangshan"),
    ("duji_g1", UnitKind.GRID, "杜集社区第一网格", "duji"),
    ("duji_g2", UnitKind.GRID, "杜集社区第二网格", "duji"),
]

# key: (name, phone, home unit key, [(role, scope unit key or None for global)])
PEOPLE: list[tuple[str, str, str, str | None, list[tuple[str, str | None]]]] = [
    ("resident_wang", "王秀英", "13800000001", "fulu_g1", [("resident", "fulu_g1")]),
    ("resident_li", "李建国", "13800000002", "fulu_g1", [("resident", "fulu_g1")]),
    ("resident_zhao", "赵桂兰", "13800000003", "fulu_g2", [("resident", "fulu_g2")]),
    ("resident_sun", "孙志强", "13800000004", "xinqing_g1", [("resident", "xinqing_g1")]),
    ("resident_zhou", "周丽华", "13800000005", "duji_g1", [("resident", "duji_g1")]),
    ("resident_wu", "吴德明", "13800000006", "duji_g2", [("resident", "duji_g2")]),
    ("grid_worker_chen", "陈晓燕", "13900000001", "fulu_g1", [("grid_worker", "fulu_g1")]),
    ("grid_worker_liu", "刘海波", "13900000002", "fulu_g2", [("grid_worker", "fulu_g2")]),
    ("grid_worker_ma", "马丽", "13900000003", "duji_g1", [("grid_worker", "duji_g1")]),
    ("secretary_zhang", "张卫东", "13700000001", "fulu", [("secretary", "fulu")]),
    ("secretary_huang", "黄玉梅", "13700000002", "xinqing", [("secretary", "xinqing")]),
    ("secretary_yang", "杨春生", "13700000003", "duji", [("secretary", "duji")]),
    ("judge_he", "何法官", "13600000001", "fulu", [("judge", "fulu"), ("judge", "xinqing")]),
    ("street_official_xu", "徐主任", "13500000001", "nanchuan", [("street_official", "nanchuan")]),
    ("street_official_gao", "高主任", "13500000002", "kuangshan", [("street_official", "kuangshan")]),
    ("admin", "系统管理员", "13400000001", None, [("admin", None)]),
    ("volunteer_zhao", "赵大勇", "13200000001", "fulu", [("volunteer", "fulu")]),
    # --- councils loop / alliance: staff act for their unit (see ALLIANCE_STAFF)
    ("alliance_staff_dizhi", "地调院李工", "13300000001", None, [("alliance_staff", "nanchuan")]),
    ("alliance_staff_power", "供电公司王工", "13300000002", None, [("alliance_staff", "nanchuan")]),
]

# The people whose tokens `serve --demo` prints: one per role.
DEMO_LOGINS = [
    "resident_wang",
    "grid_worker_chen",
    "secretary_zhang",
    "judge_he",
    "street_official_xu",
    "admin",
    "volunteer_zhao",
    "alliance_staff_dizhi",  # --- councils loop / alliance
]


@dataclass
class DemoWorld:
    units: dict[str, OrgUnit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    councils: dict[str, Council] = field(default_factory=dict)
    meetings: dict[str, Meeting] = field(default_factory=dict)
    concerns: dict[str, Concern] = field(default_factory=dict)
    # --- councils loop / alliance
    alliance_units: dict[str, AllianceUnit] = field(default_factory=dict)
    topics: dict[str, AgendaTopic] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    votes: dict[str, Vote] = field(default_factory=dict)
    ratings: dict[str, Rating] = field(default_factory=dict)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def seed_demo() -> DemoWorld:
    """Create the demo world; if it is already there, load it instead (idempotent)."""
    if await OrgUnit.exists():
        return await load_demo()
    world = DemoWorld()
    for key, kind, name, parent in UNITS:
        world.units[key] = await create_unit(kind, name, world.units[parent] if parent else None)
    for key, name, phone, home, roles in PEOPLE:
        unit = world.units[home] if home else None
        person = await Person.create(
            name=name,
            phone=phone,
            address=f"{unit.name if unit else '街道办'} {len(world.people) + 1}号",
            home_unit=unit,
            scope_path=unit.path if unit else "",
        )
        person.owner_id = person.id
        await person.save(update_fields=["owner_id"])
        world.people[key] = person
        for role, scope in roles:
            scope_unit = world.units[scope] if scope else None
            await RoleAssignment.create(
                person=person, role=role, unit=scope_unit, scope_path=scope_unit.path if scope_unit else ""
            )
    await _seed_alliance(world)
    await _seed_councils(world)
    await _seed_loop(world)
    return world


SECRETARY_OF = {"fulu": "secretary_zhang", "xinqing": "secretary_huang", "duji": "secretary_yang"}


async def _seed_councils(world: DemoWorld) -> None:
    u, p = world.units, world.people
    councils = {
        "fulu": (
            "福禄巷北社区小板凳议事会",
            "Staff carry little stools into courtyards and sit with residents.",
            "fulu",
        ),
        "xinqing": ("新青村院落议事会", "Courtyard council of 新青村.", "xinqing"),
        "duji": ("杜集社区红板凳议事会", "Red-stool council of 杜集社区.", "duji"),
    }
    for key, (name, description, unit_key) in councils.items():
        world.councils[key] = await Council.create(
            name=name, description=description, unit=u[unit_key], scope_path=u[unit_key].path
        )

    concerns = [
        (
            "wall",
            "fulu_g1",
            "resident_wang",
            "grid_worker_chen",
            "小学对面围墙倾斜",
            "infrastructure",
            "The wall opposite the primary school leans towards the pavement.",
            "福禄巷北 12 号对面",
            ConcernStatus.ACCEPTED,
        ),
        (
            "ebikes",
            "fulu_g1",
            "resident_li",
            "resident_li",
            "楼道电动车堵塞",
            "safety",
            "E-bikes block the stairwell of building 3.",
            "3 号楼 2 单元",
            ConcernStatus.SUBMITTED,
        ),
        (
            "pipe",
            "fulu_g2",
            "resident_zhao",
            "grid_worker_liu",
            "水管漏水",
            "property",
            "Leaking pipe in the basement, photos sent through the mini-program.",
            "7 号楼地下室",
            ConcernStatus.SUBMITTED,
        ),
        (
            "lamp",
            "xinqing_g1",
            "resident_sun",
            "resident_sun",
            "路灯不亮",
            "infrastructure",
            "The street lamp at the village entrance has been out for a week.",
            "村口",
            ConcernStatus.RESOLVED,
        ),
        (
            "elevator",
            "duji_g1",
            "resident_zhou",
            "grid_worker_ma",
            "老楼加装电梯",
            "elderly",
            "Residents of an old building ask for an elevator.",
            "杜集 5 号楼",
            ConcernStatus.SUBMITTED,
        ),
        (
            "road",
            "duji_g2",
            "resident_wu",
            "resident_wu",
            "道路积水",
            "infrastructure",
            "The road floods after every rain.",
            "杜集路口",
            ConcernStatus.ACCEPTED,
        ),
        (
            "drain",
            "fulu_g1",
            "resident_wang",
            "grid_worker_chen",
            "井盖缺失",
            "safety",
            "A drain cover is missing on the lane behind building 2.",
            "2 号楼后巷",
            ConcernStatus.RESOLVED,
        ),
        (
            "order",
            "fulu_g2",
            "resident_zhao",
            "resident_zhao",
            "助老上门：更换厨房灯泡",
            "elderly_visit",
            "Service order: an elderly resident needs the kitchen bulb changed.",
            "7 号楼 301",
            ConcernStatus.ASSIGNED,
        ),
    ]
    overdue = {"ebikes", "elevator"}  # past their due time: the street sees them to supervise
    now = datetime.now(UTC)
    for key, grid, owner, recorder, title, category, description, location, status in concerns:
        concern = await Concern.create(
            unit=u[grid],
            scope_path=u[grid].path,
            owner_id=p[owner].id,
            raised_by=p[owner],
            recorded_by=p[recorder],
            title=title,
            description=description,
            category=category,
            location=location,
            status=status,
            kind=ConcernKind.SERVICE_ORDER
            if category in ("elderly_visit", "home_repair", "errand")
            else ConcernKind.CONCERN,
            due_at=now + timedelta(hours=-24 if key in overdue else DUE_HOURS[category]),
            assignee=p["volunteer_zhao"] if key == "order" else None,
            assignee_name=p["volunteer_zhao"].name if key == "order" else "",
            resolution="已修复，待居民评价" if status == ConcernStatus.RESOLVED else "",
            proof=[f"photo:{key}-after.jpg"] if status == ConcernStatus.RESOLVED else [],
        )
        world.concerns[key] = concern
        await ConcernEvent.create(
            concern=concern,
            scope_path=concern.scope_path,
            owner_id=concern.owner_id,
            actor=p[recorder],
            kind="submitted",
            to_status=ConcernStatus.SUBMITTED,
        )
        if status != ConcernStatus.SUBMITTED:
            await ConcernEvent.create(
                concern=concern,
                scope_path=concern.scope_path,
                owner_id=concern.owner_id,
                actor=p[recorder],
                kind="status_changed",
                from_status=ConcernStatus.SUBMITTED,
                to_status=status,
                note="网格员已受理",
            )

    meetings = [
        (
            "wall",
            "fulu",
            "围墙倾斜隐患议事",
            "2024-04-16T09:30:00",
            "福禄巷北社区 3 号院",
            MeetingStatus.HELD,
            [
                (
                    "小学对面围墙倾斜",
                    "Ask the geological survey institute (alliance unit) to inspect and repair.",
                    "wall",
                    "resident_wang",
                )
            ],
            [
                ("resident_wang", "resident"),
                ("resident_li", "resident"),
                ("grid_worker_chen", "grid_worker"),
                ("secretary_zhang", "secretary"),
                ("judge_he", "judge"),
            ],
        ),
        (
            "park",
            "fulu",
            "口袋公园金点子",
            "2026-12-05T14:00:00",
            "福禄巷北社区活动室",
            MeetingStatus.SCHEDULED,
            [("口袋公园选址", "Gather ideas for a pocket park.", None, "resident_li")],
            [],
        ),
        (
            "drainage",
            "duji",
            "道路积水排水方案",
            "2024-06-20T15:00:00",
            "杜集社区议事厅",
            MeetingStatus.HELD,
            [("道路积水", "Settle the drainage plan with engineers present.", "road", "resident_wu")],
            [("resident_wu", "resident"), ("grid_worker_ma", "grid_worker"), ("secretary_yang", "secretary")],
        ),
        (
            "civil_code",
            "xinqing",
            "民法典进院落",
            "2026-12-10T10:00:00",
            "新青村文化广场",
            MeetingStatus.SCHEDULED,
            [("民法典宣讲", "Legal outreach (普法) by the judges' workstation.", None, "secretary_huang")],
            [],
        ),
    ]
    for key, council_key, title, starts, place, status, topics, attendees in meetings:
        council = world.councils[council_key]
        meeting = await Meeting.create(
            council=council,
            scope_path=council.scope_path,
            title=title,
            starts_at=_at(starts),
            place=place,
            status=status,
            scheduled_by=p[SECRETARY_OF[council_key]],
        )
        world.meetings[key] = meeting
        for topic_title, description, concern_key, raised_by in topics:
            await AgendaTopic.create(
                meeting=meeting,
                scope_path=meeting.scope_path,
                owner_id=p[raised_by].id,
                title=topic_title,
                description=description,
                concern=world.concerns[concern_key] if concern_key else None,
                raised_by=p[raised_by],
            )
        for person_key, capacity in attendees:
            await Attendance.create(
                meeting=meeting,
                person=p[person_key],
                scope_path=meeting.scope_path,
                owner_id=p[person_key].id,
                capacity=capacity,
                present=True,
            )


async def load_demo() -> DemoWorld:
    """The demo world as already stored (looked up by the seeded names)."""
    world = DemoWorld()
    units = {u.name: u for u in await OrgUnit.all()}
    world.units = {key: units[name] for key, _, name, _ in UNITS if name in units}
    people = {x.name: x for x in await Person.all()}
    world.people = {key: people[name] for key, name, *_ in PEOPLE if name in people}
    # --- councils loop / alliance
    alliance = {x.name: x for x in await AllianceUnit.all()}
    world.alliance_units = {key: alliance[name] for key, name, *_ in ALLIANCE_UNITS if name in alliance}
    return world


# --- councils loop / alliance -------------------------------------------------------

# key: (name, kind, allied with (unit key), contact)
ALLIANCE_UNITS: list[tuple[str, str, str, str, str]] = [
    ("dizhi", "地质调查院", "institute", "nanchuan", "地质调查院党委办公室"),
    ("power", "供电公司", "power_company", "nanchuan", "供电公司南川供电所"),
    ("school", "福禄巷小学", "school", "fulu", "福禄巷小学德育处"),
    ("hospital", "杜集社区医院", "hospital", "duji", "杜集社区医院党支部"),
    ("design", "市政工程设计院", "institute", "kuangshan", "市政工程设计院排水所"),
]
# staff person key -> the alliance unit they act for
ALLIANCE_STAFF = {"alliance_staff_dizhi": "dizhi", "alliance_staff_power": "power"}


async def _seed_alliance(world: DemoWorld) -> None:
    for key, name, kind, unit_key, contact in ALLIANCE_UNITS:
        unit = world.units[unit_key]
        world.alliance_units[key] = await AllianceUnit.create(
            name=name, kind=kind, unit=unit, scope_path=unit.path, contact=contact
        )
    for person_key, unit_key in ALLIANCE_STAFF.items():
        await RoleAssignment.filter(person_id=world.people[person_key].id, role="alliance_staff").update(
            affiliation_kind="alliance_unit", affiliation_id=world.alliance_units[unit_key].id
        )


async def _meeting_events(meeting: Meeting, actor: Person, moves: list[tuple[str, str | None, str, str]]):
    for action, from_status, to_status, note in moves:
        await MeetingEvent.create(
            meeting=meeting,
            scope_path=meeting.scope_path,
            actor=actor,
            subject="meeting",
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )


async def _decide(topic: AgendaTopic, actor: Person, decision: str, decided: str) -> None:
    topic.status, topic.decision, topic.decided_at = TopicStatus.DECIDED, decision, _at(decided)
    await topic.save(update_fields=["status", "decision", "decided_at"])
    steps = [
        ("accept", "proposed", "accepted"),
        ("discuss", "accepted", "discussed"),
        ("decide", "discussed", "decided"),
    ]
    for action, from_status, to_status in steps:
        await MeetingEvent.create(
            meeting_id=topic.meeting_id,
            topic=topic,
            scope_path=topic.scope_path,
            actor=actor,
            subject="topic",
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=decision if action == "decide" else "",
        )


async def _task(
    world: DemoWorld, key: str, actor: Person, done: str | None = None, result: str = "", **values
):
    task = await Task.create(assigned_by=actor, **values)
    world.tasks[key] = task
    common = {"task": task, "scope_path": task.scope_path, "alliance_unit_id": task.alliance_unit_id}
    common["owner_person_id"] = task.owner_person_id
    await TaskEvent.create(**common, actor=actor, action="assign", to_status=TaskStatus.OPEN)
    if done:
        task.status, task.result, task.done_at = TaskStatus.DONE, result, _at(done)
        await task.save(update_fields=["status", "result", "done_at"])
        await TaskEvent.create(
            **common, actor=actor, action="complete", from_status="open", to_status="done", note=result
        )
    return task


async def _seed_loop(world: DemoWorld) -> None:
    """The closed loop of the domain brief, end to end."""
    p, a, m = world.people, world.alliance_units, world.meetings
    zhang, yang = p["secretary_zhang"], p["secretary_yang"]

    # The leaning wall (April 2024): raised, decided, given to the geological survey
    # institute, repaired by July, rated by residents, reviewed.
    wall = m["wall"]
    wall.status, wall.attendance_count = MeetingStatus.CLOSED, 23
    wall.minutes = "居民反映小学对面围墙倾斜。议定: 请党建联盟单位地质调查院检测并维修, 6 月底前完成。"
    await wall.save(update_fields=["status", "minutes", "attendance_count"])
    await MeetingUnit.create(meeting=wall, alliance_unit=a["dizhi"])
    await _meeting_events(
        wall,
        zhang,
        [
            ("hold", "scheduled", "held", ""),
            ("close", "held", "closed", "纪要已记录, 事后评事进行中"),
        ],
    )
    wall_topic = await AgendaTopic.get(meeting=wall, title="小学对面围墙倾斜")
    world.topics["wall"] = wall_topic
    await _decide(wall_topic, zhang, "请地质调查院检测围墙并加固维修, 网格员跟进。", "2024-04-16T11:00:00")
    await _task(
        world,
        "wall_repair",
        zhang,
        done="2024-07-05T16:00:00",
        result="围墙已检测并加固, 居民向网格员致谢。",
        title="检测并加固小学对面围墙",
        topic=wall_topic,
        concern_id=world.concerns["wall"].id,
        scope_path=wall_topic.scope_path,
        owner_kind=TaskOwnerKind.ALLIANCE_UNIT,
        alliance_unit=a["dizhi"],
        due_on=_at("2024-06-30T00:00:00").date(),
    )
    await _task(
        world,
        "wall_follow_up",
        zhang,
        done="2024-07-06T10:00:00",
        result="已回访居民。",
        title="网格员跟进并回访居民",
        topic=wall_topic,
        scope_path=wall_topic.scope_path,
        owner_kind=TaskOwnerKind.PERSON,
        owner_person=p["grid_worker_chen"],
        due_on=_at("2024-07-10T00:00:00").date(),
    )
    await _task(
        world,
        "wall_recheck",
        zhang,
        title="围墙季度复查",
        topic=wall_topic,
        scope_path=wall_topic.scope_path,
        owner_kind=TaskOwnerKind.ALLIANCE_UNIT,
        alliance_unit=a["dizhi"],
        due_on=_at("2027-01-31T00:00:00").date(),
    )
    ebikes = world.concerns["ebikes"]
    await _task(
        world,
        "ebikes_sweep",
        zhang,
        title="清理楼道电动车并宣传安全充电",
        concern_id=ebikes.id,
        scope_path=ebikes.scope_path,
        owner_kind=TaskOwnerKind.PERSON,
        owner_person=p["grid_worker_chen"],
        due_on=_at("2027-03-31T00:00:00").date(),
    )
    for key, person_key, score, comment in [
        ("wall_li", "resident_li", 5, "围墙修好了, 孩子上学安心。"),
        ("wall_zhao", "resident_zhao", 4, ""),
    ]:
        world.ratings[key] = await Rating.create(
            meeting=wall, scope_path=wall.scope_path, owner_id=p[person_key].id, score=score, comment=comment
        )

    # The flooded road (June 2024): drainage plan settled with engineers present; the
    # work is still open and past due (督办).
    drainage = m["drainage"]
    drainage.status, drainage.attendance_count = MeetingStatus.CLOSED, 31
    drainage.minutes = "市政工程设计院工程师到场, 议定排水改造方案: 加设雨水篦子并疏通管网。"
    await drainage.save(update_fields=["status", "minutes", "attendance_count"])
    await MeetingUnit.create(meeting=drainage, alliance_unit=a["design"])
    await _meeting_events(
        drainage, yang, [("hold", "scheduled", "held", ""), ("close", "held", "closed", "")]
    )
    road_topic = await AgendaTopic.get(meeting=drainage, title="道路积水")
    world.topics["road"] = road_topic
    await _decide(road_topic, yang, "按设计院方案加设雨水篦子并疏通管网。", "2024-06-20T17:00:00")
    await _task(
        world,
        "drainage_works",
        yang,
        title="加设雨水篦子并疏通管网",
        topic=road_topic,
        concern_id=world.concerns["road"].id,
        scope_path=road_topic.scope_path,
        owner_kind=TaskOwnerKind.ALLIANCE_UNIT,
        alliance_unit=a["design"],
        due_on=_at("2024-09-30T00:00:00").date(),
    )
    await _task(
        world,
        "drainage_volunteers",
        yang,
        title="雨后巡查积水点",
        topic=road_topic,
        scope_path=road_topic.scope_path,
        owner_kind=TaskOwnerKind.VOLUNTEER,
        volunteer_name="杜集志愿服务队",
        due_on=_at("2027-06-30T00:00:00").date(),
    )

    plan_vote = await Vote.create(
        topic=road_topic,
        scope_path=road_topic.scope_path,
        question="是否同意设计院的排水改造方案?",
        threshold_choice=VoteChoice.FOR,
        threshold_percent=50,
        consequence="超过半数同意则按方案实施",
        status=VoteStatus.CLOSED,
        for_count=24,
        against_count=3,
        abstain_count=2,
        threshold_met=True,
        closed_at=_at("2024-06-20T16:30:00"),
    )
    world.votes["drainage"] = plan_vote
    for action, from_status, to_status in [("open", None, "open"), ("close", "open", "closed")]:
        await MeetingEvent.create(
            meeting=drainage,
            topic=road_topic,
            vote=plan_vote,
            scope_path=plan_vote.scope_path,
            actor=yang,
            subject="vote",
            action=action,
            from_status=from_status,
            to_status=to_status,
        )

    # The pocket park: ideas gathered as topics (one raised at the meeting), and the
    # half-yearly anonymous review of the topic committee with the 60% rule.
    park = m["park"]
    world.topics["park_site"] = await AgendaTopic.get(meeting=park, title="口袋公园选址")
    for key, title, description, raised_by in [
        ("park_benches", "口袋公园增设座椅和健身器材", "An idea raised at the meeting.", "resident_wang"),
        (
            "committee",
            "议题委员会半年度测评",
            "Anonymous half-yearly review of the topic committee.",
            "secretary_zhang",
        ),
    ]:
        world.topics[key] = await AgendaTopic.create(
            meeting=park,
            scope_path=park.scope_path,
            owner_id=p[raised_by].id,
            title=title,
            description=description,
            raised_by=p[raised_by],
        )
    vote = await Vote.create(
        topic=world.topics["committee"],
        scope_path=park.scope_path,
        question="是否对议题委员会的工作不满意?",
        threshold_choice=VoteChoice.AGAINST,
        threshold_percent=60,
        consequence="超过 60% 反对则改选议题委员会",
    )
    world.votes["committee"] = vote
    await MeetingEvent.create(
        meeting=park,
        topic=world.topics["committee"],
        vote=vote,
        scope_path=vote.scope_path,
        actor=zhang,
        subject="vote",
        action="open",
        to_status="open",
    )

    # A concern given straight to an alliance unit: the power company fixes the lamp.
    lamp = world.concerns["lamp"]
    await _task(
        world,
        "lamp_repair",
        p["secretary_huang"],
        done="2026-11-02T15:00:00",
        result="路灯已更换。",
        title="修复村口路灯",
        concern_id=lamp.id,
        scope_path=lamp.scope_path,
        owner_kind=TaskOwnerKind.ALLIANCE_UNIT,
        alliance_unit=a["power"],
        due_on=_at("2026-11-05T00:00:00").date(),
    )
