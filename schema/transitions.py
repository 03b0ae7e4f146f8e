"""The typed refusal every state machine returns (concerns, meetings, topics, cases)."""

from __future__ import annotations

import strawberry


@strawberry.type(
    description="The step asked for is not possible in the object's current state; nothing was changed. "
    "Branch on `__typename`."
)
class InvalidTransition:
    message: str = strawberry.field(description="What was refused and why.")
    current_status: str = strawberry.field(
        description="The status the object is in (unchanged), e.g. `closed`."
    )
    allowed_actions: list[str] = strawberry.field(
        description="The steps that are possible (for the caller) now."
    )
    action: str | None = strawberry.field(default=None, description="The step that was asked for.")
    audit_code: strawberry.Private[str] = "INVALID_TRANSITION"

    @classmethod
    def from_result(cls, result) -> InvalidTransition:
        """From a service's refusal (any object with message, status and allowed actions)."""
        status = getattr(result, "current_status", None) or getattr(result, "status", "")
        return cls(
            message=result.message,
            current_status=str(getattr(status, "value", status)),
            allowed_actions=list(result.allowed_actions),
            action=getattr(result, "action", None),
        )
