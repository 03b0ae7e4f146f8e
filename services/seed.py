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
from models.mediation import (
    CaseCategory,
    CaseStatus,
    Certification,
    Court,
    LegalConsultation,
    MediationCase,
    MediationLevel,
    MediationSession,
    Mediator,
    OutreachEvent,
    Referral,
    ReferralOutcome,
    ReferralStatus,
    Workstation,
    WorkstationUnit,
)
from models.org import OrgUnit, UnitKind
from models.people import Person, RoleAssignment
from services import mediation
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
    ("volunteer_zhao", "赵大勇", "13100000001", "fulu", [("volunteer", "fulu")]),
    # --- councils loop / alliance: staff act for their unit (see ALLIANCE_STAFF)
    ("alliance_staff_dizhi", "地调院李工", "13110000001", None, [("alliance_staff", "nanchuan")]),
    ("alliance_staff_power", "供电公司王工", "13110000002", None, [("alliance_staff", "nanchuan")]),
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

# --- mediation: mediators (调解员), a second workstation's judge, courts' partner accounts.
# Their person records have no home unit (like the admin's): where they work is in their
# role assignments and Mediator records, and the grids' people lists stay as they were.
PEOPLE += [
    ("mediator_lu", "陆金牌", "13300000001", None, [("mediator", "fulu")]),
    ("mediator_qin", "秦调解", "13300000002", None, [("mediator", "fulu_g1")]),
    ("mediator_fang", "方金牌", "13300000003", None, [("mediator", "nanchuan")]),
    ("mediator_tang", "唐调解", "13300000004", None, [("mediator", "xinqing")]),
    ("mediator_shi", "石金牌", "13300000005", None, [("mediator", "duji")]),
    ("mediator_kong", "孔调解", "13300000006", None, [("mediator", "kuangshan")]),
    ("judge_qian", "钱法官", "13600000002", None, [("judge", "duji")]),
    ("court_district", "某区人民法院对接账号", "13200000001", None, [("court", None)]),
    ("court_kuangshan", "矿山区人民法院对接账号", "13200000002", None, [("court", None)]),
]
DEMO_LOGINS += ["mediator_lu", "court_district"]


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
    # --- mediation
    courts: dict[str, Court] = field(default_factory=dict)
    workstations: dict[str, Workstation] = field(default_factory=dict)
    mediators: dict[str, Mediator] = field(default_factory=dict)
    cases: dict[str, MediationCase] = field(default_factory=dict)
    referrals: dict[str, Referral] = field(default_factory=dict)
    outreach: dict[str, OutreachEvent] = field(default_factory=dict)
    consultations: dict[str, LegalConsultation] = field(default_factory=dict)


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
    await _seed_mediation(world)  # --- mediation
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
    # --- mediation
    courts = {c.name: c for c in await Court.all()}
    world.courts = {key: courts[name] for key, (name, _) in COURTS.items() if name in courts}
    stations = {w.name: w for w in await Workstation.all()}
    world.workstations = {key: stations[w[0]] for key, w in WORKSTATIONS.items() if w[0] in stations}
    cases = {c.title: c for c in await MediationCase.all()}
    world.cases = {c[0]: cases[c[5]] for c in CASES if c[5] in cases}
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


# --- mediation ---------------------------------------------------------------------

