"""The relation kinds: how a rule reaches objects from the actor's scope.

A rule in ``policy.csv`` grants (role, resource, action) through a relation kind. Each
kind has two implementations side by side, and a property test proves they agree:

* ``holds(grant, facts)``, a predicate on one object, called by Casbin's matcher
  (``relation(p.rel, r.scope, r.res)``) when a single object is decided;
* ``condition(grant, resource)``, a SQL condition (Tortoise ``Q``) for lists, over the
  columns that ``policies.resources`` declares for the resource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from policies import scopes, vocabulary
from policies.resources import RESOURCES, ResourceFacts


@dataclass(frozen=True)
class Grant:
    """What the matcher sees as ``r.scope``: the actor, one scope they act in, and the
    organisation they act for in it (if any)."""

    actor_id: int
    path: str
    affiliation: tuple[str, int] | None = None


@dataclass(frozen=True)
class Facts:
    """What the matcher sees as ``r.res``: the columns the relations read. ``links``
    holds the (kind, id) pairs an object is tied to: ``("workstation", 3)`` for a case
    referred there, ``("assignee", 42)`` for a case whose mediator is person 42."""

    scope_path: str
    owner_id: int | None = None
    links: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def of(cls, obj: object, resource: str) -> Facts:
        """The facts of a stored object of ``resource`` (its declared columns)."""
        facts = RESOURCES[resource]
        links = frozenset(
            (kind, value)
            for kind, column in facts.links.items()
            if (value := getattr(obj, column)) is not None
        )
        owner = getattr(obj, facts.owner_column) if facts.owner_column else None
        return cls(getattr(obj, facts.scope_column), owner, links)


ALL = Q()  # a condition that matches every row


def _where(lookup: str, value: object) -> Q:
    """The condition ``lookup`` (a column, or a column and a Tortoise lookup such as
    ``scope_path__in``) on ``value``."""
    filters: dict[str, Any] = {lookup: value}  # Q's keyword arguments are its filters
    return Q(**filters)


def under_condition(column: str, scope: str) -> Q:
    """``column`` is ``scope`` or below it, by whole path segments."""
    if scope == scopes.GLOBAL:
        return ALL
    return _where(column, scope) | _where(f"{column}__startswith", scope + "/")


@dataclass(frozen=True)
class Relation:
    holds: Callable[[Grant, Facts], bool]
    condition: Callable[[Grant, ResourceFacts], Q | None]  # None: matches nothing


def _owner_condition(grant: Grant, facts: ResourceFacts) -> Q | None:
    return None if facts.owner_column is None else _where(facts.owner_column, grant.actor_id)


def _own_in_scope_condition(grant: Grant, facts: ResourceFacts) -> Q | None:
    owner = _owner_condition(grant, facts)
    return None if owner is None else owner & under_condition(facts.scope_column, grant.path)


def _affiliated_condition(grant: Grant, facts: ResourceFacts) -> Q | None:
    if grant.affiliation is None or grant.affiliation[0] not in facts.links:
        return None
    kind, value = grant.affiliation
    return _where(facts.links[kind], value)


def _assigned_condition(grant: Grant, facts: ResourceFacts) -> Q | None:
    column = facts.links.get("assignee")
    return None if column is None else _where(column, grant.actor_id)


def _contains_scope_condition(grant: Grant, facts: ResourceFacts) -> Q | None:
    return _where(f"{facts.scope_column}__in", scopes.ancestors(grant.path)) if grant.path else None


RELATIONS: dict[str, Relation] = {
    "any": Relation(lambda g, f: True, lambda g, r: ALL),
    "in_scope": Relation(
        lambda g, f: scopes.is_under(f.scope_path, g.path),
        lambda g, r: under_condition(r.scope_column, g.path),
    ),
    "in_community": Relation(
        lambda g, f: scopes.is_under(f.scope_path, scopes.community_of(g.path)),
        lambda g, r: under_condition(r.scope_column, scopes.community_of(g.path)),
    ),
    "contains_scope": Relation(
        lambda g, f: f.scope_path in scopes.ancestors(g.path), _contains_scope_condition
    ),
    "own": Relation(lambda g, f: f.owner_id is not None and f.owner_id == g.actor_id, _owner_condition),
    "own_in_scope": Relation(
        lambda g, f: f.owner_id == g.actor_id and scopes.is_under(f.scope_path, g.path),
        _own_in_scope_condition,
    ),
    "affiliated": Relation(
        lambda g, f: g.affiliation is not None and g.affiliation in f.links, _affiliated_condition
    ),
    "assigned": Relation(lambda g, f: ("assignee", g.actor_id) in f.links, _assigned_condition),
}
assert set(RELATIONS) == set(vocabulary.RELATIONS), "vocabulary and relations differ"


def relation_matcher(name: str, grant: Grant, facts: Facts) -> bool:
    """The ``relation`` function of the Casbin matcher."""
    return RELATIONS[name].holds(grant, facts)
