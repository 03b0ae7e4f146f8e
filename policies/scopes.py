"""Scope paths: ``/s/1/c/4/g/9`` is grid 9 of community 4 of street 1.

Paths are compared by whole segments, so community 4 never contains community 40.
The empty path is the global scope (admins).
"""

from __future__ import annotations

GLOBAL = ""
COMMUNITY_LETTERS = ("c", "v")


def is_under(path: str, scope: str) -> bool:
    """True when ``path`` is ``scope`` or lies below it."""
    return scope == GLOBAL or path == scope or path.startswith(scope + "/")


def ancestors(path: str) -> list[str]:
    """``/s/1/c/4`` -> ``['/s/1', '/s/1/c/4']`` (the path itself included)."""
    parts = path.strip("/").split("/") if path else []
    return ["/" + "/".join(parts[: i + 2]) for i in range(0, len(parts) - 1, 2)]


def community_of(path: str) -> str:
    """The community or village path that contains ``path``; the path itself above that."""
    parts = path.strip("/").split("/") if path else []
    for i in range(0, len(parts) - 1, 2):
        if parts[i] in COMMUNITY_LETTERS:
            return "/" + "/".join(parts[: i + 2])
    return path


def child_path(parent: str, letter: str, unit_id: int) -> str:
    return f"{parent}/{letter}/{unit_id}"


def street_of(path: str) -> str:
    """The street path that contains ``path`` (its first two segments)."""
    parts = path.strip("/").split("/") if path else []
    return "/" + "/".join(parts[:2]) if len(parts) >= 2 else path