COURTS = {"district": ("某区人民法院", "行政审判庭"), "kuangshan": ("矿山区人民法院", "民事审判庭")}
# key: (name, court, street it is stationed in, officers, served communities, judges, court account)
WORKSTATIONS = {
    "fulu": (
        "福禄巷北法官工作站",
        "district",
        "nanchuan",
        15,
        ["fulu", "xinqing"],
        ["judge_he"],
        "court_district",
    ),
    "duji": ("杜集法官工作站", "kuangshan", "kuangshan", 6, ["duji"], ["judge_qian"], "court_kuangshan"),
}
# key: (person, unit, level, certification, room)
MEDIATORS = {
    "mediator_lu": ("fulu", MediationLevel.COMMUNITY, Certification.GOLD, "福禄巷北社区老陆调解室"),
    "mediator_qin": ("fulu_g1", MediationLevel.GROUP, Certification.STANDARD, "第一网格议事角"),
    "mediator_fang": ("nanchuan", MediationLevel.STREET, Certification.GOLD, "南川西路街道人民调解中心"),
    "mediator_tang": ("xinqing", MediationLevel.COMMUNITY, Certification.STANDARD, "新青村调解室"),
    "mediator_shi": ("duji", MediationLevel.COMMUNITY, Certification.GOLD, "杜集社区石金牌调解室"),
    "mediator_kong": ("kuangshan", MediationLevel.STREET, Certification.STANDARD, "矿山集街道调解中心"),
}
# key: (unit, applicant, mediator, category, title, steps). A step is (action, actor, note,
# extra): start/settle/fail/session by the mediator, escalate (extra: new mediator) and
# refer (extra: workstation) by the secretary, accept/return/outcome by a judge.
CASES = [
    (
        "noise",
        "fulu_g1",
        "resident_wang",
        "mediator_qin",
        CaseCategory.RENOVATION,
        "楼上装修噪音",
        [
            ("start", "mediator_qin", "", None),
            ("session", "mediator_qin", "双方约定施工时段 8:00-18:00", None),
        ],
    ),
    (
        "fee",
        "fulu_g2",
        "resident_zhao",
        "mediator_lu",
        CaseCategory.PROPERTY,
        "物业费与服务质量争议",
        [
            ("start", "mediator_lu", "", None),
            ("session", "mediator_lu", "物业公司承诺整改电梯维保", None),
            ("settle", "mediator_lu", "物业整改, 业主补缴半年物业费", None),
        ],
    ),
    (
        "leak",
        "fulu_g1",
        "resident_li",
        "mediator_qin",
        CaseCategory.DAILY_LIFE,
        "楼上漏水殃及楼下",
        [
            ("start", "mediator_qin", "", None),
            ("fail", "mediator_qin", "赔偿金额分歧大", None),
            ("escalate", "secretary_zhang", "升级至社区金牌调解员", "mediator_lu"),
            ("start", "mediator_lu", "", None),
            ("session", "mediator_lu", "查阅维修记录, 约定鉴定", None),
        ],
    ),
    (
        "crack",
        "fulu_g2",
        "resident_zhao",
        "mediator_lu",
        CaseCategory.RENOVATION,
        "装修致墙体开裂",
        [
            ("start", "mediator_lu", "", None),
            ("fail", "mediator_lu", "需司法鉴定", None),
            ("refer", "secretary_zhang", "转法官工作站", "fulu"),
        ],
    ),
    (
        "land",
        "xinqing_g1",
        "resident_sun",
        "mediator_tang",
        CaseCategory.LAND_FOREST,
        "宅基地边界争议",
        [
            ("start", "mediator_tang", "", None),
            ("fail", "mediator_tang", "双方均持不同年代的证明", None),
            ("refer", "secretary_huang", "诉调对接", "fulu"),
            ("accept", "judge_he", "受理", None),
            ("outcome", "judge_he", "调解协议经司法确认", ReferralOutcome.JUDICIAL_CONFIRMATION),
        ],
    ),
    (
        "site",
        "duji_g1",
        "resident_zhou",
        "mediator_shi",
        CaseCategory.CONSTRUCTION,
        "工地夜间施工扰民",
        [
            ("start", "mediator_shi", "", None),
            ("fail", "mediator_shi", "施工方拒绝调整工期", None),
            ("refer", "secretary_yang", "诉调对接", "duji"),
        ],
    ),
    ("parking", "duji_g2", "resident_wu", "mediator_shi", CaseCategory.PROPERTY, "小区车位被占", []),
    (
        "dog",
        "fulu_g1",
        "resident_wang",
        "mediator_qin",
        CaseCategory.DAILY_LIFE,
        "邻居犬只夜间吠叫",
        [("start", "mediator_qin", "", None), ("fail", "mediator_qin", "对方拒不到场", None)],
    ),
]


async def _seed_mediation(world: DemoWorld) -> None:
    u, p = world.units, world.people
    for key, (name, tribunal) in COURTS.items():
        world.courts[key] = await Court.create(name=name, tribunal=tribunal)
    for key, (name, court, street, officers, served, judges, account) in WORKSTATIONS.items():
        station = await Workstation.create(
            name=name,
            court=world.courts[court],
            scope_path=u[street].path,
            officers=officers,
            founded_on=datetime(2023, 3, 15).date(),
        )
        world.workstations[key] = station
        for unit_key in served:
            await WorkstationUnit.create(workstation=station, unit=u[unit_key])
        # Judges keep their community scopes (councils) and act for the workstation.
        for judge in judges:
            await RoleAssignment.filter(person_id=p[judge].id, role="judge").update(
                affiliation_kind="workstation", affiliation_id=station.id
            )
        await RoleAssignment.filter(person_id=p[account].id, role="court").update(
            affiliation_kind="court", affiliation_id=world.courts[court].id
        )
    for key, (unit_key, level, certification, room) in MEDIATORS.items():
        world.mediators[key] = await Mediator.create(
            person=p[key],
            unit=u[unit_key],
            scope_path=u[unit_key].path,
            owner_id=p[key].id,
            level=level,
            certification=certification,
            room=room,
        )
    for key, unit_key, applicant, mediator_key, category, title, steps in CASES:
        mediator = world.mediators[mediator_key]
        case = await MediationCase.create(
            unit=u[unit_key],
            scope_path=u[unit_key].path,
            owner_id=p[applicant].id,
            assignee_id=mediator.owner_id,
            mediator=mediator,
            title=title,
            description=f"{title} (demo)",
            category=category,
            level=mediator.level,
            parties=[
                {
                    "name": p[applicant].name,
                    "role": "申请人",
                    "phone": p[applicant].phone,
                    "id_number": "3406**********0011",
                },
                {
                    "name": "对方当事人",
                    "role": "被申请人",
                    "phone": "13100000000",
                    "id_number": "3406**********0022",
                },
            ],
        )
        world.cases[key] = case
        await mediation.record_event(case, p[applicant].id, "opened", None, CaseStatus.OPEN)
        for action, actor_key, note, extra in steps:
            await _demo_step(world, key, case, action, p[actor_key], note, extra)
    await _seed_legal_work(world)


