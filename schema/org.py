"""Org units, people and the caller's own identity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import org as org_models
from models import people as people_models
from schema.context import Info, load_related
from schema.pagination import Connection, connection
from services import org as org_service
from services import people as people_service
from services.ids import parse_id

UnitKind = strawberry.enum(
    org_models.UnitKind,
    description="Level of an org unit: street (街道), community (社区), village (村), grid (网格).",
)


@strawberry.type(description="A street (街道), community (社区), village (村) or grid (网格).")
class OrgUnit:
    id: strawberry.ID = strawberry.field(description="Identifier of the unit.")
    kind: UnitKind = strawberry.field(description="Level of the unit in the hierarchy.")
    name: str = strawberry.field(description="Name as people in the field use it, e.g. 福禄巷北社区.")
    path: str = strawberry.field(
        description="Materialised scope path, e.g. `/s/1/c/4/g/9`: street 1, community 4, grid 9."
    )
    row: strawberry.Private[org_models.OrgUnit]

    @classmethod
    def from_model(cls, row: org_models.OrgUnit) -> OrgUnit:
        return cls(id=strawberry.ID(str(row.id)), kind=row.kind, name=row.name, path=row.path, row=row)

    @strawberry.field(description="The unit above this one, when the caller may see it.")
    async def parent(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.parent_id, OrgUnit.from_model)

    @strawberry.field(description="Units directly below this one that the caller may see.")
    async def children(self, info: Info) -> list[OrgUnit]:
        rows = await info.context.loaders.children("OrgUnit", "parent_id").load(self.row.id)
        return [OrgUnit.from_model(r) for r in rows]


@strawberry.type(description="A person: resident (居民), grid worker (网格员), secretary, judge or official.")
class Person:
    id: strawberry.ID = strawberry.field(description="Identifier of the person.")
    name: str = strawberry.field(description="Full name.")
    created_at: datetime = strawberry.field(description="When the person was registered.")
    row: strawberry.Private[people_models.Person]

    @classmethod
    def from_model(cls, row: people_models.Person) -> Person:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, created_at=row.created_at, row=row)

    @strawberry.field(description="The unit (usually a grid) the person lives or works in.")
    async def home_unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.row.home_unit_id, OrgUnit.from_model)

    @strawberry.field(
        description="Phone number. Contact details are their own policy resource "
        "(`Person.contact`): null when the caller may not see them."
    )
    def phone(self, info: Info) -> str | None:
        return self.row.phone if _may_see_contact(info, self.row) else None

    @strawberry.field(description="Address; null unless the policy grants `Person.contact`.")
    def address(self, info: Info) -> str | None:
        return self.row.address if _may_see_contact(info, self.row) else None


def _may_see_contact(info: Info, row: people_models.Person) -> bool:
    return info.context.auth.may_read_field("Person.contact", row)


@strawberry.type(description="A role the caller holds in a scope (one person may hold several).")
class RoleGrant:
    role: str = strawberry.field(description="Role name from the policy vocabulary, e.g. `grid_worker`.")
    scope_path: str = strawberry.field(description="Scope path the role applies to; empty for global.")
    unit_id: strawberry.Private[int | None]

    @strawberry.field(description="The org unit of the scope, when the caller may see it.")
    async def unit(self, info: Info) -> OrgUnit | None:
        return await load_related(info, "OrgUnit", self.unit_id, OrgUnit.from_model)


@strawberry.type(description="The caller: who the token belongs to and what they hold.")
class Me:
    person_id: strawberry.ID = strawberry.field(description="Identifier of the caller's person record.")
    name: str = strawberry.field(description="The caller's name.")
    roles: list[RoleGrant] = strawberry.field(description="Roles the caller holds, with their scopes.")
    policy_version: str = strawberry.field(description="Version hash of the policy deciding this request.")

    @strawberry.field(description="The caller's own person record.")
    async def person(self, info: Info) -> Person | None:
        return await load_related(info, "Person", int(self.person_id), Person.from_model)


@strawberry.type
class OrgQuery:
    @strawberry.field(description="The caller, their roles and the policy version in force.")
    def me(self, info: Info) -> Me | None:
        auth = info.context.auth
        return Me(
            person_id=strawberry.ID(str(auth.actor.person_id)),
            name=auth.actor.name,
            roles=[
                RoleGrant(role=a.role, scope_path=a.path, unit_id=a.unit_id) for a in auth.actor.assignments
            ],
            policy_version=auth.authorizer.version,
        )

    @strawberry.field(description="Org units the caller may see (`OrgUnit` read), ordered by id.")
    async def org_units(
        self,
        info: Info,
        kind: Annotated[UnitKind | None, strawberry.argument(description="Only units of this level.")] = None,
        parent_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only children of this unit.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[OrgUnit] | None:
        query = org_service.visible_units(
            info.context.auth, kind=kind, parent_id=_int_id(parent_id, "parentId")
        )
        return await connection(info, query, first, after, OrgUnit.from_model, newest_first=False)

    @strawberry.field(description="One org unit; NOT_FOUND if it does not exist or is out of scope.")
    async def org_unit(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the org unit.")],
    ) -> OrgUnit | None:
        return OrgUnit.from_model(await org_service.get_visible(info.context.auth, "OrgUnit", id))

    @strawberry.field(description="People the caller may see (`Person` read), newest first.")
    async def people(
        self,
        info: Info,
        unit_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only people living under this unit.")
        ] = None,
        search: Annotated[str | None, strawberry.argument(description="Part of the name.")] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
    ) -> Connection[Person] | None:
        query = await people_service.visible_people(
            info.context.auth, unit_id=_int_id(unit_id, "unitId"), search=search
        )
        return await connection(info, query, first, after, Person.from_model)

    @strawberry.field(description="One person; NOT_FOUND if they do not exist or are out of scope.")
    async def person(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Identifier of the person.")],
    ) -> Person | None:
        return Person.from_model(await org_service.get_visible(info.context.auth, "Person", id))


def _int_id(value: strawberry.ID | None, argument: str) -> int | None:
    return None if value is None else parse_id(value, argument)


OrgUnitRef = Annotated["OrgUnit", strawberry.lazy("schema.org")]
PersonRef = Annotated["Person", strawberry.lazy("schema.org")]
