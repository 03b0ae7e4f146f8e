"""Org units, people and the caller's own identity."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import org as org_models
from schema.context import Info
from schema.types import (
    NESTED_PAGE_SIZE,
    READ,
    FirstNested,
    FromContext,
    Guarded,
    Node,
    bounded,
    enum_type,
    lazy,
    listing,
    lookup,
    many,
    one,
    page_size,
)
from services import org as org_service
from services import people as people_service

UnitKind = enum_type(
    org_models.UnitKind,
    "Level of an org unit: street (街道), community (社区), village (村), grid (网格).",
)


@strawberry.type(description="A street (街道), community (社区), village (村) or grid (网格).")
class OrgUnit(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the unit.")
    kind: UnitKind = strawberry.field(description="Level of the unit in the hierarchy.")
    name: str = strawberry.field(description="Name as people in the field use it, e.g. 福禄巷北社区.")
    path: str = strawberry.field(
        description="Materialised scope path, e.g. `/s/1/c/4/g/9`: street 1, community 4, grid 9."
    )
    parent = one("parent", lazy("OrgUnit", __name__), "The unit above this one, when the caller may see it.")
    children = many(
        "children",
        lazy("OrgUnit", __name__),
        "Units directly below this one that the caller may see.",
        root="`orgUnits(parentId:)`",
    )


@strawberry.type(description="A person: resident (居民), grid worker (网格员), secretary, judge or official.")
class Person(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the person.")
    name: str = strawberry.field(description="Full name.")
    created_at: datetime = strawberry.field(description="When the person was registered.")
    home_unit = one("home_unit", OrgUnit, "The unit (usually a grid) the person lives or works in.")

    @strawberry.field(
        description="Phone number. Contact details are their own policy resource "
        "(`Person.contact`): null when the caller may not see them.",
        metadata={READ: Guarded("Person.contact", "phone")},
    )
    def phone(self, info: Info) -> str | None:
        return self.row.phone if info.context.auth.may_read_field("Person.contact", self.row) else None

    @strawberry.field(
        description="Address; null unless the policy grants `Person.contact`.",
        metadata={READ: Guarded("Person.contact", "address")},
    )
    def address(self, info: Info) -> str | None:
        return self.row.address if info.context.auth.may_read_field("Person.contact", self.row) else None


@strawberry.type(description="A role the caller holds in a scope (one person may hold several).")
class RoleGrant:
    role: str = strawberry.field(description="Role name from the policy vocabulary, e.g. `grid_worker`.")
    scope_path: str = strawberry.field(description="Scope path the role applies to; empty for global.")
    unit_id: strawberry.Private[int | None]

    @strawberry.field(description="The org unit of the scope, when the caller may see it.")
    async def unit(self, info: Info) -> OrgUnit | None:
        if self.unit_id is None:
            return None
        return OrgUnit.optional(await info.context.loaders.by_id("OrgUnit").load(self.unit_id))


@strawberry.type(description="The caller: who the token belongs to and what they hold.")
class Me:
    person_id: strawberry.ID = strawberry.field(description="Identifier of the caller's person record.")
    name: str = strawberry.field(description="The caller's name.")
    grants: strawberry.Private[list[RoleGrant]]
    policy_version: str = strawberry.field(description="Version hash of the policy deciding this request.")

    @strawberry.field(description=bounded("Roles the caller holds, with their scopes, in the order granted."))
    def roles(self, info: Info, first: FirstNested = NESTED_PAGE_SIZE) -> list[RoleGrant]:
        return self.grants[: page_size(info, first)]

    @strawberry.field(description="The caller's own person record.")
    async def person(self, info: Info) -> Person | None:
        return Person.optional(await info.context.loaders.by_id("Person").load(int(self.person_id)))


@strawberry.type
class OrgQuery:
    @strawberry.field(
        description="The caller, their roles and the policy version in force.", metadata={READ: FromContext()}
    )
    def me(self, info: Info) -> Me | None:
        auth = info.context.auth
        return Me(
            person_id=strawberry.ID(str(auth.actor.person_id)),
            name=auth.actor.name,
            grants=[
                RoleGrant(role=a.role, scope_path=a.path, unit_id=a.unit_id) for a in auth.actor.assignments
            ],
            policy_version=auth.authorizer.version,
        )

    org_units = listing(
        OrgUnit,
        org_service.UNITS,
        "Org units the caller may see (`OrgUnit` read), ordered by id.",
        newest_first=False,
        kind=(UnitKind, "Only units of this level."),
        parent_id=(strawberry.ID, "Only children of this unit."),
    )
    org_unit = lookup("OrgUnit", OrgUnit, "org unit")

    people = listing(
        Person,
        people_service.visible_people,
        "People the caller may see (`Person` read), newest first.",
        unit_id=(strawberry.ID, "Only people living under this unit."),
        search=(str, "Part of the name.", 64),
    )
    person = lookup("Person", Person, "person")


QUERIES = (OrgQuery,)