# key: (workstation, unit, title, topic, held at, place, residents reached, judge)
OUTREACH = [
    (
        "civil_code_xinqing",
        "fulu",
        "xinqing",
        "民法典进院落",
        "民法典",
        "2026-10-12T09:30:00",
        "新青村文化广场",
        86,
        "judge_he",
    ),
    (
        "family_fulu",
        "fulu",
        "fulu",
        "民法典婚姻家庭编宣讲",
        "民法典",
        "2026-09-20T14:00:00",
        "福禄巷北社区活动室",
        120,
        "judge_he",
    ),
    (
        "neighbours_duji",
        "duji",
        "duji",
        "相邻关系与噪音纠纷讲座",
        "民法典",
        "2026-10-28T15:00:00",
        "杜集社区议事厅",
        64,
        "judge_qian",
    ),
]
# key: (workstation, unit, question, answer, judge)
CONSULTATIONS = [
    (
        "inheritance",
        "fulu",
        "fulu",
        "老人去世未留遗嘱, 房产如何继承?",
        "按法定继承顺序, 配偶、子女、父母为第一顺序继承人。",
        "judge_he",
    ),
    (
        "wage",
        "fulu",
        "xinqing",
        "务工工资被拖欠怎么办?",
        "可先向劳动监察部门投诉, 或申请劳动仲裁。",
        "judge_he",
    ),
    (
        "lease",
        "duji",
        "duji",
        "租户不交房租也不搬走怎么办?",
        "可协商解除合同, 协商不成可起诉。",
        "judge_qian",
    ),
]


async def _seed_legal_work(world: DemoWorld) -> None:
    u, p = world.units, world.people
    for key, station_key, unit_key, title, topic, held_at, place, reached, judge in OUTREACH:
        station = world.workstations[station_key]
        world.outreach[key] = await OutreachEvent.create(
            workstation_id=station.id,
            court_id=station.court_id,
            unit=u[unit_key],
            scope_path=u[unit_key].path,
            title=title,
            topic=topic,
            held_at=_at(held_at),
            place=place,
            attendance=reached,
            recorded_by=p[judge],
        )
    for key, station_key, unit_key, question, answer, judge in CONSULTATIONS:
        station = world.workstations[station_key]
        world.consultations[key] = await LegalConsultation.create(
            workstation_id=station.id,
            court_id=station.court_id,
            scope_path=u[unit_key].path,
            question=question,
            answer=answer,
            asked_on=datetime(2026, 11, 2).date(),
            answered_by=p[judge],
        )


CASE_STEP = {
    "start": CaseStatus.IN_MEDIATION,
    "settle": CaseStatus.SETTLED,
    "fail": CaseStatus.FAILED,
    "escalate": CaseStatus.ESCALATED,
    "refer": CaseStatus.REFERRED,
}
REFERRAL_STEP = {
    "accept": ("referral_accept", ReferralStatus.ACCEPTED),
    "outcome": ("referral_record_outcome", ReferralStatus.CLOSED),
}


async def _demo_step(world: DemoWorld, key: str, case, action: str, actor, note: str, extra) -> None:
    """One step of a demo case, written like the service writes it (links, events)."""
    if action == "session":
        await MediationSession.create(
            case=case,
            scope_path=case.scope_path,
            owner_id=case.owner_id,
            **mediation.case_links(case),
            held_on=datetime(2026, 11, 3).date(),
            notes=note,
            recorded_by=actor,
        )
        return
    if action in REFERRAL_STEP:
        referral = world.referrals[key]
        kind, status = REFERRAL_STEP[action]
        before = referral.status
        referral.status = status
        if action == "outcome":
            referral.outcome, referral.outcome_note = extra, note
        await referral.save()
        await mediation.record_event(case, actor.id, kind, before, status, note, referral)
        return
    before = case.status
    case.status = CASE_STEP[action]
    if action in ("settle", "fail"):
        case.outcome = note
    if action == "escalate":
        mediator = world.mediators[extra]
        case.mediator, case.assignee_id, case.level = mediator, mediator.owner_id, mediator.level
    referral = None
    if action == "refer":
        station = world.workstations[extra]
        case.workstation_id, case.court_id = station.id, station.court_id
        referral = world.referrals[key] = await Referral.create(
            case=case, scope_path=case.scope_path, owner_id=case.owner_id, **mediation.case_links(case)
        )
    await case.save()
    if action in ("escalate", "refer"):
        await mediation.sync_case_links(case)
    await mediation.record_event(case, actor.id, action, before, case.status, note, referral)
