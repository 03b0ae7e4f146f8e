"""Demo data from the places in the domain brief, for GraphiQL and for the tests.

Two streets: 南川西路街道 with 福禄巷北社区 and 新青村 (where a district court's
judges keep a workstation), and 矿山集街道 with 杜集社区. Each has grids, people in
every role, councils with meetings, topics and attendance, residents' concerns, tasks,
votes, disputes and their referrals.

Everything after the set-up of places, people, councils, courts and mediators is done
*as the people of the demo would do it*: through the services' commands and the
declared steps (``services.workflow``), each decided by the policy in ``policies/``. A
seeded state is one the real rules can reach; a step the rules refuse stops the seed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from models.alliance import AllianceUnit
from models.concerns import Concern
from models.councils import AgendaTopic, Council, Meeting, Rating, Task, Vote
from models.mediation import (
    CaseCategory,
    Certification,
    Court,
    LegalConsultation,
    MediationCase,
    MediationLevel,
    Mediator,
    OutreachEvent,
    Referral,
    ReferralOutcome,
    Workstation,
)
from models.org import OrgUnit, UnitKind
from models.people import ApiToken, Person
from models.rounds import GridRound
from models.webhooks import WebhookEndpoint
from policies.authorizer import Authorizer
from policies.loader import load_policy
from policies.relations import relation_matcher
from services import (
    alliance,
    concerns,
    councils,
    identity,
    mediation,
    org,
    people,
    rounds,
    webhooks,
    workflow,
)
from services.authz import RequestAuth
from services.config import POLICY_DIR_DEFAULT

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
    # staff act for their alliance unit (see ALLIANCE_STAFF)
    ("alliance_staff_dizhi", "地调院李工", "13110000001", None, [("alliance_staff", "nanchuan")]),
    ("alliance_staff_power", "供电公司王工", "13110000002", None, [("alliance_staff", "nanchuan")]),
    # Mediators (调解员), a second workstation's judge, courts' partner accounts. Their
    # person records have no home unit (like the admin's): where they work is in their
    # role assignments and Mediator records, and the grids' people lists stay as they were.
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

# The people whose tokens `serve --demo` prints: one per role.
DEMO_LOGINS = [
    "resident_wang",
    "grid_worker_chen",
    "secretary_zhang",
    "judge_he",
    "street_official_xu",
    "admin",
    "volunteer_zhao",
    "alliance_staff_dizhi",
    "mediator_lu",
    "court_district",
]


@dataclass
class DemoWorld:
    units: dict[str, OrgUnit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    councils: dict[str, Council] = field(default_factory=dict)
    meetings: dict[str, Meeting] = field(default_factory=dict)
    concerns: dict[str, Concern] = field(default_factory=dict)
    alliance_units: dict[str, AllianceUnit] = field(default_factory=dict)
    topics: dict[str, AgendaTopic] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    votes: dict[str, Vote] = field(default_factory=dict)
    ratings: dict[str, Rating] = field(default_factory=dict)
    courts: dict[str, Court] = field(default_factory=dict)
    workstations: dict[str, Workstation] = field(default_factory=dict)
    mediators: dict[str, Mediator] = field(default_factory=dict)
    cases: dict[str, MediationCase] = field(default_factory=dict)
    referrals: dict[str, Referral] = field(default_factory=dict)
    outreach: dict[str, OutreachEvent] = field(default_factory=dict)
    consultations: dict[str, LegalConsultation] = field(default_factory=dict)
    rounds: dict[str, GridRound] = field(default_factory=dict)
    webhooks: dict[str, WebhookEndpoint] = field(default_factory=dict)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Demo:
    """Acts as the demo's people: each call runs a real command or step as one of them,
    at a given time (the seed's history lies in the past)."""

    def __init__(self, world: DemoWorld, authorizer: Authorizer):
        self.world = world
        self.authorizer = authorizer

    async def auth(self, who: str, at: datetime | None = None) -> RequestAuth:
        actor = await identity.actor_for_person(self.world.people[who])
        clock = {"now": lambda: at} if at else {}
        return RequestAuth(actor, self.authorizer, **clock)

    async def run(
        self, who: str, command: Callable[..., Awaitable[Any]], at: str | None = None, **input: Any
    ) -> Any:
        result = await command(await self.auth(who, _at(at) if at else None), **input)
        if isinstance(result, workflow.InvalidTransition):
            raise RuntimeError(f"demo seed: {who} could not {command.__name__}: {result.message}")
        return result

    async def step(
        self, who: str, machine: workflow.Machine, action: str, row: Any, at: str | None = None, **input: Any
    ) -> Any:
        input[machine.id_input] = str(row.id)
        result = await workflow.perform(await self.auth(who, _at(at) if at else None), machine, action, input)
        if isinstance(result, workflow.InvalidTransition):
            raise RuntimeError(
                f"demo seed: {who} could not {action} {machine.noun} {row.id}: {result.message}"
            )
        return result


async def seed_demo(policy_dir: Path = POLICY_DIR_DEFAULT) -> DemoWorld:
    """Create the demo world; if it is already there, load it instead (idempotent)."""
    if await OrgUnit.exists():
        return await load_demo()
    world = DemoWorld()
    for key, kind, name, parent in UNITS:
        world.units[key] = await org.create_unit(kind, name, world.units[parent] if parent else None)
    for key, name, phone, home, roles in PEOPLE:
        unit = world.units[home] if home else None
        address = f"{unit.name if unit else '街道办'} {len(world.people) + 1}号"
        person = world.people[key] = await people.create_person(name, phone, address, unit)
        for role, scope in roles:
            if role not in ("alliance_staff", "judge", "court"):  # these act for an organisation
                await people.assign_role(person, role, world.units[scope] if scope else None)
    for key, name, description, unit_key in COUNCILS:
        world.councils[key] = await councils.found_council(world.units[unit_key], name, description)
    demo = Demo(world, Authorizer(load_policy(policy_dir, relation_matcher)))
    await _seed_alliance(demo)
    await _seed_concerns(demo)
    await _seed_councils(demo)
    await _seed_mediation(demo)
    await _seed_rounds(demo)
    await _seed_webhooks(demo)
    return world


# A court's case system registered for signed webhooks, paused until its receiver is live
# (so the demo sends nothing anywhere; `setWebhookActive` resumes it), with the court's
# events so far queued for it.
DEMO_WEBHOOK = ("https://court.example.invalid/bandeng/webhooks", "某区人民法院 案件系统 (待接收端上线)")


async def _seed_webhooks(demo: Demo) -> None:
    token = await identity.issue_token(demo.world.people["court_district"].id, "webhook-demo")
    url, description = DEMO_WEBHOOK
    endpoint = demo.world.webhooks["court"] = await webhooks.register_endpoint_for_token(
        token, url, description=description, active=False
    )
    # its log: the court's events so far, queued by the admin's replay, waiting for the resume
    await demo.run("admin", webhooks.replay, endpoint_id=str(endpoint.id), since_event_id="1")


async def demo_traces() -> list[str]:
    """What of the demo a database holds, for production's refusal: all of the demo's
    people (by name and phone: invented numbers), and tokens that ``serve --demo`` issued
    (label ``demo``; their values were printed to a terminal)."""
    traces = []
    wanted = {(name, phone) for _, name, phone, _, _ in PEOPLE}
    stored = set(await Person.filter(name__in=[name for name, _ in wanted]).values_list("name", "phone"))
    if wanted <= stored:
        traces.append(f"the demo's {len(wanted)} people")
    if tokens := await ApiToken.filter(label="demo").count():
        traces.append(f"{tokens} token(s) that `serve --demo` issued and printed")
    return traces


async def load_demo() -> DemoWorld:
    """The demo world as already stored (looked up by the seeded names)."""
    world = DemoWorld()
    units = {u.name: u for u in await OrgUnit.all()}
    world.units = {key: units[name] for key, _, name, _ in UNITS if name in units}
    found = {x.name: x for x in await Person.all()}
    world.people = {key: found[name] for key, name, *_ in PEOPLE if name in found}
    alliance_units = {x.name: x for x in await AllianceUnit.all()}
    world.alliance_units = {
        key: alliance_units[name] for key, name, *_ in ALLIANCE_UNITS if name in alliance_units
    }
    courts = {c.name: c for c in await Court.all()}
    world.courts = {key: courts[name] for key, (name, _) in COURTS.items() if name in courts}
    stations = {w.name: w for w in await Workstation.all()}
    world.workstations = {key: stations[w[0]] for key, w in WORKSTATIONS.items() if w[0] in stations}
    cases = {c.title: c for c in await MediationCase.all()}
    world.cases = {c[0]: cases[c[5]] for c in CASES if c[5] in cases}
    endpoint = await WebhookEndpoint.filter(url=DEMO_WEBHOOK[0]).order_by("id").first()
    world.webhooks = {"court": endpoint} if endpoint else {}
    return world


# --------------------------------------------------------------------- alliance units

# key: (name, kind, allied with (unit key), contact, the street official who signs it)
ALLIANCE_UNITS: list[tuple[str, str, str, str, str, str]] = [
    ("dizhi", "地质调查院", "institute", "nanchuan", "地质调查院党委办公室", "street_official_xu"),
    ("power", "供电公司", "power_company", "nanchuan", "供电公司南川供电所", "street_official_xu"),
    ("school", "福禄巷小学", "school", "fulu", "福禄巷小学德育处", "street_official_xu"),
    ("hospital", "杜集社区医院", "hospital", "duji", "杜集社区医院党支部", "street_official_gao"),
    ("design", "市政工程设计院", "institute", "kuangshan", "市政工程设计院排水所", "street_official_gao"),
]
# staff person key -> the alliance unit they act for
ALLIANCE_STAFF = {"alliance_staff_dizhi": "dizhi", "alliance_staff_power": "power"}


async def _seed_alliance(demo: Demo) -> None:
    world = demo.world
    for key, name, kind, unit_key, contact, official in ALLIANCE_UNITS:
        world.alliance_units[key] = await demo.run(
            official,
            alliance.create_alliance_unit,
            unit_id=str(world.units[unit_key].id),
            name=name,
            kind=kind,
            contact=contact,
        )
    for person_key, unit_key in ALLIANCE_STAFF.items():
        await people.assign_role(
            world.people[person_key],
            "alliance_staff",
            world.units["nanchuan"],
            ("alliance_unit", world.alliance_units[unit_key].id),
        )


# ---------------------------------------------------------------------------- concerns

# (key, grid, resident, recorded by, title, category, description, location)
CONCERNS: list[tuple[str, str, str, str, str, str, str, str]] = [
    ("wall", "fulu_g1", "resident_wang", "grid_worker_chen", "小学对面围墙倾斜", "infrastructure",
     "The wall opposite the primary school leans towards the pavement.", "福禄巷北 12 号对面"),
    ("ebikes", "fulu_g1", "resident_li", "resident_li", "楼道电动车堵塞", "safety",
     "E-bikes block the stairwell of building 3.", "3 号楼 2 单元"),
    ("pipe", "fulu_g2", "resident_zhao", "grid_worker_liu", "水管漏水", "property",
     "Leaking pipe in the basement, photos sent through the mini-program.", "7 号楼地下室"),
    ("lamp", "xinqing_g1", "resident_sun", "resident_sun", "路灯不亮", "infrastructure",
     "The street lamp at the village entrance has been out for a week.", "村口"),
    ("elevator", "duji_g1", "resident_zhou", "grid_worker_ma", "老楼加装电梯", "elderly",
     "Residents of an old building ask for an elevator.", "杜集 5 号楼"),
    ("road", "duji_g2", "resident_wu", "resident_wu", "道路积水", "infrastructure",
     "The road floods after every rain.", "杜集路口"),
    ("drain", "fulu_g1", "resident_wang", "grid_worker_chen", "井盖缺失", "safety",
     "A drain cover is missing on the lane behind building 2.", "2 号楼后巷"),
    ("order", "fulu_g2", "resident_zhao", "resident_zhao", "助老上门：更换厨房灯泡", "elderly_visit",
     "Service order: an elderly resident needs the kitchen bulb changed.", "7 号楼 301"),
]  # fmt: skip
# Raised long enough ago to be past their due time: the street sees them to supervise.
RAISED_EARLIER = {"ebikes": timedelta(days=2), "elevator": timedelta(days=11)}
SERVICE_CATEGORIES = ("elderly_visit", "home_repair", "errand")


async def _seed_concerns(demo: Demo) -> None:
    world = demo.world
    now = datetime.now(UTC)
    for key, grid, resident, recorder, title, category, description, location in CONCERNS:
        input: dict[str, Any] = {
            "unit_id": str(world.units[grid].id),
            "title": title,
            "category": category,
            "description": description,
            "location": location,
            "kind": "service_order" if category in SERVICE_CATEGORIES else "concern",
        }
        if recorder != resident:
            input["resident_id"] = str(world.people[resident].id)
        auth = await demo.auth(recorder, now - RAISED_EARLIER[key] if key in RAISED_EARLIER else None)
        world.concerns[key] = await concerns.raise_concern(auth, **input)
    c, step, CONCERN = world.concerns, demo.step, concerns.CONCERN
    await step("grid_worker_chen", CONCERN, "accept", c["wall"], note="网格员已受理")
    await step("secretary_huang", CONCERN, "accept", c["lamp"], note="村委已受理")
    await step("secretary_yang", CONCERN, "accept", c["road"], note="社区已受理")
    await step("grid_worker_chen", CONCERN, "accept", c["drain"], note="网格员已受理")
    await step("grid_worker_chen", CONCERN, "assign", c["drain"], assignee_name="社区维修队")
    await step(
        "grid_worker_chen",
        CONCERN,
        "resolve",
        c["drain"],
        resolution="已修复，待居民评价",
        proof=["photo:drain-after.jpg"],
    )
    await step("grid_worker_liu", CONCERN, "accept", c["order"], note="社区派单")
    world.concerns["order"] = await step(
        "secretary_zhang", CONCERN, "assign", c["order"], assignee_id=str(world.people["volunteer_zhao"].id)
    )
    for key in c:
        world.concerns[key] = await Concern.get(id=c[key].id)


# ---------------------------------------------------------------------------- councils

COUNCILS = [
    (
        "fulu",
        "福禄巷北社区小板凳议事会",
        "Staff carry little stools into courtyards and sit with residents.",
        "fulu",
    ),
    ("xinqing", "新青村院落议事会", "Courtyard council of 新青村.", "xinqing"),
    ("duji", "杜集社区红板凳议事会", "Red-stool council of 杜集社区.", "duji"),
]
SECRETARY_OF = {"fulu": "secretary_zhang", "xinqing": "secretary_huang", "duji": "secretary_yang"}
# key: (council, title, starts at, place, topics: (key, title, description, concern, raised by))
MEETINGS = [
    ("wall", "fulu", "围墙倾斜隐患议事", "2024-04-16T09:30:00", "福禄巷北社区 3 号院",
     [("wall", "小学对面围墙倾斜", "Ask the geological survey institute (alliance unit) to inspect and repair.",
       "wall", "resident_wang")]),
    ("park", "fulu", "口袋公园金点子", "2026-12-05T14:00:00", "福禄巷北社区活动室",
     [("park_site", "口袋公园选址", "Gather ideas for a pocket park.", None, "resident_li"),
      ("park_benches", "口袋公园增设座椅和健身器材", "An idea raised at the meeting.", None, "resident_wang"),
      ("committee", "议题委员会半年度测评", "Anonymous half-yearly review of the topic committee.", None,
       "secretary_zhang")]),
    ("drainage", "duji", "道路积水排水方案", "2024-06-20T15:00:00", "杜集社区议事厅",
     [("road", "道路积水", "Settle the drainage plan with engineers present.", "road", "resident_wu")]),
    ("civil_code", "xinqing", "民法典进院落", "2026-12-10T10:00:00", "新青村文化广场",
     [("civil_code", "民法典宣讲", "Legal outreach (普法) by the judges' workstation.", None, "secretary_huang")]),
    # in deliberation right now: held, one topic accepted and one discussed, no decision yet
    ("safety", "fulu", "楼道消防安全议事", "2026-11-28T14:00:00", "福禄巷北社区活动室",
     [("charging", "楼道充电桩安装", "Where e-bikes may be charged safely.", None, "resident_li"),
      ("lights", "楼道感应灯更换", "Replace the stairwell lights with motion sensors.", None, "resident_wang")]),
    # drafted, not yet on the calendar
    ("elevator_council", "fulu", "老楼加装电梯意见征集", "2026-12-18T19:00:00", "福禄巷北社区 5 号楼下", []),
]  # fmt: skip
DRAFTS = {"elevator_council"}
ATTENDEES = {
    "wall": [
        ("resident_wang", "resident"),
        ("resident_li", "resident"),
        ("grid_worker_chen", "grid_worker"),
        ("secretary_zhang", "secretary"),
        ("judge_he", "judge"),
    ],
    "drainage": [
        ("resident_wu", "resident"),
        ("grid_worker_ma", "grid_worker"),
        ("secretary_yang", "secretary"),
    ],
}


async def _seed_councils(demo: Demo) -> None:
    world, step = demo.world, demo.step
    for key, council_key, title, starts, place, topics in MEETINGS:
        secretary = SECRETARY_OF[council_key]
        council = world.councils[council_key]
        meeting = world.meetings[key] = await demo.run(
            secretary,
            councils.schedule_meeting,
            council_id=str(council.id),
            title=title,
            starts_at=_at(starts),
            place=place,
            draft=key in DRAFTS,
        )
        for topic_key, topic_title, description, concern_key, raised_by in topics:
            concern = world.concerns[concern_key] if concern_key else None
            world.topics[topic_key] = await demo.run(
                raised_by,
                councils.add_topic,
                meeting_id=str(meeting.id),
                title=topic_title,
                description=description,
                concern_id=str(concern.id) if concern else None,
            )
        for person_key, capacity in ATTENDEES.get(key, []):
            await demo.run(
                secretary,
                councils.record_attendance,
                meeting_id=str(meeting.id),
                person_id=str(world.people[person_key].id),
                capacity=capacity,
                present=True,
            )
    a, m, p, t = world.alliance_units, world.meetings, world.people, world.topics
    MEETING, TOPIC, TASK, VOTE = councils.MEETING, councils.TOPIC, councils.TASK, councils.VOTE

    async def decide(secretary: str, topic: AgendaTopic, decision: str, at: str) -> AgendaTopic:
        for action in ("accept", "discuss"):
            topic = await step(secretary, TOPIC, action, topic, at=at)
        return await step(secretary, TOPIC, "decide", topic, at=at, decision=decision, note=decision)

    async def task(who: str, key: str, at: str, **input: Any) -> Task:
        world.tasks[key] = await demo.run(who, councils.assign_task, at=at, **input)
        return world.tasks[key]

    # The leaning wall (April 2024): raised, decided, given to the geological survey
    # institute, repaired by July, rated by residents.
    wall = await step("secretary_zhang", MEETING, "hold", m["wall"], at="2024-04-16T09:30:00")
    t["wall"] = await decide(
        "secretary_zhang", t["wall"], "请地质调查院检测围墙并加固维修, 网格员跟进。", "2024-04-16T11:00:00"
    )
    repair = await task(
        "secretary_zhang", "wall_repair", "2024-04-16T11:30:00", title="检测并加固小学对面围墙",
        topic_id=str(t["wall"].id), alliance_unit_id=str(a["dizhi"].id), due_on=date(2024, 6, 30),
    )  # fmt: skip
    follow_up = await task(
        "secretary_zhang", "wall_follow_up", "2024-04-16T11:30:00", title="网格员跟进并回访居民",
        topic_id=str(t["wall"].id), owner_person_id=str(p["grid_worker_chen"].id), due_on=date(2024, 7, 10),
    )  # fmt: skip
    await task(
        "secretary_zhang", "wall_recheck", "2024-04-16T11:30:00", title="围墙季度复查",
        topic_id=str(t["wall"].id), alliance_unit_id=str(a["dizhi"].id), due_on=date(2027, 1, 31),
    )  # fmt: skip
    await step(
        "secretary_zhang", MEETING, "close", wall, at="2024-04-16T12:00:00",
        minutes="居民反映小学对面围墙倾斜。议定: 请党建联盟单位地质调查院检测并维修, 6 月底前完成。",
        attendance_count=23, alliance_unit_ids=[str(a["dizhi"].id)], note="纪要已记录, 事后评事进行中",
    )  # fmt: skip
    world.tasks["wall_repair"] = await step(
        "alliance_staff_dizhi",
        TASK,
        "complete",
        repair,
        at="2024-07-05T16:00:00",
        result="围墙已检测并加固, 居民向网格员致谢。",
    )
    world.tasks["wall_follow_up"] = await step(
        "grid_worker_chen", TASK, "complete", follow_up, at="2024-07-06T10:00:00", result="已回访居民。"
    )
    await task(
        "secretary_zhang", "ebikes_sweep", "2026-11-20T09:00:00", title="清理楼道电动车并宣传安全充电",
        concern_id=str(world.concerns["ebikes"].id), owner_person_id=str(p["grid_worker_chen"].id),
        due_on=date(2027, 3, 31),
    )  # fmt: skip
    for key, person_key, score, comment in [
        ("wall_li", "resident_li", 5, "围墙修好了, 孩子上学安心。"),
        ("wall_zhao", "resident_zhao", 4, ""),
    ]:
        world.ratings[key] = await demo.run(
            person_key, councils.rate_meeting, meeting_id=str(wall.id), score=score, comment=comment
        )

    # The flooded road (June 2024): drainage plan settled with engineers present and put
    # to a vote; the work is still open and past due (督办).
    drainage = await step("secretary_yang", MEETING, "hold", m["drainage"], at="2024-06-20T15:00:00")
    road = await step("secretary_yang", TOPIC, "accept", t["road"], at="2024-06-20T15:10:00")
    road = await step("secretary_yang", TOPIC, "discuss", road, at="2024-06-20T15:30:00")
    plan = world.votes["drainage"] = await demo.run(
        "secretary_yang", councils.open_vote, at="2024-06-20T16:00:00", topic_id=str(road.id),
        question="是否同意设计院的排水改造方案?", threshold_choice="for", threshold_percent=50,
        consequence="超过半数同意则按方案实施",
    )  # fmt: skip
    for voter, choice in [("resident_wu", "for"), ("resident_zhou", "for"), ("grid_worker_ma", "against")]:
        await step(voter, VOTE, "cast", plan, at="2024-06-20T16:10:00", choice=choice)
    world.votes["drainage"] = await step("secretary_yang", VOTE, "close", plan, at="2024-06-20T16:30:00")
    t["road"] = await step(
        "secretary_yang",
        TOPIC,
        "decide",
        road,
        at="2024-06-20T17:00:00",
        decision="按设计院方案加设雨水篦子并疏通管网。",
    )
    await task(
        "secretary_yang", "drainage_works", "2024-06-20T17:10:00", title="加设雨水篦子并疏通管网",
        topic_id=str(t["road"].id), alliance_unit_id=str(a["design"].id), due_on=date(2024, 9, 30),
    )  # fmt: skip
    await task(
        "secretary_yang", "drainage_volunteers", "2024-06-20T17:10:00", title="雨后巡查积水点",
        topic_id=str(t["road"].id), volunteer_name="杜集志愿服务队", due_on=date(2027, 6, 30),
    )  # fmt: skip
    await step(
        "secretary_yang", MEETING, "close", drainage, at="2024-06-20T17:30:00",
        minutes="市政工程设计院工程师到场, 议定排水改造方案: 加设雨水篦子并疏通管网。", attendance_count=31,
        alliance_unit_ids=[str(a["design"].id)],
    )  # fmt: skip

    # Fire safety in the stairwells: held, the chargers accepted, the lights discussed.
    safety = await step("secretary_zhang", MEETING, "hold", m["safety"], at="2026-11-28T14:00:00")
    t["charging"] = await step("secretary_zhang", TOPIC, "accept", t["charging"], at="2026-11-28T14:10:00")
    for action in ("accept", "discuss"):
        t["lights"] = await step("secretary_zhang", TOPIC, action, t["lights"], at="2026-11-28T14:20:00")
    m["safety"] = safety

    # The pocket park: the half-yearly anonymous review of the topic committee with the
    # 60% rule is open.
    world.votes["committee"] = await demo.run(
        "secretary_zhang", councils.open_vote, topic_id=str(t["committee"].id),
        question="是否对议题委员会的工作不满意?", threshold_choice="against", threshold_percent=60,
        consequence="超过 60% 反对则改选议题委员会",
    )  # fmt: skip

    # A concern given straight to an alliance unit: the power company fixes the lamp, and
    # with its last task done the concern is resolved, waiting for the resident's rating.
    lamp_repair = await task(
        "secretary_huang", "lamp_repair", "2026-10-30T10:00:00", title="修复村口路灯",
        concern_id=str(world.concerns["lamp"].id), alliance_unit_id=str(a["power"].id), due_on=date(2026, 11, 5),
    )  # fmt: skip
    world.tasks["lamp_repair"] = await step(
        "alliance_staff_power", TASK, "complete", lamp_repair, at="2026-11-02T15:00:00", result="路灯已更换。"
    )
    for key in world.concerns:
        world.concerns[key] = await Concern.get(id=world.concerns[key].id)
    for key in world.meetings:
        world.meetings[key] = await Meeting.get(id=world.meetings[key].id)
    for key in world.topics:
        world.topics[key] = await AgendaTopic.get(id=world.topics[key].id)


# --------------------------------------------------------------------------- mediation

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
# key: (unit, applicant, mediator, category, title, opened by, steps). A step is (action,
# actor, note, extra): start/settle/fail/session by the mediator, escalate (extra: new
# mediator) and refer (extra: workstation) by the secretary, accept/outcome by a judge.
CASES = [
    ("noise", "fulu_g1", "resident_wang", "mediator_qin", CaseCategory.RENOVATION, "楼上装修噪音", "grid_worker_chen",
     [("start", "mediator_qin", "", None), ("session", "mediator_qin", "双方约定施工时段 8:00-18:00", None)]),
    ("fee", "fulu_g2", "resident_zhao", "mediator_lu", CaseCategory.PROPERTY, "物业费与服务质量争议", "grid_worker_liu",
     [("start", "mediator_lu", "", None), ("session", "mediator_lu", "物业公司承诺整改电梯维保", None),
      ("settle", "mediator_lu", "物业整改, 业主补缴半年物业费", None)]),
    ("leak", "fulu_g1", "resident_li", "mediator_qin", CaseCategory.DAILY_LIFE, "楼上漏水殃及楼下", "grid_worker_chen",
     [("start", "mediator_qin", "", None), ("fail", "mediator_qin", "赔偿金额分歧大", None),
      ("escalate", "secretary_zhang", "升级至社区金牌调解员", "mediator_lu"), ("start", "mediator_lu", "", None),
      ("session", "mediator_lu", "查阅维修记录, 约定鉴定", None)]),
    ("crack", "fulu_g2", "resident_zhao", "mediator_lu", CaseCategory.RENOVATION, "装修致墙体开裂", "grid_worker_liu",
     [("start", "mediator_lu", "", None), ("fail", "mediator_lu", "需司法鉴定", None),
      ("refer", "secretary_zhang", "转法官工作站", "fulu")]),
    ("land", "xinqing_g1", "resident_sun", "mediator_tang", CaseCategory.LAND_FOREST, "宅基地边界争议", "secretary_huang",
     [("start", "mediator_tang", "", None), ("fail", "mediator_tang", "双方均持不同年代的证明", None),
      ("refer", "secretary_huang", "诉调对接", "fulu"), ("accept", "judge_he", "受理", None),
      ("record_outcome", "judge_he", "调解协议经司法确认", ReferralOutcome.JUDICIAL_CONFIRMATION)]),
    ("site", "duji_g1", "resident_zhou", "mediator_shi", CaseCategory.CONSTRUCTION, "工地夜间施工扰民", "grid_worker_ma",
     [("start", "mediator_shi", "", None), ("fail", "mediator_shi", "施工方拒绝调整工期", None),
      ("refer", "secretary_yang", "诉调对接", "duji")]),
    ("parking", "duji_g2", "resident_wu", "mediator_shi", CaseCategory.PROPERTY, "小区车位被占", "secretary_yang", []),
    ("dog", "fulu_g1", "resident_wang", "mediator_qin", CaseCategory.DAILY_LIFE, "邻居犬只夜间吠叫", "grid_worker_chen",
     [("start", "mediator_qin", "", None), ("fail", "mediator_qin", "对方拒不到场", None)]),
    ("balcony", "fulu_g2", "resident_zhao", "mediator_lu", CaseCategory.DAILY_LIFE, "阳台晾衣滴水纠纷", "grid_worker_liu",
     []),
    ("daylight", "xinqing_g1", "resident_sun", "mediator_tang", CaseCategory.CONSTRUCTION, "邻居翻建房屋影响采光",
     "secretary_huang",
     [("start", "mediator_tang", "", None), ("fail", "mediator_tang", "翻建方坚持按原方案施工", None),
      ("refer", "secretary_huang", "诉调对接", "fulu"), ("accept", "judge_he", "受理, 约定现场勘验", None)]),
]  # fmt: skip


async def _seed_mediation(demo: Demo) -> None:
    world = demo.world
    u, p = world.units, world.people
    for key, (name, tribunal) in COURTS.items():
        world.courts[key] = await mediation.create_court(name, tribunal)
    for key, (name, court, street, officers, served, judges, account) in WORKSTATIONS.items():
        station = world.workstations[key] = await mediation.create_workstation(
            name, world.courts[court], u[street], [u[k] for k in served], officers, date(2023, 3, 15)
        )
        # Judges keep their community scopes (councils) and act for the workstation.
        for judge in judges:
            for _, _, _, _, roles in (row for row in PEOPLE if row[0] == judge):
                for role, scope in roles:
                    await people.assign_role(p[judge], role, u[scope], ("workstation", station.id))
        await people.assign_role(p[account], "court", None, ("court", world.courts[court].id))
    for key, (unit_key, level, certification, room) in MEDIATORS.items():
        world.mediators[key] = await mediation.create_mediator(
            p[key], u[unit_key], level, certification, room
        )
    for key, unit_key, applicant, mediator_key, category, title, opened_by, steps in CASES:
        world.cases[key] = await demo.run(
            opened_by,
            mediation.open_case,
            unit_id=str(u[unit_key].id),
            applicant_id=str(p[applicant].id),
            mediator_id=str(world.mediators[mediator_key].id),
            title=title,
            description=f"{title} (demo)",
            category=category.value,
            parties=[
                {"name": p[applicant].name, "role": "申请人", "phone": p[applicant].phone, "id_number": "3406**********0011"},
                {"name": "对方当事人", "role": "被申请人", "phone": "13100000000", "id_number": "3406**********0022"},
            ],
        )  # fmt: skip
        for action, actor, note, extra in steps:
            await _case_step(demo, key, action, actor, note, extra)
        world.cases[key] = await MediationCase.get(id=world.cases[key].id)
    await _seed_legal_work(demo)


async def _case_step(demo: Demo, key: str, action: str, actor: str, note: str, extra: Any) -> None:
    world = demo.world
    case = world.cases[key]
    if action == "session":
        await demo.run(
            actor, mediation.record_session, case_id=str(case.id), held_on=date(2026, 11, 3), notes=note
        )
    elif action in ("accept", "record_outcome"):
        world.referrals[key] = await demo.step(
            actor, mediation.REFERRAL, action, world.referrals[key], note=note, outcome=extra and extra.value
        )
    else:
        input: dict[str, Any] = {"note": note}
        if action == "escalate":
            input["mediator_id"] = str(world.mediators[extra].id)
        if action == "refer":
            input["workstation_id"] = str(world.workstations[extra].id)
        world.cases[key] = await demo.step(actor, mediation.CASE, action, case, **input)
        if action == "refer":
            world.referrals[key] = await Referral.filter(case_id=case.id).order_by("-id").first()


# key: (workstation, unit, title, topic, held at, place, residents reached, judge)
OUTREACH = [
    ("civil_code_xinqing", "fulu", "xinqing", "民法典进院落", "民法典", "2026-10-12T09:30:00", "新青村文化广场", 86, "judge_he"),
    ("family_fulu", "fulu", "fulu", "民法典婚姻家庭编宣讲", "民法典", "2026-09-20T14:00:00", "福禄巷北社区活动室", 120, "judge_he"),
    ("neighbours_duji", "duji", "duji", "相邻关系与噪音纠纷讲座", "民法典", "2026-10-28T15:00:00", "杜集社区议事厅", 64, "judge_qian"),
]  # fmt: skip
# key: (workstation, unit, question, answer, judge)
CONSULTATIONS = [
    ("inheritance", "fulu", "fulu", "老人去世未留遗嘱, 房产如何继承?", "按法定继承顺序, 配偶、子女、父母为第一顺序继承人。", "judge_he"),
    ("wage", "fulu", "xinqing", "务工工资被拖欠怎么办?", "可先向劳动监察部门投诉, 或申请劳动仲裁。", "judge_he"),
    ("lease", "duji", "duji", "租户不交房租也不搬走怎么办?", "可协商解除合同, 协商不成可起诉。", "judge_qian"),
]  # fmt: skip


async def _seed_legal_work(demo: Demo) -> None:
    world = demo.world
    for key, station, unit, title, topic, held_at, place, reached, judge in OUTREACH:
        world.outreach[key] = await demo.run(
            judge, mediation.record_outreach, workstation_id=str(world.workstations[station].id),
            unit_id=str(world.units[unit].id), title=title, topic=topic, held_at=_at(held_at), place=place,
            attendance=reached,
        )  # fmt: skip
    for key, station, unit, question, answer, judge in CONSULTATIONS:
        world.consultations[key] = await demo.run(
            judge, mediation.record_consultation, workstation_id=str(world.workstations[station].id),
            unit_id=str(world.units[unit].id), question=question, answer=answer, asked_on=date(2026, 11, 2),
        )  # fmt: skip


# ------------------------------------------------------------------------------ rounds

# key: (grid worker, grid, kind, walked at, place, resident visited, findings)
ROUNDS = [
    ("chen_visit", "grid_worker_chen", "fulu_g1", "visit", "2026-11-25T09:30:00", "3 号楼 2 单元 201",
     "resident_wang", "独居老人, 腿脚不便, 请志愿者每周上门一次。"),
    ("chen_patrol", "grid_worker_chen", "fulu_g1", "patrol", "2026-11-26T16:00:00", "福禄巷北 12 号至 20 号",
     None, "围墙复查点无新裂缝; 3 号楼楼道堆放纸箱。"),
    ("liu_patrol", "grid_worker_liu", "fulu_g2", "patrol", "2026-11-27T10:00:00", "7 号楼地下室",
     None, "水管仍有渗水, 已拍照。"),
    ("ma_visit", "grid_worker_ma", "duji_g1", "visit", "2026-11-20T15:00:00", "杜集 5 号楼",
     "resident_zhou", "住户再次询问加装电梯进度。"),
]  # fmt: skip


async def _seed_rounds(demo: Demo) -> None:
    world = demo.world
    for key, worker, grid, kind, walked_at, place, resident, findings in ROUNDS:
        world.rounds[key] = await demo.run(
            worker, rounds.record_round, at=walked_at, unit_id=str(world.units[grid].id), kind=kind,
            walked_at=_at(walked_at), place=place, findings=findings,
            resident_id=str(world.people[resident].id) if resident else None,
        )  # fmt: skip
