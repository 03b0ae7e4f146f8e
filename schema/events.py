"""The one shape of every history (``models.base.EventRecord``), as a GraphQL interface."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.org import Person
from schema.types import Node, one


@strawberry.interface(
    description="One step in an object's history: who took it, when, from which state to which, why. "
    "The histories of concerns, meetings (with their topics and votes), tasks, cases (with their "
    "referrals) and rounds all have this shape."
)
class Event(Node):
    id: strawberry.ID = strawberry.field(description="Identifier of the event.")
    action: str = strawberry.field(description="The step, e.g. `accept`, `hold`, `escalated_to_street`.")
    from_status: str | None = strawberry.field(description="State before (null when the object was created).")
    to_status: str | None = strawberry.field(description="State after.")
    note: str = strawberry.field(description="Why, in the actor's words.")
    created_at: datetime = strawberry.field(description="When it happened.")
    actor = one("actor", Person, "Who took the step; null when the caller may not see that person.")
