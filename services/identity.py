"""Bearer tokens and the actor behind them.

Tokens are 32 random bytes shown once; only their HMAC-SHA256 under
``BANDENG_SECRET`` is stored, so a leaked database neither leaks usable tokens nor
lets anyone test guesses without the secret. Revoking one sets ``revoked_at``;
changing the secret revokes them all.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from models.people import ApiToken, Person, RoleAssignment
from policies.authorizer import Actor, Assignment
from services.config import load_settings
from services.errors import NotFound
from services.ids import is_canonical_id

TOKEN_PREFIX = "bdg_"


@functools.cache
def _secret() -> bytes:
    return load_settings().secret.encode()


def hash_token(token: str) -> str:
    return hmac.new(_secret(), token.encode(), hashlib.sha256).hexdigest()


async def issue_token(person_id: int, label: str = "") -> str:
    """Create a token for a person and return it in clear (the only time it exists)."""
    if not await Person.filter(id=person_id).exists():
        raise NotFound(f"No person with id {person_id}.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(person_id=person_id, token_hash=hash_token(token), label=label)
    return token


async def reissue_token(person_id: int, label: str) -> str:
    """A new token for a person, the ones issued before under ``label`` deleted (the demo's)."""
    await ApiToken.filter(person_id=person_id, label=label).delete()
    return await issue_token(person_id, label)


async def find_person(ref: str) -> Person:
    """A person by id or exact name."""
    by_id = is_canonical_id(ref)  # not str.isdigit: "١" (an Arabic-Indic one) would read as 1
    person = await (Person.filter(id=int(ref)) if by_id else Person.filter(name=ref)).first()
    if person is None:
        raise NotFound(f"No person {ref!r}.")
    return person


async def revoke_token(token: str) -> bool:
    updated = await ApiToken.filter(token_hash=hash_token(token), revoked_at=None).update(
        revoked_at=datetime.now(UTC)
    )
    return updated > 0


async def actor_for_person(person: Person, token_id: int | None = None) -> Actor:
    rows = (
        await RoleAssignment.filter(person_id=person.id)
        .order_by("id")
        .values_list("role", "scope_path", "unit_id", "affiliation_kind", "affiliation_id")
    )
    return Actor(
        person_id=person.id,
        name=person.name,
        assignments=tuple(
            Assignment(role, path, unit, (kind, org) if kind and org is not None else None)
            for role, path, unit, kind, org in rows
        ),
        token_id=token_id,
    )


async def authenticate(token: str) -> Actor | None:
    """The actor for a bearer token, or ``None`` if it is unknown or revoked."""
    row = (
        await ApiToken.filter(token_hash=hash_token(token), revoked_at=None).select_related("person").first()
    )
    if row is None:
        return None
    return await actor_for_person(row.person, token_id=row.id)
