"""The permission matrix, run through the GraphQL API: every root field and every
mutation × every role, with one client per role.

The tables below are the specification, to be read like a truth table. A cell is

* a set of seed rows (``U_G1``, ``P_FULU`` ...): for a root list, exactly these rows
  come back (ids, order, ``totalCount``); for the matching root lookup, each of these
  rows is found and every other seeded row, like a missing id, is NOT_FOUND;
* ``OK``: the call succeeds (for a mutation: exactly the new row(s) it makes — a concern
  also gets its ``submitted`` event — and nothing else written);
* ``FORBID`` / ``NOTFND`` / ``UNAUTH``: FORBIDDEN / NOT_FOUND / UNAUTHENTICATED, with
  ``null`` data and, for a mutation, nothing written at all.

Seed keys are those of ``app/seed.py``: street 南川西路街道 (``nanchuan``) with
福禄巷北社区 (``fulu``, grids ``fulu_g1``/``fulu_g2``) and 新青村 (``xinqing``), and
street 矿山集街道 (``kuangshan``) with 杜集社区 (``duji``).

``test_every_root_field_is_in_the_matrix`` fails when a root field has no row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pytest
from tortoise.models import Model

from models import MODULES as MODEL_MODULES
from models.concerns import Concern, ConcernEvent
from models.councils import (
    AgendaTopic,
    Attendance,
    Meeting,
)
from models.mediation import (
    LegalConsultation,
    MediationCase,
    MediationEvent,
    MediationSession,
    OutreachEvent,
    Referral,
)
from policies import vocabulary
from schema.root import build_schema
from schema.workflow import STEP_MUTATIONS
from services.concerns import CATEGORIES
from services.workflow import MACHINES
from tests.conftest import Demo, error_codes, gql

# ------------------------------------------------------------------------------ roles

# The seeded person who plays each role (None: a request without a token).
ROLE_PERSON: dict[str, str | None] = {
    "resident": "resident_wang",  # 福禄巷北社区第一网格
    "grid_worker": "grid_worker_chen",  # 福禄巷北社区第一网格
    "secretary": "secretary_zhang",  # 福禄巷北社区
    "judge": "judge_he",  # workstation serving 福禄巷北社区 and 新青村
    "street_official": "street_official_xu",  # 南川西路街道
    "admin": "admin",  # global
    "alliance_staff": "alliance_staff_dizhi",  # acts for 地质调查院, allied with 南川西路街道
    "anonymous": None,
    "volunteer": "volunteer_zhao",  # 福禄巷北社区
    # --- mediation
    "mediator": "mediator_lu",  # gold mediator of 福禄巷北社区
    "court": "court_district",  # partner account of the court behind the 福禄巷北 workstation
}
ROLES = tuple(ROLE_PERSON)  # the column order of the tables


# ------------------------------------------------------------------------------ cells

OK = "OK"
FORBID = "FORBIDDEN"
NOTFND = "NOT_FOUND"
UNAUTH = "UNAUTHENTICATED"


@dataclass(frozen=True)
class Rows:
    """Allowed: exactly these seed rows of one kind (``demo.id(kind, key)``)."""

    kind: str
    keys: frozenset[str]

    def __repr__(self) -> str:
        return f"{self.kind}{sorted(self.keys)}"


def rows(kind: str, *keys: str) -> Rows:
    return Rows(kind, frozenset(keys))


Cell = Rows | str

# ---------------------------------------------------- the seed rows each scope reaches

U_G1 = rows("units", "nanchuan", "fulu", "fulu_g1")  # a grid and the units above it
U_FULU = rows("units", "nanchuan", "fulu", "fulu_g1", "fulu_g2")  # a community, its grids, its street
U_JUDGE = rows("units", "nanchuan", "fulu", "xinqing")  # above the workstation's two communities
U_NANCH = rows("units", "nanchuan", "fulu", "fulu_g1", "fulu_g2", "xinqing", "xinqing_g1")
U_ALL = rows("units", *U_NANCH.keys, "kuangshan", "duji", "duji_g1", "duji_g2")

P_WANG = rows("people", "resident_wang")  # oneself only
P_HE = rows("people", "judge_he")
P_G1 = rows("people", "resident_wang", "resident_li", "grid_worker_chen")
P_FULU = rows(
    "people",
    *("resident_wang", "resident_li", "resident_zhao", "grid_worker_chen", "grid_worker_liu"),
    *("secretary_zhang", "judge_he", "volunteer_zhao"),
)
P_NANCH = rows("people", *P_FULU.keys, "resident_sun", "secretary_huang", "street_official_xu")
P_ALL = rows(
    "people",
    *P_NANCH.keys,
    *("resident_zhou", "resident_wu", "grid_worker_ma", "secretary_yang", "street_official_gao", "admin"),
    *("alliance_staff_dizhi", "alliance_staff_power"),  # --- councils loop / alliance
    # --- mediation: mediators, the second judge and the courts' accounts (no home unit)
    *("mediator_lu", "mediator_qin", "mediator_fang", "mediator_tang", "mediator_shi", "mediator_kong"),
    *("judge_qian", "court_district", "court_kuangshan"),
)

CL_FULU = rows("councils", "fulu")
CL_NANCH = rows("councils", "fulu", "xinqing")  # also the judge's: its workstation serves both

MT_FULU = rows("meetings", "wall", "park", "safety", "elevator_council")
MT_NANCH = rows("meetings", *MT_FULU.keys, "civil_code")

CN_WANG = rows("concerns", "wall", "drain")  # the resident's own
CN_G1 = rows("concerns", "wall", "ebikes", "drain")
CN_FULU = rows("concerns", "wall", "ebikes", "pipe", "drain", "order")
CN_NANCH = rows("concerns", *CN_FULU.keys, "lamp")
CN_VOL = rows("concerns", "order")  # the service order dispatched to the volunteer
U_VOL = rows("units", "nanchuan", "fulu")
P_VOL = rows("people", "volunteer_zhao")
# --- mediation
U_MED = rows("units", "nanchuan", "fulu")  # a community-level mediator: the units above it
P_LU = rows("people", "mediator_lu")
P_COURT = rows("people", "court_district")

MC_WANG = rows("cases", "noise", "dog")  # the applicant's own disputes
MC_G1 = rows("cases", "noise", "leak", "dog")
MC_FULU = rows("cases", "noise", "fee", "leak", "crack", "dog", "balcony")
MC_WS = rows(
    "cases", "crack", "land", "daylight"
)  # referred to the 福禄巷北 workstation (court 某区人民法院)
MC_NANCH = rows("cases", *MC_FULU.keys, "land", "daylight")
MC_LU = rows("cases", "fee", "leak", "crack", "balcony")  # assigned to mediator_lu

MD_G1 = rows("mediators", "mediator_lu", "mediator_qin")  # mediators of the grid worker's community
MD_FULU = rows("mediators", "mediator_lu", "mediator_qin", "mediator_fang")  # and the street's
MD_NANCH = rows("mediators", "mediator_lu", "mediator_qin", "mediator_fang", "mediator_tang")
MD_ALL = rows("mediators", *MD_NANCH.keys, "mediator_shi", "mediator_kong")
MD_LU = rows("mediators", "mediator_lu")

OE_FULU = rows("outreach", "family_fulu")  # held in 福禄巷北社区
OE_WS = rows("outreach", "family_fulu", "civil_code_xinqing")  # by the 福禄巷北 workstation
LC_WS = rows("consultations", "inheritance", "wage")

# --- rounds log: the grid worker's own grid; the community and the street read all of theirs
RD_G1 = rows("rounds", "chen_visit", "chen_patrol")
RD_FULU = rows("rounds", "chen_visit", "chen_patrol", "liu_patrol")

WS_FULU = rows("workstations", "fulu")
# --- signed webhooks: the court's endpoint (paused), seeded for its partner token
WH_COURT = rows("webhooks", "court")
WH_NONE = rows("webhooks")
WS_ALL = rows("workstations", "fulu", "duji")

# --- councils loop / alliance
U_STAFF = rows("units", "nanchuan")  # the street the staff's unit is allied with
P_DIZHI = rows("people", "alliance_staff_dizhi")
AU_NANCH = rows("alliance_units", "dizhi", "power", "school")  # the street's and fulu's
AU_DIZHI = rows("alliance_units", "dizhi")  # staff: their own unit only
TK_NONE = rows("tasks")  # the resident owns no task
TK_FULU = rows("tasks", "wall_repair", "wall_follow_up", "wall_recheck", "ebikes_sweep")
TK_NANCH = rows("tasks", *TK_FULU.keys, "lamp_repair")
TK_DIZHI = rows("tasks", "wall_repair", "wall_recheck")  # staff: their unit's tasks only

# --------------------------------------------------------------------- root queries

# fmt: off
QUERY_MATRIX: dict[str, tuple[Cell, ...]] = {
    # field              resident   grid_w.   secret.   judge     street_o. admin     alliance  anonymous volunteer
    "me":                (OK,       OK,       OK,       OK,       OK,       OK,       OK,       UNAUTH, OK, OK, OK),
    "concernCategories": (OK,       OK,       OK,       OK,       OK,       OK,       OK,       UNAUTH, OK, OK, OK),
    "orgUnits":          (U_G1,     U_G1,     U_FULU,   U_JUDGE,  U_NANCH,  U_ALL,    U_STAFF,  UNAUTH, U_VOL, U_MED, FORBID),
    "people":            (P_WANG,   P_G1,     P_FULU,   P_HE,     P_NANCH,  P_ALL,    P_DIZHI,  UNAUTH, P_VOL, P_LU, P_COURT),
    "councils":          (CL_FULU,  CL_FULU,  CL_FULU,  CL_NANCH, CL_NANCH, FORBID,   FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "meetings":          (MT_FULU,  MT_FULU,  MT_FULU,  MT_NANCH, MT_NANCH, FORBID,   FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "concerns":          (CN_WANG,  CN_G1,    CN_FULU,  FORBID,   CN_NANCH, FORBID,   FORBID,   UNAUTH, CN_VOL, FORBID, FORBID),
    # a lookup finds exactly the rows its list shows; any other id is NOT_FOUND
    "orgUnit":           (U_G1,     U_G1,     U_FULU,   U_JUDGE,  U_NANCH,  U_ALL,    U_STAFF,  UNAUTH, U_VOL, U_MED, FORBID),
    "person":            (P_WANG,   P_G1,     P_FULU,   P_HE,     P_NANCH,  P_ALL,    P_DIZHI,  UNAUTH, P_VOL, P_LU, P_COURT),
    "council":           (CL_FULU,  CL_FULU,  CL_FULU,  CL_NANCH, CL_NANCH, FORBID,   FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "meeting":           (MT_FULU,  MT_FULU,  MT_FULU,  MT_NANCH, MT_NANCH, FORBID,   FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "concern":           (CN_WANG,  CN_G1,    CN_FULU,  FORBID,   CN_NANCH, FORBID,   FORBID,   UNAUTH, CN_VOL, FORBID, FORBID),
    # administration: the policy in force, explanations, the audit log
    "policyStatus":      (FORBID,   FORBID,   FORBID,   FORBID,   FORBID,   OK,       FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "explainAccess":     (FORBID,   FORBID,   FORBID,   FORBID,   FORBID,   OK,       FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    "auditLog":          (FORBID,   FORBID,   FORBID,   FORBID,   FORBID,   OK,       FORBID,   UNAUTH, FORBID, FORBID, FORBID),
    # --- councils loop / alliance
    "allianceUnits":     (AU_NANCH, AU_NANCH, AU_NANCH, FORBID,   AU_NANCH, FORBID,   AU_DIZHI, UNAUTH, FORBID, FORBID, FORBID),
    "tasks":             (TK_NONE,  TK_FULU,  TK_FULU,  FORBID,   TK_NANCH, FORBID,   TK_DIZHI, UNAUTH, FORBID, FORBID, FORBID),
    "allianceUnit":      (AU_NANCH, AU_NANCH, AU_NANCH, FORBID,   AU_NANCH, FORBID,   AU_DIZHI, UNAUTH, FORBID, FORBID, FORBID),
    "task":              (TK_NONE,  TK_FULU,  TK_FULU,  FORBID,   TK_NANCH, FORBID,   TK_DIZHI, UNAUTH, FORBID, FORBID, FORBID),
    # figures of what the caller may see; a section without read rules is null + FORBIDDEN
    "statistics":        (OK,       OK,       OK,       OK,       OK,       OK,       OK,       UNAUTH, OK, OK, OK),
    # --- mediation
    "mediationCases":    (MC_WANG, MC_G1, MC_FULU, MC_WS, MC_NANCH, FORBID, FORBID, UNAUTH, FORBID, MC_LU, MC_WS),
    "mediationCase":     (MC_WANG, MC_G1, MC_FULU, MC_WS, MC_NANCH, FORBID, FORBID, UNAUTH, FORBID, MC_LU, MC_WS),
    "mediators":         (FORBID, MD_G1, MD_FULU, FORBID, MD_NANCH, MD_ALL, FORBID, UNAUTH, FORBID, MD_LU, FORBID),
    "workstations":      (WS_FULU, WS_FULU, WS_FULU, WS_FULU, WS_FULU, WS_ALL, FORBID, UNAUTH, FORBID, WS_FULU, WS_FULU),
    "outreachEvents":    (OE_FULU, OE_FULU, OE_FULU, OE_WS, OE_WS, FORBID, FORBID, UNAUTH, FORBID, FORBID, OE_WS),
    "legalConsultations":(FORBID, FORBID, FORBID, LC_WS, LC_WS, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    # --- rounds log (网格员走访/巡查日志)
    "gridRounds":        (FORBID, RD_G1, RD_FULU, FORBID, RD_FULU, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    "gridRound":         (FORBID, RD_G1, RD_FULU, FORBID, RD_FULU, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    # --- signed webhooks: admins see every endpoint, a partner account its own
    "webhookEndpoints":  (FORBID, FORBID, FORBID, FORBID, FORBID, WH_COURT, WH_NONE, UNAUTH, FORBID, FORBID, WH_COURT),
    "webhookDeliveries": (FORBID, FORBID, FORBID, FORBID, FORBID, OK, OK, UNAUTH, FORBID, FORBID, OK),
}

# statistics: which sections each role may read (the others come back null + FORBIDDEN)
STATISTICS_SECTIONS = {
    "resident": {"concerns", "councils"},
    "grid_worker": {"concerns", "councils"},
    "secretary": {"concerns", "councils"},
    "judge": {"councils"},
    "street_official": {"concerns", "councils"},
    "admin": set(),
    "alliance_staff": set(),
    "mediator": set(),
    "court": set(),
    "volunteer": {"concerns"},
}

# ------------------------------------------------------------------------ mutations

# mutation -> target -> cells. In a target, `council=`, `meeting=` and `unit=` name seed
# rows (duji and drainage are in the other street); `person=` is the attendee (`self`:
# the caller); `for=` is the resident a concern is recorded for.
MUTATION_MATRIX: dict[str, dict[str, tuple[str, ...]]] = {
    "scheduleMeeting": {
        # target                               resident grid_w. secret. judge   street  admin   alliance anonymous
        "council=fulu":                        (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "council=duji":                        (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "addAgendaTopic": {
        "meeting=park":                        (OK,     OK,     OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=drainage":                    (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "recordAttendance": {
        "meeting=park person=self":            (OK,     OK,     OK,     OK,     FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=park person=resident_li":     (NOTFND, OK,     OK,     NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=park person=resident_zhao":   (NOTFND, NOTFND, OK,     NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=drainage person=self":        (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "raiseConcern": {
        "unit=fulu_g1":                        (OK,     OK,     OK,     NOTFND, FORBID, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
        "unit=fulu_g1 for=resident_wang":      (OK,     OK,     OK,     NOTFND, FORBID, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
        "unit=fulu_g2":                        (NOTFND, NOTFND, OK,     NOTFND, FORBID, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
        "unit=duji_g1":                        (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
    },
    # --- councils loop / alliance: `topic=`, `task=`, `vote=`, `unit=` name seed rows
    "transitionMeeting": {
        "meeting=park action=HOLD":            (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=park action=POSTPONE":        (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=park action=CANCEL":          (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=elevator_council action=SCHEDULE":
                                               (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=safety action=CLOSE":         (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=drainage action=REVIEW":      (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "transitionTopic": {
        "topic=park_site action=ACCEPT":       (FORBID, FORBID, OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "topic=charging action=DISCUSS":       (FORBID, FORBID, OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "topic=lights action=DECIDE":          (FORBID, FORBID, OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "topic=road action=DEFER":             (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "assignTask": {
        "topic=wall owner=dizhi":              (FORBID, FORBID, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "concern=pipe owner=volunteer":        (NOTFND, NOTFND, OK,     FORBID, OK,     FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
        "topic=road owner=volunteer":          (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "completeTask": {
        "task=wall_recheck":                   (NOTFND, FORBID, OK,     FORBID, FORBID, FORBID, OK,     UNAUTH, FORBID, FORBID, FORBID),
        "task=ebikes_sweep":                   (NOTFND, OK,     OK,     FORBID, FORBID, FORBID, NOTFND, UNAUTH, FORBID, FORBID, FORBID),
        "task=drainage_works":                 (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, NOTFND, UNAUTH, FORBID, FORBID, FORBID),
    },
    "rateMeeting": {
        "meeting=wall":                        (OK,     FORBID, FORBID, FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "meeting=drainage":                    (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "openVote": {
        "topic=park_site":                     (FORBID, FORBID, OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "topic=road":                          (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "castBallot": {
        "vote=committee":                      (OK,     OK,     FORBID, FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "vote=drainage":                       (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "closeVote": {
        "vote=committee":                      (FORBID, FORBID, OK,     FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "vote=drainage":                       (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "createAllianceUnit": {
        "unit=nanchuan":                       (FORBID, FORBID, FORBID, FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "unit=fulu":                           (FORBID, FORBID, FORBID, FORBID, OK,     FORBID, NOTFND, UNAUTH, FORBID, FORBID, FORBID),
        "unit=kuangshan":                      (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
    },
    "updateAllianceUnit": {
        "alliance=school":                     (FORBID, FORBID, FORBID, FORBID, OK,     FORBID, NOTFND, UNAUTH, FORBID, FORBID, FORBID),
        "alliance=dizhi":                      (FORBID, FORBID, FORBID, FORBID, OK,     FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "alliance=hospital":                   (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, NOTFND, UNAUTH, FORBID, FORBID, FORBID),
    },
    # A concern's way to the end. Targets are seeded concerns in the state the step needs:
    # ebikes submitted (fulu_g1, resident_li's), wall accepted (fulu_g1, resident_wang's),
    # order assigned to volunteer_zhao (fulu_g2), drain resolved (resident_wang's),
    # elevator in the other street.
    "acceptConcern": {
        "concern=ebikes":                      (NOTFND, OK, OK, FORBID, OK, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
        "concern=elevator":                    (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "rejectConcern": {
        "concern=ebikes":                      (NOTFND, OK, OK, FORBID, OK, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
        "concern=elevator":                    (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "mergeConcern": {
        "concern=ebikes into=wall":            (NOTFND, OK, OK, FORBID, OK, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "putConcernOnAgenda": {
        "concern=wall meeting=park":           (FORBID, OK, OK, FORBID, FORBID, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "assignConcern": {
        "concern=wall":                        (FORBID, OK, OK, FORBID, OK, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
        "concern=elevator":                    (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "startConcernWork": {
        "concern=order":                       (NOTFND, NOTFND, OK, FORBID, OK, FORBID, FORBID, UNAUTH, OK, FORBID, FORBID),
    },
    "escalateConcern": {
        "concern=wall":                        (FORBID, OK, OK, FORBID, FORBID, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "resolveConcern": {
        "concern=order":                       (NOTFND, NOTFND, OK, FORBID, OK, FORBID, FORBID, UNAUTH, OK, FORBID, FORBID),
    },
    "rateConcern": {
        "concern=drain":                       (OK, FORBID, FORBID, FORBID, FORBID, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    "superviseConcern": {
        "concern=ebikes":                      (NOTFND, FORBID, FORBID, FORBID, OK, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
        "concern=elevator":                    (NOTFND, NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, UNAUTH, NOTFND, FORBID, FORBID),
    },
    # --- mediation: `case=`, `referral=`, `mediator=`, `workstation=` name seed rows
    # (site is in the other street, referred to the other court's workstation).
    "openMediationCase": {
        "unit=fulu_g1 mediator=mediator_qin":  (FORBID, OK, OK, NOTFND, OK, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
        "unit=duji_g1 mediator=mediator_shi":  (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
    },
    "recordMediationSession": {
        "case=leak":                           (NOTFND, FORBID, FORBID, NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, OK, NOTFND),
        "case=site":                           (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
    },
    "transitionMediationCase": {
        "case=leak action=SETTLE":             (NOTFND, FORBID, FORBID, NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, OK, NOTFND),
        "case=leak action=FAIL":               (NOTFND, FORBID, FORBID, NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, OK, NOTFND),
        "case=balcony action=START":           (NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, FORBID, UNAUTH, FORBID, OK, NOTFND),
        "case=dog action=ESCALATE mediator=mediator_lu":
                                               (FORBID, FORBID, OK, NOTFND, OK, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
        "case=dog action=REFER workstation=fulu":
                                               (FORBID, FORBID, OK, NOTFND, OK, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
        "case=site action=REFER workstation=duji":
                                               (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
    },
    "decideReferral": {
        "referral=crack action=ACCEPT":        (FORBID, FORBID, FORBID, OK, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "referral=crack action=RETURN":        (FORBID, FORBID, FORBID, OK, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "referral=daylight action=RECORD_OUTCOME":
                                               (FORBID, FORBID, NOTFND, OK, FORBID, FORBID, FORBID, UNAUTH, FORBID, NOTFND, FORBID),
        "referral=site action=ACCEPT":         (FORBID, FORBID, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
    },
    "recordOutreachEvent": {
        "workstation=fulu unit=xinqing":       (NOTFND, NOTFND, NOTFND, OK, FORBID, FORBID, FORBID, UNAUTH, FORBID, NOTFND, FORBID),
        "workstation=duji unit=duji":          (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
    },
    # --- rounds log: `round=` names a seeded round (chen's in fulu_g1, liu's in fulu_g2)
    "recordGridRound": {
        "unit=fulu_g1":                        (FORBID, OK, FORBID, NOTFND, FORBID, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
        "unit=fulu_g2":                        (NOTFND, NOTFND, FORBID, NOTFND, FORBID, FORBID, NOTFND, UNAUTH, NOTFND, NOTFND, FORBID),
    },
    "raiseConcernFromRound": {
        "round=chen_visit":                    (FORBID, OK, FORBID, FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
        "round=liu_patrol":                    (FORBID, NOTFND, FORBID, FORBID, FORBID, FORBID, FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "recordLegalConsultation": {
        "workstation=fulu unit=xinqing":       (NOTFND, NOTFND, NOTFND, OK, FORBID, FORBID, FORBID, UNAUTH, FORBID, NOTFND, FORBID),
        "workstation=duji unit=duji":          (NOTFND, NOTFND, NOTFND, NOTFND, NOTFND, FORBID, FORBID, UNAUTH, FORBID, NOTFND, NOTFND),
    },
    # --- signed webhooks: only admins register and pause; a partner replays its own
    "registerWebhook": {
        "token=court":                         (FORBID, FORBID, FORBID, FORBID, FORBID, OK,     FORBID, UNAUTH, FORBID, FORBID, FORBID),
    },
    "setWebhookActive": {
        "endpoint=court":                      (FORBID, FORBID, FORBID, FORBID, FORBID, OK,     NOTFND, UNAUTH, FORBID, FORBID, FORBID),
    },
    "replayWebhookDeliveries": {
        "endpoint=court":                      (FORBID, FORBID, FORBID, FORBID, FORBID, OK,     NOTFND, UNAUTH, FORBID, FORBID, OK),
    },
}
# fmt: on

for _field, _cells in QUERY_MATRIX.items():
    assert len(_cells) == len(ROLES), f"{_field}: one cell per role {ROLES}"
for _mutation, _targets in MUTATION_MATRIX.items():
    for _target, _cells in _targets.items():
        assert len(_cells) == len(ROLES), f"{_mutation} {_target}: one cell per role {ROLES}"


# ------------------------------------------------------------------- schema coverage


def test_every_root_field_is_in_the_matrix():
    """Adding a root field or a mutation without matrix rows breaks CI."""
    schema = build_schema()._schema
    queries = set(schema.query_type.fields)
    mutations = set(schema.mutation_type.fields) if schema.mutation_type else set()
    in_matrix_queries = set(QUERY_MATRIX)
    in_matrix_mutations = set(MUTATION_MATRIX)
    assert not queries - in_matrix_queries, f"Query fields without matrix rows: {queries - in_matrix_queries}"
    assert not mutations - in_matrix_mutations, (
        f"Mutation fields without matrix rows: {mutations - in_matrix_mutations}"
    )
    assert not in_matrix_queries - queries, (
        f"matrix rows for unknown Query fields: {in_matrix_queries - queries}"
    )
    assert not in_matrix_mutations - mutations, (
        f"matrix rows for unknown mutations: {in_matrix_mutations - mutations}"
    )


def test_every_declared_step_has_matrix_rows():
    """The declared machines decide only the coverage: a step a caller can take
    (services.workflow) without a matrix row fails. The cells stay written by hand."""
    build_schema()
    covered = {
        (mutation, parse_target(target).get("action"))
        for mutation, targets in MUTATION_MATRIX.items()
        for target in targets
    }
    declared = {
        (machine.resource, step.action)
        for machine in MACHINES.values()
        for step in machine.steps
        if step.policy is not None and not step.creates
    }
    assert declared == set(STEP_MUTATIONS), "a declared step has no mutation"
    missing = [
        f"{resource}.{action} ({STEP_MUTATIONS[(resource, action)]})"
        for resource, action in sorted(declared)
        if STEP_MUTATIONS[(resource, action)] not in covered
    ]
    assert not missing, f"declared steps without matrix rows: {missing}"


def test_every_role_of_the_policy_is_a_column():
    assert set(ROLES) - {"anonymous"} == set(vocabulary.ROLES)


# --------------------------------------------------------------------------- helpers

LIST_FIELDS = {"orgUnits", "people", "councils", "meetings", "concerns", "allianceUnits", "tasks"}
LOOKUP_KINDS = {
    "orgUnit": "units",
    "person": "people",
    "council": "councils",
    "meeting": "meetings",
    "concern": "concerns",
    # --- councils loop / alliance
    "allianceUnit": "alliance_units",
    "task": "tasks",
    "mediationCase": "cases",  # --- mediation
    "gridRound": "rounds",  # --- rounds log
}
LIST_FIELDS |= {"mediationCases", "mediators", "workstations", "outreachEvents", "legalConsultations"}
LIST_FIELDS |= {"gridRounds"}
LIST_FIELDS |= {"webhookEndpoints"}
MISSING_ID = "987654"  # no seeded row has it


def query_cases():
    for field, cells in QUERY_MATRIX.items():
        for role, cell in zip(ROLES, cells, strict=True):
            yield pytest.param(field, role, cell, id=f"{field}-{role}")


def names_of(demo: Demo, kind: str, ids) -> list[str]:
    """Seed keys for ids, so a failure reads ``['fulu', 'duji']`` rather than numbers."""
    by_id = {str(row.id): key for key, row in getattr(demo.world, kind).items()}
    return sorted(by_id.get(str(i), f"<id {i}>") for i in ids)


def assert_only_error(body: dict, code: str, field: str) -> None:
    assert error_codes(body) == [code], body
    assert body["errors"][0]["path"] == [field], body
    assert (body.get("data") or {}).get(field) is None, body


async def check_list(demo: Demo, client, field: str, cell: Cell) -> None:
    selection = "totalCount nodes { id } edges { cursor } pageInfo { hasNextPage }"
    body = await gql(client, f"{{ {field}(first: 100) {{ {selection} }} }}")
    if isinstance(cell, str):
        assert_only_error(body, cell, field)
        return
    assert "errors" not in body, body
    page = body["data"][field]
    got = [node["id"] for node in page["nodes"]]
    expected = {demo.id(cell.kind, key) for key in cell.keys}
    assert names_of(demo, cell.kind, got) == sorted(cell.keys)
    assert len(got) == len(set(got)), f"duplicate rows: {got}"
    assert set(got) == expected
    assert page["totalCount"] == len(expected)
    assert len(page["edges"]) == len(got)
    assert page["pageInfo"]["hasNextPage"] is False
    # Documented order: org units by id, everything else newest first.
    ascending = sorted(got, key=int)
    assert got == (ascending if field == "orgUnits" else ascending[::-1])


async def check_lookup(demo: Demo, client, field: str, cell: Cell) -> None:
    kind = LOOKUP_KINDS[field]
    targets = {key: str(row.id) for key, row in getattr(demo.world, kind).items()}
    targets["missing"] = MISSING_ID
    lookups = [f'{alias}: {field}(id: "{row_id}") {{ id }}' for alias, row_id in targets.items()]
    data: dict = {}
    errors: dict = {}
    for start in range(0, len(lookups), 10):  # within the alias limit (15)
        body = await gql(client, "{ " + " ".join(lookups[start : start + 10]) + " }")
        data.update(body.get("data") or {})
        errors.update(
            {tuple(e["path"]): e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        )
    outcome: dict[str, str] = {}
    for alias, row_id in targets.items():
        if (alias,) in errors:
            assert data.get(alias) is None, (alias, body)
            outcome[alias] = errors[(alias,)]
        else:
            assert data[alias] == {"id": row_id}, (alias, body)
            outcome[alias] = OK
    if isinstance(cell, str):
        expected = dict.fromkeys(targets, cell)
    else:
        expected = {alias: OK if alias in cell.keys else NOTFND for alias in targets}
    assert outcome == expected


ADMIN_DOCUMENTS = {
    "policyStatus": "{ policyStatus { version ruleCount lastError { problems } } }",
    "explainAccess": 'query($p: ID!) { explainAccess(personId: $p, resource: "Concern", action: "read") '
    "{ allowed decidingRules { rule line } listFilter } }",
    "auditLog": "{ auditLog(first: 5) { totalCount nodes { id decision } } }",
    "webhookDeliveries": "{ webhookDeliveries(first: 5) { totalCount nodes { id status } } }",
}


async def check_admin_field(demo: Demo, client, field: str, cell: Cell) -> None:
    body = await gql(
        client,
        ADMIN_DOCUMENTS[field],
        {"p": demo.id("people", "grid_worker_chen")} if field == "explainAccess" else {},
    )
    if cell != OK:
        assert_only_error(body, cell, field)
        return
    assert "errors" not in body, body
    data = body["data"][field]
    if field == "policyStatus":
        assert data["ruleCount"] > 0 and data["lastError"] is None
    elif field == "explainAccess":
        assert data["allowed"] is True
        assert [r["rule"] for r in data["decidingRules"]] == ["p, grid_worker, Concern, read, in_scope"]
    else:
        assert data["totalCount"] >= 0


async def check_open_field(demo: Demo, client, field: str, cell: Cell, person_key: str | None) -> None:
    if field == "statistics":
        body = await gql(
            client,
            '{ statistics(since: "2026-01-01T00:00:00Z", until: "2027-01-01T00:00:00Z") '
            "{ concerns { collected } councils { councils } } }",
        )
        if cell != OK:
            assert_only_error(body, cell, field)
            return
        role = next(r for r, p in ROLE_PERSON.items() if p == person_key)
        sections = body["data"]["statistics"]
        assert {name for name, value in sections.items() if value is not None} == STATISTICS_SECTIONS[role]
        assert sorted(tuple(e["path"]) for e in body.get("errors") or []) == sorted(
            ("statistics", name) for name in {"concerns", "councils"} - STATISTICS_SECTIONS[role]
        )
        assert set(error_codes(body)) <= {"FORBIDDEN"}
        return
    if field == "me":
        body = await gql(client, "{ me { personId name roles { role scopePath } } }")
    else:
        body = await gql(client, "{ concernCategories { code label } }")
    if cell != OK:
        assert_only_error(body, cell, field)
        return
    assert "errors" not in body, body
    if field == "me":
        me = body["data"]["me"]
        assert me["personId"] == demo.id("people", person_key)
        role = next(r for r, p in ROLE_PERSON.items() if p == person_key)
        assert role in {grant["role"] for grant in me["roles"]}
    else:
        assert {c["code"] for c in body["data"]["concernCategories"]} == set(CATEGORIES)


# ---------------------------------------------------------------------- query matrix


@pytest.mark.parametrize(("field", "role", "cell"), list(query_cases()))
async def test_query_matrix(demo, field, role, cell):
    person_key = ROLE_PERSON[role]
    async with demo.client(person_key) as client:
        if field in LIST_FIELDS:
            await check_list(demo, client, field, cell)
        elif field in LOOKUP_KINDS:
            await check_lookup(demo, client, field, cell)
        elif field in ADMIN_DOCUMENTS:
            await check_admin_field(demo, client, field, cell)
        else:
            await check_open_field(demo, client, field, cell, person_key)


# ------------------------------------------------------------------- mutation matrix

# Every domain table (tokens and the audit log aside): any write shows up.
TABLES = {
    model._meta.db_table: model
    for module in MODEL_MODULES
    for model in vars(importlib.import_module(module)).values()
    if isinstance(model, type)
    and issubclass(model, Model)
    and model.__module__ == module
    and not model._meta.abstract
    # concern_tally is derived, kept by triggers (tests/test_counts.py compares it with a recount)
    and model._meta.db_table not in ("api_token", "audit_record", "concern_tally")
}

# What one successful call adds (and nothing else changes).
WRITES = {
    # a stateful object is created with its first event
    "scheduleMeeting": {"meeting": 1, "meeting_event": 1},
    "addAgendaTopic": {"agenda_topic": 1, "meeting_event": 1},
    "recordAttendance": {"attendance": 1},
    "raiseConcern": {"concern": 1, "concern_event": 1},
    # --- councils loop / alliance
    "transitionMeeting": {"meeting_event": 1},
    "transitionTopic": {"meeting_event": 1},
    "assignTask": {"task": 1, "task_event": 1},
    "completeTask": {"task_event": 1},
    "rateMeeting": {"rating": 1},
    "openVote": {"vote": 1, "meeting_event": 1},
    "castBallot": {"vote_participation": 1},
    "closeVote": {"meeting_event": 1},
    "createAllianceUnit": {"alliance_unit": 1},
    "updateAllianceUnit": {},
    # --- mediation
    "openMediationCase": {"mediation_case": 1, "mediation_event": 1},
    "recordMediationSession": {"mediation_session": 1},
    "transitionMediationCase": {"mediation_event": 1},
    "decideReferral": {"mediation_event": 1},
    "recordOutreachEvent": {"outreach_event": 1},
    "recordLegalConsultation": {"legal_consultation": 1},
    "recordGridRound": {"grid_round": 1, "grid_round_event": 1},
    # the round followed up, and the concern its finding became, with its first event
    "raiseConcernFromRound": {"grid_round_event": 1, "concern": 1, "concern_event": 1},
    # --- signed webhooks (a replay from beyond the last event queues nothing)
    "registerWebhook": {"webhook_endpoint": 1},
    "setWebhookActive": {},
    "replayWebhookDeliveries": {},
}
# --- councils loop / alliance: what one successful call changes in place (one row each)
UPDATES = {
    "transitionMeeting": {"meeting"},
    "transitionTopic": {"agenda_topic"},
    "completeTask": {"task"},
    "castBallot": {"vote"},
    "closeVote": {"vote"},
    "updateAllianceUnit": {"alliance_unit"},
    "raiseConcernFromRound": {"grid_round"},
    "setWebhookActive": {"webhook_endpoint"},
}

# A concern's way to the end: each step changes its concern, records one event (and, for
# the agenda, adds the topic).
LIFECYCLE = {
    "acceptConcern": "ConcernStepInput",
    "rejectConcern": "ConcernStepInput",
    "mergeConcern": "MergeConcernInput",
    "putConcernOnAgenda": "PutConcernOnAgendaInput",
    "assignConcern": "AssignConcernInput",
    "startConcernWork": "ConcernStepInput",
    "escalateConcern": "ConcernStepInput",
    "resolveConcern": "ResolveConcernInput",
    "rateConcern": "RateConcernInput",
    "superviseConcern": "ConcernStepInput",
}
for _mutation in LIFECYCLE:
    WRITES[_mutation] = {
        "concern_event": 1,
        **({"agenda_topic": 1, "meeting_event": 1} if _mutation == "putConcernOnAgenda" else {}),
    }
    UPDATES[_mutation] = {"concern"}

# --- mediation: writes that differ by target, and existing rows a step may change
WRITES_BY_TARGET = {
    # the referral's ending moves its case too (an effect), with an event of its own
    ("decideReferral", "referral=crack action=RETURN"): {"mediation_event": 2},
    ("decideReferral", "referral=daylight action=RECORD_OUTCOME"): {"mediation_event": 2},
    # the wall's last open task: done, the concern behind it is resolved (an effect)
    ("completeTask", "task=wall_recheck"): {"task_event": 1, "concern_event": 1},
    ("transitionMediationCase", "case=dog action=REFER workstation=fulu"): {
        "mediation_event": 2,  # the case referred, and the referral made
        "referral": 1,
    },
}
MAY_CHANGE = {
    "completeTask": {"task", "concern"},
    "recordMediationSession": {"mediation_case"},  # updated_at, for incremental sync
    "transitionMediationCase": {"mediation_case", "mediation_event", "mediation_session", "referral"},
    "decideReferral": {"mediation_case", "referral"},
}

MUTATION_DOCUMENTS = {
    **{
        mutation: f"mutation($input: {input_type}!) {{ {mutation}(input: $input) "
        "{ __typename ... on Concern { id status } ... on InvalidTransition { message } } }"
        for mutation, input_type in LIFECYCLE.items()
    },
    "scheduleMeeting": "mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { id } }",
    "addAgendaTopic": "mutation($input: AddAgendaTopicInput!) { addAgendaTopic(input: $input) { id } }",
    "recordAttendance": "mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) { id } }",
    "raiseConcern": "mutation($input: RaiseConcernInput!) { raiseConcern(input: $input) { id } }",
    # --- councils loop / alliance (union results: an InvalidTransition has no id)
    "transitionMeeting": "mutation($input: TransitionMeetingInput!) { transitionMeeting(input: $input) "
    "{ ... on Meeting { id } ... on InvalidTransition { message } } }",
    "transitionTopic": "mutation($input: TransitionTopicInput!) { transitionTopic(input: $input) "
    "{ ... on AgendaTopic { id } ... on InvalidTransition { message } } }",
    "assignTask": "mutation($input: AssignTaskInput!) { assignTask(input: $input) "
    "{ ... on Task { id } ... on InvalidTransition { message } } }",
    "completeTask": "mutation($input: CompleteTaskInput!) { completeTask(input: $input) "
    "{ ... on Task { id } ... on InvalidTransition { message } } }",
    "rateMeeting": "mutation($input: RateMeetingInput!) { rateMeeting(input: $input) "
    "{ ... on Rating { id } ... on InvalidTransition { message } } }",
    "castBallot": "mutation($input: CastBallotInput!) { castBallot(input: $input) "
    "{ ... on Vote { id } ... on InvalidTransition { message } } }",
    "closeVote": "mutation($input: CloseVoteInput!) { closeVote(input: $input) "
    "{ ... on Vote { id } ... on InvalidTransition { message } } }",
    "openVote": "mutation($input: OpenVoteInput!) { openVote(input: $input) { id } }",
    "createAllianceUnit": "mutation($input: CreateAllianceUnitInput!) { createAllianceUnit(input: $input) { id } }",
    "updateAllianceUnit": "mutation($input: UpdateAllianceUnitInput!) { updateAllianceUnit(input: $input) { id } }",
    # --- mediation
    "openMediationCase": "mutation($input: OpenMediationCaseInput!) { openMediationCase(input: $input) { id } }",
    "recordMediationSession": "mutation($input: RecordMediationSessionInput!) { recordMediationSession("
    "input: $input) { ... on MediationSession { id } ... on InvalidTransition { message } } }",
    "transitionMediationCase": "mutation($input: TransitionMediationCaseInput!) { transitionMediationCase("
    "input: $input) { ... on MediationCase { id } ... on InvalidTransition { message } } }",
    "decideReferral": "mutation($input: DecideReferralInput!) { decideReferral(input: $input) "
    "{ ... on Referral { id } ... on InvalidTransition { message } } }",
    "recordOutreachEvent": "mutation($input: RecordOutreachEventInput!) { recordOutreachEvent(input: $input) "
    "{ id } }",
    "recordLegalConsultation": "mutation($input: RecordLegalConsultationInput!) { recordLegalConsultation("
    "input: $input) { id } }",
    # --- rounds log
    "recordGridRound": "mutation($input: RecordGridRoundInput!) { recordGridRound(input: $input) { id } }",
    "raiseConcernFromRound": "mutation($input: RaiseConcernFromRoundInput!) { raiseConcernFromRound("
    "input: $input) { ... on GridRound { id } ... on InvalidTransition { message } } }",
    # --- signed webhooks
    "registerWebhook": "mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) { id secret } }",
    "setWebhookActive": "mutation($input: SetWebhookActiveInput!) { setWebhookActive(input: $input) { id } }",
    "replayWebhookDeliveries": "mutation($input: ReplayWebhookInput!) { replayWebhookDeliveries("
    "input: $input) { id replayed } }",
}


async def snapshot() -> dict[str, dict[int, dict]]:
    """Every row of every domain table (tokens aside), by id: any write shows up."""
    return {table: {row["id"]: row for row in await model.all().values()} for table, model in TABLES.items()}


def parse_target(target: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in target.split())


def mutation_input(demo: Demo, mutation: str, target: dict[str, str], person_key: str | None) -> dict:
    if mutation == "scheduleMeeting":
        return {
            "councilId": demo.id("councils", target["council"]),
            "title": "矩阵测试议事",
            "startsAt": "2026-12-20T10:00:00+08:00",
            "place": "社区活动室",
        }
    if mutation == "addAgendaTopic":
        return {"meetingId": demo.id("meetings", target["meeting"]), "title": "楼道照明"}
    if mutation == "recordAttendance":
        attendee = target["person"]
        if attendee == "self":
            attendee = person_key or "resident_wang"
        return {"meetingId": demo.id("meetings", target["meeting"]), "personId": demo.id("people", attendee)}
    if mutation == "raiseConcern":
        values = {
            "unitId": demo.id("units", target["unit"]),
            "title": "垃圾清运不及时",
            "category": "environment",
        }
        if "for" in target:
            values["residentId"] = demo.id("people", target["for"])
        return values
    # --- councils loop / alliance
    if mutation == "transitionMeeting":
        extra = {
            "POSTPONE": {"startsAt": "2026-12-12T14:00:00+08:00"},
            "CLOSE": {"minutes": "矩阵纪要", "attendanceCount": 9},
        }.get(target["action"], {})
        return {
            "meetingId": demo.id("meetings", target["meeting"]),
            "action": target["action"],
            "note": "矩阵",
            **extra,
        }
    if mutation == "transitionTopic":
        extra = {"decision": "矩阵决定"} if target["action"] == "DECIDE" else {}
        return {"topicId": demo.id("topics", target["topic"]), "action": target["action"], **extra}
    if mutation == "assignTask":
        values = {"title": "矩阵测试任务", "dueOn": "2027-01-15"}
        if "topic" in target:
            values["topicId"] = demo.id("topics", target["topic"])
        if "concern" in target:
            values["concernId"] = demo.id("concerns", target["concern"])
        if target["owner"] == "volunteer":
            values["volunteerName"] = "社区志愿者"
        else:
            values["allianceUnitId"] = demo.id("alliance_units", target["owner"])
        return values
    if mutation == "completeTask":
        return {"taskId": demo.id("tasks", target["task"]), "result": "已完成"}
    if mutation == "rateMeeting":
        return {"meetingId": demo.id("meetings", target["meeting"]), "score": 5, "comment": "满意"}
    if mutation == "openVote":
        return {
            "topicId": demo.id("topics", target["topic"]),
            "question": "是否同意?",
            "thresholdChoice": "AGAINST",
            "thresholdPercent": 60,
        }
    if mutation in ("castBallot", "closeVote"):
        values = {"voteId": demo.id("votes", target["vote"])}
        return {**values, "choice": "AGAINST"} if mutation == "castBallot" else values
    if mutation == "updateAllianceUnit":
        return {"allianceUnitId": demo.id("alliance_units", target["alliance"]), "contact": "新的联系窗口"}
    if mutation == "createAllianceUnit":
        return {"unitId": demo.id("units", target["unit"]), "name": "区第一医院", "kind": "hospital"}
    if mutation in LIFECYCLE:
        values = {"concernId": demo.id("concerns", target["concern"])}
        extra = {
            "mergeConcern": {"duplicateOfId": demo.id("concerns", target.get("into", "wall"))},
            "putConcernOnAgenda": {"meetingId": demo.id("meetings", target.get("meeting", "park"))},
            "assignConcern": {"assigneeName": "地质调查院"},
            "resolveConcern": {"resolution": "已修好", "proof": ["photo:after.jpg"]},
            "rateConcern": {"rating": 5, "satisfied": True, "comment": "满意"},
        }.get(mutation, {"note": "矩阵测试"})
        return {**values, **extra}
    # --- mediation
    if mutation == "openMediationCase":
        return {
            "unitId": demo.id("units", target["unit"]),
            "mediatorId": demo.id("mediators", target["mediator"]),
            "title": "楼道堆物纠纷",
            "category": "DAILY_LIFE",
            "parties": [{"name": "甲", "phone": "13100000001", "idNumber": "3406**********0033"}],
        }
    if mutation == "recordMediationSession":
        return {"caseId": demo.id("cases", target["case"]), "heldOn": "2026-11-20", "notes": "矩阵测试"}
    if mutation == "transitionMediationCase":
        values = {"caseId": demo.id("cases", target["case"]), "action": target["action"], "note": "矩阵测试"}
        if "mediator" in target:
            values["mediatorId"] = demo.id("mediators", target["mediator"])
        if "workstation" in target:
            values["workstationId"] = demo.id("workstations", target["workstation"])
        return values
    if mutation == "decideReferral":
        extra = {"outcome": "FILED"} if target["action"] == "RECORD_OUTCOME" else {}
        return {
            "referralId": demo.id("referrals", target["referral"]),
            "action": target["action"],
            "note": "矩阵",
            **extra,
        }
    if mutation == "registerWebhook":
        token_id = demo.world.webhooks[target["token"]].token_id
        return {"tokenId": str(token_id), "url": "https://court.example.invalid/matrix"}
    if mutation == "setWebhookActive":
        return {"endpointId": demo.id("webhooks", target["endpoint"]), "active": True}
    if mutation == "replayWebhookDeliveries":
        return {"endpointId": demo.id("webhooks", target["endpoint"]), "sinceEventId": MISSING_ID}
    if mutation == "recordGridRound":
        return {
            "unitId": demo.id("units", target["unit"]),
            "kind": "PATROL",
            "walkedAt": "2026-11-30T09:00:00+08:00",
            "findings": "路灯不亮",
        }
    if mutation == "raiseConcernFromRound":
        return {"roundId": demo.id("rounds", target["round"]), "title": "楼道纸箱堆放", "category": "safety"}
    where = {"workstationId": demo.id("workstations", target.get("workstation", "fulu"))}
    where["unitId"] = demo.id("units", target.get("unit", "fulu"))
    if mutation == "recordOutreachEvent":
        return {**where, "title": "民法典进院落", "heldAt": "2026-12-01T09:30:00+08:00", "attendance": 40}
    if mutation == "recordLegalConsultation":
        return {**where, "question": "邻居占用公共通道怎么办?", "askedOn": "2026-11-20"}
    raise AssertionError(f"no input builder for {mutation}")


def changes(before: dict, after: dict) -> dict[str, dict[str, list]]:
    """Per table: rows added, removed or changed."""
    diff = {}
    for table in TABLES:
        old, new = before[table], after[table]
        added = [new[i] for i in new.keys() - old.keys()]
        removed = [old[i] for i in old.keys() - new.keys()]
        changed = [(old[i], new[i]) for i in old.keys() & new.keys() if old[i] != new[i]]
        if added or removed or changed:
            diff[table] = {"added": added, "removed": removed, "changed": changed}
    return diff


def denied_cases():
    for mutation, targets in MUTATION_MATRIX.items():
        for target, cells in targets.items():
            for role, cell in zip(ROLES, cells, strict=True):
                if cell != OK:
                    yield pytest.param(mutation, target, role, cell, id=f"{mutation}-{target}-{role}")


@pytest.mark.parametrize(("mutation", "target", "role", "cell"), list(denied_cases()))
async def test_denied_mutation_writes_nothing(demo, request, mutation, target, role, cell):
    person_key = ROLE_PERSON[role]
    variables = {"input": mutation_input(demo, mutation, parse_target(target), person_key)}
    before = await snapshot()
    async with demo.client(person_key) as client:
        body = await gql(client, MUTATION_DOCUMENTS[mutation], variables)
    written = changes(before, await snapshot())
    if written:
        request.getfixturevalue("mutable_demo")  # the shared world is spoilt: reseed it after this test
    assert error_codes(body) == [cell], body
    assert (body.get("data") or {}).get(mutation) is None, body
    assert written == {}, f"a denied {mutation} wrote: {written}"


def allowed_cells(mutation: str) -> list[tuple[str, str]]:
    return [
        (target, role)
        for target, cells in MUTATION_MATRIX[mutation].items()
        for role, cell in zip(ROLES, cells, strict=True)
        if cell == OK
    ]


async def undo(before: dict) -> None:
    """Delete the rows added since ``before`` (children first), so cells stay independent."""
    after = await snapshot()
    for table, model in reversed(TABLES.items()):
        added = after[table].keys() - before[table].keys()
        if added:
            await model.filter(id__in=list(added)).delete()
    # --- councils loop / alliance: put rows changed in place back as they were
    for table, model in TABLES.items():
        for row_id, old in before[table].items():
            if row_id in after[table] and after[table][row_id] != old:
                await model.filter(id=row_id).update(**{k: v for k, v in old.items() if k != "id"})


@pytest.mark.parametrize("mutation", list(MUTATION_MATRIX))
async def test_allowed_mutations_write_their_rows_only(mutable_demo, mutation):
    """Every OK cell of one mutation, each from the seeded state (one world per mutation
    keeps the suite fast); the failure lists every cell that went wrong."""
    cells = allowed_cells(mutation)
    assert cells, f"{mutation}: the matrix has no allowed case"
    failures = []
    for target, role in cells:
        before = await snapshot()
        try:
            await check_allowed_call(mutable_demo, mutation, target, role, before)
        except AssertionError as error:
            failures.append(f"{mutation} {target} as {role}: {error}")
        await undo(before)
    assert not failures, "\n\n".join(failures)


async def check_allowed_call(demo: Demo, mutation: str, target: str, role: str, before: dict) -> None:
    person_key = ROLE_PERSON[role]
    where = parse_target(target)
    variables = {"input": mutation_input(demo, mutation, where, person_key)}
    async with demo.client(person_key) as client:
        body = await gql(client, MUTATION_DOCUMENTS[mutation], variables)
    assert "errors" not in body, body
    assert "id" in body["data"][mutation], body  # not an InvalidTransition
    new_id = int(body["data"][mutation]["id"])
    written = changes(before, await snapshot())
    added = {table: len(d["added"]) for table, d in written.items() if d["added"]}
    assert added == WRITES_BY_TARGET.get((mutation, target), WRITES[mutation]), written
    if mutation in MAY_CHANGE:  # --- mediation: steps that may touch the case's rows
        assert {table for table, d in written.items() if d["changed"]} <= MAY_CHANGE[mutation], written
    else:
        changed = {table: len(d["changed"]) for table, d in written.items() if d["changed"]}
        assert changed == dict.fromkeys(UPDATES.get(mutation, ()), 1), written
    assert all(not d["removed"] for d in written.values()), written
    if mutation in LIFECYCLE:
        assert body["data"][mutation]["__typename"] == "Concern", body
        assert new_id == demo.world.concerns[where["concern"]].id
        assert [old["id"] for old, _ in written["concern"]["changed"]] == [new_id], written
        return

    actor = demo.world.people[person_key]
    if mutation == "scheduleMeeting":
        meeting = await Meeting.get(id=new_id)
        council = demo.world.councils[where["council"]]
        assert (meeting.council_id, meeting.scope_path, meeting.scheduled_by_id) == (
            council.id,
            council.scope_path,
            actor.id,
        )
    elif mutation == "addAgendaTopic":
        topic = await AgendaTopic.get(id=new_id)
        meeting = demo.world.meetings[where["meeting"]]
        assert (topic.meeting_id, topic.scope_path, topic.owner_id) == (
            meeting.id,
            meeting.scope_path,
            actor.id,
        )
    elif mutation == "recordAttendance":
        row = await Attendance.get(id=new_id)
        attendee = actor if where["person"] == "self" else demo.world.people[where["person"]]
        meeting = demo.world.meetings[where["meeting"]]
        assert (row.meeting_id, row.person_id, row.owner_id, row.scope_path) == (
            meeting.id,
            attendee.id,
            attendee.id,
            meeting.scope_path,
        )
    elif mutation == "raiseConcern":
        concern = await Concern.get(id=new_id)
        unit = demo.world.units[where["unit"]]
        owner = demo.world.people[where["for"]] if "for" in where else actor
        assert (concern.unit_id, concern.scope_path, concern.owner_id, concern.recorded_by_id) == (
            unit.id,
            unit.path,
            owner.id,
            actor.id,
        )
        assert await ConcernEvent.filter(concern_id=new_id, action="submitted").count() == 1
    elif mutation in MEDIATION_MUTATIONS:  # --- mediation
        await check_mediation_call(demo, mutation, where, actor, new_id)


MEDIATION_MUTATIONS = {
    "openMediationCase", "recordMediationSession", "transitionMediationCase",
    "decideReferral", "recordOutreachEvent", "recordLegalConsultation",
}  # fmt: skip


async def check_mediation_call(demo: Demo, mutation: str, where: dict, actor, new_id: int) -> None:
    if mutation == "openMediationCase":
        case = await MediationCase.get(id=new_id)
        unit, mediator = demo.world.units[where["unit"]], demo.world.mediators[where["mediator"]]
        assert (case.scope_path, case.owner_id, case.assignee_id, case.status) == (
            unit.path,
            actor.id,
            mediator.owner_id,
            "open",
        )
        return
    if mutation == "recordMediationSession":
        session = await MediationSession.get(id=new_id)
        case = demo.world.cases[where["case"]]
        assert (session.case_id, session.scope_path, session.assignee_id) == (
            case.id,
            case.scope_path,
            case.assignee_id,
        )
        return
    if mutation in ("recordOutreachEvent", "recordLegalConsultation"):
        model = OutreachEvent if mutation == "recordOutreachEvent" else LegalConsultation
        row = await model.get(id=new_id)
        station, unit = demo.world.workstations[where["workstation"]], demo.world.units[where["unit"]]
        assert (row.workstation_id, row.court_id, row.scope_path) == (station.id, station.court_id, unit.path)
        return
    event = await MediationEvent.filter(actor_id=actor.id, referral_id=None).order_by("-id").first()
    if mutation == "transitionMediationCase":
        case = await MediationCase.get(id=new_id)
        expected = {
            "START": "in_mediation",
            "SETTLE": "settled",
            "FAIL": "failed",
            "ESCALATE": "escalated",
            "REFER": "referred",
        }[where["action"]]
        assert case.status == expected and (event.case_id, event.to_status) == (case.id, expected)
        return
    referral = await Referral.get(id=new_id)
    expected, case_status = {
        "ACCEPT": ("accepted", "referred"),
        "RETURN": ("returned", "failed"),  # the case is back in the street's hands
        "RECORD_OUTCOME": ("closed", "closed"),  # filed in court: the case is closed
    }[where["action"]]
    event = await MediationEvent.filter(actor_id=actor.id, referral_id=referral.id).order_by("-id").first()
    assert referral.status == expected and event.to_status == expected
    assert (await MediationCase.get(id=referral.case_id)).status == case_status


# Bad input from a role that may act: BAD_USER_INPUT, nothing written.
BAD_INPUTS = [
    ("scheduleMeeting", "secretary", "council=fulu", {"title": "   "}),
    ("scheduleMeeting", "secretary", "council=fulu", {"startsAt": "2026-12-20T10:00:00"}),
    ("scheduleMeeting", "secretary", "council=fulu", {"councilId": "not-a-number"}),
    ("addAgendaTopic", "resident", "meeting=park", {"title": "x" * 201}),
    ("recordAttendance", "grid_worker", "meeting=park person=self", {"capacity": "spectator"}),
    ("raiseConcern", "resident", "unit=fulu_g1", {"category": "no-such-category"}),
    ("raiseConcern", "secretary", "unit=fulu", {}),  # a community, not a grid
    # --- mediation
    ("openMediationCase", "secretary", "unit=fulu_g1 mediator=mediator_qin", {"parties": []}),
    ("openMediationCase", "secretary", "unit=fulu mediator=mediator_qin", {}),  # qin works in a grid
    ("transitionMediationCase", "secretary", "case=dog action=ESCALATE", {}),  # no mediator named
    (
        "transitionMediationCase",
        "secretary",
        "case=dog action=ESCALATE mediator=mediator_fang",
        {},
    ),  # skips a level
    ("decideReferral", "judge", "referral=crack action=RETURN", {"note": ""}),  # no reason
    ("recordOutreachEvent", "judge", "workstation=fulu unit=xinqing", {"attendance": -1}),
    ("recordOutreachEvent", "judge", "workstation=fulu unit=nanchuan", {}),  # a street, not served
    ("recordLegalConsultation", "judge", "workstation=fulu unit=xinqing", {"question": " "}),
]


@pytest.mark.parametrize(
    ("mutation", "role", "target", "override"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}-{sorted(case[3])}") for case in BAD_INPUTS],
)
async def test_bad_input_writes_nothing(demo, request, mutation, role, target, override):
    person_key = ROLE_PERSON[role]
    variables = {"input": {**mutation_input(demo, mutation, parse_target(target), person_key), **override}}
    before = await snapshot()
    async with demo.client(person_key) as client:
        body = await gql(client, MUTATION_DOCUMENTS[mutation], variables)
    written = changes(before, await snapshot())
    if written:
        request.getfixturevalue("mutable_demo")
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert written == {}, f"a rejected {mutation} wrote: {written}"
