"""The words the policy files may use, defined once.

The service, the loader's checks and the tests all read these tables; a word that
is not here is an error when the policy is loaded, never a silent allow or deny.
"""

from __future__ import annotations

from policies.resources import FIELD_RESOURCES as _FIELD_RESOURCES
from policies.resources import RESOURCES as _RESOURCES

ROLES: dict[str, str] = {
    "resident": "Resident (居民/村民): lives in one grid",
    "grid_worker": "Grid worker (网格员): walks one grid daily",
    "secretary": "Community secretary (党委书记/党支部书记): runs the community's councils",
    "judge": "Judge (驻社区法官) stationed at a workstation serving communities",
    "street_official": "Street official (街道干部): oversees a street",
    "admin": "Administrator: accounts and policy files",
    "volunteer": "Volunteer (志愿者): accepts service orders dispatched by the community",
    "alliance_staff": "Staff of a party-building alliance unit (党建联盟单位), acting for that unit",
    "mediator": "Mediator (调解员): mediates the disputes assigned to them at one level",
    "court": "Court partner account (法院): fetches the cases referred to its own workstations",
}

ACTIONS: dict[str, str] = {
    "read": "See the record (lists, nested fields, counts, lookups)",
    "create": "Create a record in a scope",
    "update": "Change a record",
    "explain": "Ask why the policy decides as it does",
    # the steps of a concern's way to the end (services/concerns.py)
    "accept": "Accept a submitted concern for handling (受理)",
    "reject": "Reject a submitted concern, with a reason",
    "merge": "Merge a concern into the one it duplicates",
    "agenda": "Put a concern on a council meeting's agenda (公开说事)",
    "assign": "Assign a concern to a person, unit or volunteer team (派单)",
    "start": "Start working on an assigned concern (接单)",
    "escalate": "Pass a matter on: a concern grid → community → street, a dispute to the next "
    "mediation level or to a judge workstation",
    "resolve": "Mark a concern resolved, with proof",
    "rate": "Rate how a concern was handled: close it or reopen it (评单)",
    "supervise": "Urge an open concern on (督办)",
}

# resource -> actions that make sense for it (declared with its columns in resources.py)
RESOURCES: dict[str, tuple[str, ...]] = {name: facts.actions for name, facts in _RESOURCES.items()}

# Field-level resources and the GraphQL fields each guards (a denied field reads as null).
FIELD_RESOURCES: dict[str, tuple[str, ...]] = dict(_FIELD_RESOURCES)

# The relation kinds: how a rule reaches objects from the actor's scope.
RELATIONS: dict[str, str] = {
    "any": "every object, wherever it is",
    "in_scope": "objects at or below the actor's scope (whole path segments)",
    "in_community": "objects at or below the community/village that contains the actor's scope",
    "contains_scope": "objects at or above the actor's scope (its grid, community, street)",
    "own": "objects that belong to the actor (raised by, attended by, is)",
    "own_in_scope": "objects that belong to the actor and lie in the actor's scope",
    "affiliated": "objects tied to the organisation the actor acts for (workstation, court, alliance unit)",
    "assigned": "objects assigned to the actor personally (a mediator's cases)",
}

# Organisations a role assignment may act for (RoleAssignment.affiliation_kind).
AFFILIATION_KINDS: dict[str, str] = {
    "alliance_unit": "A party-building alliance unit (党建联盟单位), table alliance_unit",
    "workstation": "A judge workstation (法官工作站) whose judges act for it",
    "court": "A court (法院) whose partner account acts for it",
}

# Scope kinds a role can be assigned in (checked when assignments are created).
SCOPE_KINDS: dict[str, tuple[str, ...]] = {
    "resident": ("grid",),
    "grid_worker": ("grid",),
    "secretary": ("community", "village"),
    "judge": ("community", "village"),
    "street_official": ("street",),
    "admin": ("global",),
    "volunteer": ("community", "village"),
    # the street or community the unit is allied with
    "alliance_staff": ("street", "community", "village"),
    "mediator": ("grid", "community", "village", "street"),
    "court": ("global",),
}
