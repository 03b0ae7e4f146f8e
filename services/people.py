"""People and their role assignments: read within scope, and set up.

``create_person`` and ``assign_role`` are set-up operations without a caller (the demo
seed uses them, as will the admin's account commands): who may call them is decided
above this layer.
"""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.org import OrgUnit, UnitKind
from models.people import Person, RoleAssignment
from policies import vocabulary
from policies.relations import under_condition
from services import identity_cache
from services.authz import RequestAuth
from services.errors import BadUserInput


async def visible_people(
    auth: RequestAuth, *, unit_id: int | None = None, search: str | None = None
) -> QuerySet[Person]:
    """People the actor may read; ``unit_id`` narrows to those living at or under that unit."""
    query = auth.listing("Person")
    if unit_id is not None:
        # Only a unit the caller may read narrows the list: an out-of-scope unit answers
        # as a missing one does (an empty list), and confirms nothing about its people.
        # flat=True gives the value itself (None without a row); Tortoise's stub says a tuple
        path: str | None = await (  # type: ignore[assignment]
            auth.visible("OrgUnit").filter(id=unit_id).first().values_list("path", flat=True)
        )
        query = query.filter(under_condition("scope_path", path)) if path else query.filter(id__in=[])
    if search:
        query = query.filter(name__icontains=search)
    return query


async def create_person(name: str, phone: str, address: str, home_unit: OrgUnit | None) -> Person:
    """A person living or working in ``home_unit`` (none: works across units)."""
    person = await Person.create(
        name=name,
        phone=phone,
        address=address,
        home_unit=home_unit,
        scope_path=home_unit.path if home_unit else "",
    )
    await Person.filter(id=person.id).update(owner_id=person.id)  # the own relation: "this is me"
    person.owner_id = person.id
    return person


async def assign_role(
    person: Person, role: str, unit: OrgUnit | None, affiliation: tuple[str, int] | None = None
) -> RoleAssignment:
    """``person`` holds ``role`` in the scope of ``unit`` (None: everywhere), acting for the
    organisation ``affiliation`` names, if any. The role and the scope kind are checked
    against the policy vocabulary."""
    if role not in vocabulary.ROLES:
        raise BadUserInput(f"Unknown role {role!r}.", argument="role")
    kind = "global" if unit is None else UnitKind(unit.kind).value
    if kind not in vocabulary.SCOPE_KINDS[role]:
        raise BadUserInput(
            f"A {role} is assigned in a {' or '.join(vocabulary.SCOPE_KINDS[role])}, not a {kind}.",
            argument="unitId",
        )
    if affiliation is not None and affiliation[0] not in vocabulary.AFFILIATION_KINDS:
        raise BadUserInput(f"Unknown affiliation {affiliation[0]!r}.", argument="affiliation")
    assignment = await RoleAssignment.create(
        person=person,
        role=role,
        unit=unit,
        scope_path=unit.path if unit else "",
        affiliation_kind=affiliation[0] if affiliation else None,
        affiliation_id=affiliation[1] if affiliation else None,
    )
    identity_cache.forget_person(person.id)  # this process at once; the others at commit
    return assignment


async def withdraw_role(person: Person, role: str, unit: OrgUnit | None) -> bool:
    """``person`` no longer holds ``role`` in the scope of ``unit``; False if they did not."""
    deleted = await RoleAssignment.filter(
        person_id=person.id, role=role, scope_path=unit.path if unit else ""
    ).delete()
    identity_cache.forget_person(person.id)  # this process at once; the others at commit
    return deleted > 0


async def roles_of(person_id: int) -> list[tuple[str, str]]:
    """(role, name of the unit or "everywhere") for each assignment of a person."""
    rows = await RoleAssignment.filter(person_id=person_id).order_by("id").select_related("unit")
    return [(row.role, row.unit.name if row.unit else "everywhere") for row in rows]
