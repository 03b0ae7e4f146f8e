"""People, read within scope."""

from __future__ import annotations

from models.org import OrgUnit
from services.authz import RequestAuth, under_condition


async def visible_people(auth: RequestAuth, *, unit_id: int | None = None, search: str | None = None):
    """People the actor may read; ``unit_id`` narrows to those living at or under that unit."""
    query = auth.listing("Person")
    if unit_id is not None:
        # The unit's path is only used to narrow an already-authorized query, so an
        # out-of-scope unit yields an empty list, not an error that confirms it exists.
        path = await OrgUnit.filter(id=unit_id).first().values_list("path", flat=True)
        query = query.filter(under_condition("scope_path", path)) if path else query.filter(id__in=[])
    if search:
        query = query.filter(name__icontains=search)
    return query
