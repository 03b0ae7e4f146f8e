"""Bearer tokens and the actor behind them.

Tokens are 32 random bytes shown once; only their HMAC-SHA256 under
``BANDENG_SECRET`` is stored, so a leaked database neither leaks usable tokens nor
lets anyone test guesses without the secret. Revoking one sets ``revoked_at``;
changing the secret revokes them all.

``authenticate`` finds the actor behind a token in one statement (token, person and role
assignments in one ``LEFT JOIN``), or in none when the instance's ``IdentityCache`` has it
(PostgreSQL only; see ``services.identity_cache`` for how it stays exact: database
triggers notify every change, a listener per instance evicts). The writers here also
evict in this process at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from models.people import ApiToken, Person, RoleAssignment
from policies.authorizer import Actor, Assignment
from services import identity_cache
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


async def token_id(token: str) -> int | None:
    """The id of a token given in clear (what a webhook registration names), if it exists."""
    row = await ApiToken.filter(token_hash=hash_token(token)).first()
    return None if row is None else row.id


async def reissue_token(person_id: int, label: str) -> str:
    """A new token for a person, the ones issued before under ``label`` deleted (the demo's)."""
    await ApiToken.filter(person_id=person_id, label=label).delete()
    identity_cache.forget_person(person_id)
    return await issue_token(person_id, label)


async def find_person(ref: str) -> Person:
    """A person by id or exact name."""
    by_id = is_canonical_id(ref)  # not str.isdigit: "١" (an Arabic-Indic one) would read as 1
    person = await (Person.filter(id=int(ref)) if by_id else Person.filter(name=ref)).first()
    if person is None:
        raise NotFound(f"No person {ref!r}.")
    return person


async def revoke_token(token: str) -> bool:
    token_hash = hash_token(token)
    updated = await ApiToken.filter(token_hash=token_hash, revoked_at=None).update(
        revoked_at=datetime.now(UTC)
    )
    identity_cache.forget_token(token_hash)
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


# Token, person and roles in one statement: one row per role assignment (one row of NULL
# roles for a person without any), in the order they were assigned.
_LOOKUP = (
    'SELECT t."id", p."id", p."name", r."role", r."scope_path", r."unit_id", '
    'r."affiliation_kind", r."affiliation_id" '
    'FROM "api_token" t JOIN "person" p ON p."id" = t."person_id" '
    'LEFT JOIN "role_assignment" r ON r."person_id" = p."id" '
    'WHERE t."token_hash" = {param} AND t."revoked_at" IS NULL '
    'ORDER BY r."id"'
)
_LOOKUP_BY_DIALECT = {"postgres": _LOOKUP.format(param="$1"), "sqlite": _LOOKUP.format(param="?")}


async def lookup(token_hash: str) -> Actor | None:
    """The actor behind a stored token hash, from the database, in one statement."""
    client = connections.get("default")
    sql = _LOOKUP_BY_DIALECT.get(client.capabilities.dialect, _LOOKUP.format(param="%s"))
    _, rows = await client.execute_query(sql, [token_hash])
    return _actor_of(rows) if rows else None


def _actor_of(rows: Sequence[Sequence[Any]]) -> Actor:
    """One token's rows of ``_LOOKUP`` (token, person, name, then one role per row)."""
    token_id, person_id, name = rows[0][0], rows[0][1], rows[0][2]
    return Actor(
        person_id=person_id,
        name=name,
        assignments=tuple(
            Assignment(role, path, unit, (kind, org) if kind and org is not None else None)
            for _, _, _, role, path, unit, kind, org in rows
            if role is not None
        ),
        token_id=token_id,
    )


async def authenticate(token: str, cache: identity_cache.IdentityCache | None = None) -> Actor | None:
    """The actor for a bearer token, or ``None`` if it is unknown or revoked. With an
    enabled ``cache``: no statement when it knows the token; unknown tokens are never
    cached."""
    token_hash = hash_token(token)
    if cache is None or not cache.enabled:
        return await lookup(token_hash)
    actor = cache.get(token_hash)
    if actor is not None:
        return actor
    generation = cache.generation
    actor = await lookup(token_hash)
    if actor is not None:
        cache.put(token_hash, actor, generation)
    return actor


async def authenticate_many(
    tokens: Sequence[str], cache: identity_cache.IdentityCache | None = None
) -> dict[str, Actor]:
    """The actors behind ``tokens`` (those still valid), for re-checking many open
    connections at once: from an enabled ``cache`` where it knows them, the others in
    one statement per 500 tokens."""
    found: dict[str, Actor] = {}
    missing: dict[str, str] = {}
    for token in tokens:
        token_hash = hash_token(token)
        actor = cache.get(token_hash) if cache is not None else None
        if actor is not None:
            found[token] = actor
        else:
            missing[token_hash] = token
    generation = cache.generation if cache is not None else 0
    client = connections.get("default")
    postgres = client.capabilities.dialect == "postgres"
    hashes = list(missing)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        marks = ", ".join(f"${i + 1}" if postgres else "?" for i in range(len(chunk)))
        sql = _LOOKUP.replace('"token_hash" = {param}', f'"token_hash" IN ({marks})').replace(
            'SELECT t."id"', 'SELECT t."token_hash", t."id"'
        )
        _, rows = await client.execute_query(sql, chunk)
        by_hash: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_hash.setdefault(row[0], []).append(tuple(row)[1:])
        for token_hash, group in by_hash.items():
            actor = _actor_of(group)
            found[missing[token_hash]] = actor
            if cache is not None:
                cache.put(token_hash, actor, generation)
    return found
