"""The policy in force: one immutable ``Authorizer`` swapped as a whole.

A request takes ``store.current`` once at its start and keeps it, so no request is
ever decided on a half-loaded policy. Loading happens off to the side; only a
policy that parsed and passed its checks replaces the running one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from policies.loader import PolicyError, load_policy
from services.authz import Authorizer, relation_matcher

log = logging.getLogger("bandeng.policy")


@dataclass(frozen=True)
class LoadFailure:
    at: datetime
    problems: tuple[str, ...]


class PolicyStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self.current: Authorizer = Authorizer(load_policy(directory, relation_matcher))
        self.last_error: LoadFailure | None = None

    def reload(self) -> bool:
        """Load the files again; keep the running policy if they are broken."""
        try:
            candidate = Authorizer(load_policy(self.directory, relation_matcher))
        except PolicyError as exc:
            self.last_error = LoadFailure(datetime.now(UTC), tuple(exc.problems))
            log.error("policy reload refused, still serving %s: %s", self.current.version, exc)
            return False
        self.current = candidate
        self.last_error = None
        log.info("policy %s in force", candidate.version)
        return True
