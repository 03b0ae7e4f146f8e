"""Party-building alliance units (党建联盟单位): organisations allied with a street or
community that take on tasks. Street officials record and correct them."""

from __future__ import annotations

from models.alliance import AllianceUnit
from models.org import UnitKind
from policies.relations import Facts
from services import reads, workflow
from services.authz import RequestAuth
from services.errors import BadUserInput
from services.ids import clean_text

ALLIANCE_KINDS: dict[str, str] = {
    "state_company": "State-owned company (国有企业)",
    "institute": "Research or survey institute (院所), e.g. 地质调查院",
    "school": "School (学校)",
    "hospital": "Hospital (医院)",
    "power_company": "Power supply company (供电公司)",
    "other": "Any other organisation (其他)",
}


reads.relations(
    "AllianceUnit",
    allied_with=reads.One("OrgUnit", "unit_id"),
    tasks=reads.Many("Task", "alliance_unit_id", "due_on"),
)


ALLIANCE_UNITS = reads.listing("AllianceUnit", "kind", "unit_id")


def _kind(kind: str) -> str:
    if kind not in ALLIANCE_KINDS:
        raise BadUserInput(f"Unknown kind {kind!r}; use one of {', '.join(ALLIANCE_KINDS)}.", argument="kind")
    return kind


async def create_alliance_unit(
    auth: RequestAuth, *, unit_id: str, name: str, kind: str, contact: str = ""
) -> AllianceUnit:
    """Record an organisation's alliance with a street or community (街道/社区党建联盟)."""
    unit = await auth.get_visible("OrgUnit", unit_id, "unitId")
    auth.require("AllianceUnit", "create", Facts(unit.path))
    if unit.kind == UnitKind.GRID:
        raise BadUserInput("Alliances are signed with a street or a community.", argument="unitId")
    name = clean_text(name, "name", 128)
    kind = _kind(kind)
    contact = clean_text(contact, "contact", 128, required=False)
    async with workflow.command() as done:
        return done(
            await AllianceUnit.create(unit=unit, scope_path=unit.path, name=name, kind=kind, contact=contact)
        )


async def update_alliance_unit(
    auth: RequestAuth, *, alliance_unit_id: str, name: str | None, kind: str | None, contact: str | None
) -> AllianceUnit:
    """Correct an alliance unit's name, kind or contact desk (fields left out stay)."""
    unit = await auth.get_visible("AllianceUnit", alliance_unit_id, "allianceUnitId")
    auth.require("AllianceUnit", "update", Facts.of(unit, "AllianceUnit"))
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = clean_text(name, "name", 128)
    if kind is not None:
        changes["kind"] = _kind(kind)
    if contact is not None:
        changes["contact"] = clean_text(contact, "contact", 128, required=False)
    async with workflow.command() as done:
        if changes:
            await AllianceUnit.filter(id=unit.id).update(**changes)
        return done(await AllianceUnit.get(id=unit.id))
