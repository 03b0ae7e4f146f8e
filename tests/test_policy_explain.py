"""Why may (or may not) someone do something? ``services.explain.explain``, the admin
query ``explainAccess`` and ``bandeng policy explain`` name the deciding rule, with its
line in policies/policy.csv, and for lists the SQL filter that applies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policies.authorizer import Actor, Authorizer
from policies.loader import END_MARKER, POLICY_FILE, load_policy, parse_policy
from policies.relations import relation_matcher
from policies.store import build_checked
from services.errors import BadUserInput, NotFound
from services.explain import explain
from services.identity import actor_for_person
from tests.conftest import POLICY_DIR, Demo, error_codes, gql

REPO = POLICY_DIR.parent
CONCERN_READ = "p, grid_worker, Concern, read, in_scope"


def rule_line(text: str, directory: Path = POLICY_DIR) -> int:
    """The line of ``text`` in policy.csv, read from the file itself."""
    lines = (directory / POLICY_FILE).read_text(encoding="utf-8").splitlines()
    numbers = [number for number, line in enumerate(lines, start=1) if line.strip() == text]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    """The policy the service runs: the shipped files, through every check."""
    return build_checked(POLICY_DIR)


async def actor(demo: Demo, key: str) -> Actor:
    return await actor_for_person(demo.world.people[key])


def scope_of(demo: Demo, unit: str) -> str:
    return demo.world.units[unit].path


# ------------------------------------------------------------------- the service function


async def test_an_allowed_read_names_the_rule_that_allows_it(demo, authorizer):
    chen = await actor(demo, "grid_worker_chen")
    wall = demo.world.concerns["wall"]
    result = await explain(authorizer, chen, "Concern", "read", wall.id)
    assert result.allowed is True
    assert result.object_id == wall.id
    assert result.object_scope == wall.scope_path == scope_of(demo, "fulu_g1")
    assert result.policy_version == parse_policy(POLICY_DIR).version
    line = rule_line(CONCERN_READ)
    assert [(m.text, m.where, m.role, m.scope_path, m.matches_object) for m in result.deciding] == [
        (CONCERN_READ, f"{POLICY_FILE}:{line}", "grid_worker", scope_of(demo, "fulu_g1"), True)
    ]
    assert result.list_filter is None
    text = result.lines()
    assert "decision : ALLOW" in text
    assert "decided by:" in text
    assert any(entry.strip().startswith(f"{POLICY_FILE}:{line}  {CONCERN_READ}") for entry in text), text


async def test_a_denied_read_names_the_rules_that_do_not_reach_the_object(demo, authorizer):
    chen = await actor(demo, "grid_worker_chen")
    elevator = demo.world.concerns["elevator"]  # in 杜集社区, the other street
    result = await explain(authorizer, chen, "Concern", "read", elevator.id)
    assert result.allowed is False
    assert result.object_scope == scope_of(demo, "duji_g1")
    assert result.deciding == []
    assert [(m.text, m.rule.line, m.matches_object) for m in result.rules] == [
        (CONCERN_READ, rule_line(CONCERN_READ), False)
    ]
    text = result.lines()
    assert "decision : DENY" in text
    assert "rules considered (none reaches this object):" in text
    assert any(
        CONCERN_READ in entry and f"{POLICY_FILE}:{rule_line(CONCERN_READ)}" in entry for entry in text
    )


async def test_a_default_deny_says_no_rule_applies(demo, authorizer):
    admin = await actor(demo, "admin")
    result = await explain(authorizer, admin, "Concern", "read", demo.world.concerns["wall"].id)
    assert result.allowed is False
    assert result.rules == [] and result.deciding == []
    assert "no rule grants read on Concern to any of these roles (default deny)" in result.lines()


async def test_a_list_request_shows_the_sql_filter(demo, authorizer):
    chen = await actor(demo, "grid_worker_chen")
    result = await explain(authorizer, chen, "Concern", "read")
    grid = scope_of(demo, "fulu_g1")
    assert result.allowed is True
    assert result.object_id is None and result.object_scope is None
    assert [(m.text, m.matches_object) for m in result.deciding] == [(CONCERN_READ, None)]
    assert result.list_filter is not None and grid in result.list_filter
    assert f"{grid}/%" in result.list_filter  # whole path segments: grid 3 never covers grid 30
    assert scope_of(demo, "fulu_g2") not in result.list_filter
    assert f"list filter: {result.list_filter}" in result.lines()


async def test_list_filters_for_everything_and_for_nothing(demo, authorizer):
    admin = await actor(demo, "admin")
    everyone = await explain(authorizer, admin, "Person", "read")
    assert everyone.allowed is True and everyone.list_filter == "all rows"
    nothing = await explain(authorizer, admin, "Concern", "read")
    assert nothing.allowed is False and nothing.list_filter == "none (nothing is visible)"
    # Only reads have a list filter.
    creating = await explain(authorizer, await actor(demo, "grid_worker_chen"), "Concern", "create")
    assert creating.allowed is True and creating.list_filter is None


async def test_every_assignment_is_explained(demo, authorizer):
    judge = await actor(demo, "judge_he")  # serves 福禄巷北社区 and 新青村
    result = await explain(authorizer, judge, "Council", "read", demo.world.councils["xinqing"].id)
    assert result.allowed is True
    line = rule_line("p, judge, Council, read, in_scope")
    assert [(m.scope_path, m.rule.line, m.matches_object) for m in result.rules] == [
        (scope_of(demo, "fulu"), line, False),
        (scope_of(demo, "xinqing"), line, True),
    ]
    assert [m.scope_path for m in result.deciding] == [scope_of(demo, "xinqing")]


async def test_an_inherited_rule_is_named_with_the_role_that_holds_it(demo, tmp_path):
    directory = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = directory / POLICY_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[-1] == END_MARKER
    lines[-1:] = ["g, street_official, secretary", END_MARKER]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    linked = Authorizer(load_policy(directory, relation_matcher))
    official = await actor(demo, "street_official_xu")
    result = await explain(linked, official, "AgendaTopic", "create")
    assert result.allowed is True
    assert [(m.text, m.role, m.rule.line) for m in result.deciding] == [
        (
            "p, secretary, AgendaTopic, create, in_scope",
            "street_official",
            rule_line("p, secretary, AgendaTopic, create, in_scope", directory),
        )
    ]


async def test_unknown_words_and_objects_are_refused(demo, authorizer):
    chen = await actor(demo, "grid_worker_chen")
    with pytest.raises(BadUserInput, match="Unknown resource 'Complaint'"):
        await explain(authorizer, chen, "Complaint", "read")
    with pytest.raises(BadUserInput, match="Concern has no action 'delete'"):
        await explain(authorizer, chen, "Concern", "delete")
    with pytest.raises(BadUserInput):
        await explain(authorizer, chen, "OrgUnit", "create")  # a word, but not for OrgUnit
    with pytest.raises(NotFound):
        await explain(authorizer, chen, "Concern", "read", 987654)


async def test_an_actor_without_roles_is_denied_everything(demo, authorizer):
    nobody = Actor(demo.world.people["resident_wang"].id, "nobody", ())
    result = await explain(authorizer, nobody, "Concern", "read")
    assert result.allowed is False and result.rules == []
    assert result.list_filter == "none (nothing is visible)"
    assert "roles: none" in result.lines()[0]


# ------------------------------------------------------------------------------- GraphQL

EXPLAIN = """
query($person: ID!, $resource: String!, $action: String!, $object: ID) {
  explainAccess(personId: $person, resource: $resource, action: $action, objectId: $object) {
    allowed policyVersion objectScope listFilter
    decidingRules { rule file line role scopePath matchesObject }
  }
}"""


async def explain_access(demo: Demo, caller: str, person: str, resource="Concern", action="read", obj=None):
    async with demo.client(caller) as client:
        return await gql(
            client,
            EXPLAIN,
            {"person": demo.id("people", person), "resource": resource, "action": action, "object": obj},
        )


async def test_graphql_explains_an_allowed_read(demo):
    body = await explain_access(demo, "admin", "grid_worker_chen", obj=demo.id("concerns", "wall"))
    assert "errors" not in body, body
    data = body["data"]["explainAccess"]
    assert data["allowed"] is True
    assert data["objectScope"] == scope_of(demo, "fulu_g1")
    assert data["policyVersion"] == parse_policy(POLICY_DIR).version
    assert data["listFilter"] is None
    assert data["decidingRules"] == [
        {
            "rule": CONCERN_READ,
            "file": POLICY_FILE,
            "line": rule_line(CONCERN_READ),
            "role": "grid_worker",
            "scopePath": scope_of(demo, "fulu_g1"),
            "matchesObject": True,
        }
    ]


async def test_graphql_explains_a_denied_read(demo):
    body = await explain_access(demo, "admin", "grid_worker_chen", obj=demo.id("concerns", "elevator"))
    assert "errors" not in body, body
    data = body["data"]["explainAccess"]
    assert data["allowed"] is False
    assert data["objectScope"] == scope_of(demo, "duji_g1")
    assert [(r["rule"], r["line"], r["matchesObject"]) for r in data["decidingRules"]] == [
        (CONCERN_READ, rule_line(CONCERN_READ), False)
    ]


async def test_graphql_explains_a_list(demo):
    body = await explain_access(demo, "admin", "grid_worker_chen")
    assert "errors" not in body, body
    data = body["data"]["explainAccess"]
    assert data["allowed"] is True and data["objectScope"] is None
    assert scope_of(demo, "fulu_g1") in data["listFilter"]
    assert [(r["rule"], r["matchesObject"]) for r in data["decidingRules"]] == [(CONCERN_READ, None)]


async def test_graphql_explains_an_owner_rule_and_a_default_deny(demo):
    body = await explain_access(demo, "admin", "resident_wang", "Person.contact", "read")
    assert "errors" not in body, body
    data = body["data"]["explainAccess"]
    line = rule_line("p, resident, Person.contact, read, own")
    assert data["allowed"] is True
    assert [(r["rule"], r["line"]) for r in data["decidingRules"]] == [
        ("p, resident, Person.contact, read, own", line)
    ]
    owner_filter = data["listFilter"].replace('"', "").replace(" ", "")
    assert owner_filter == f"owner_id={demo.id('people', 'resident_wang')}", data["listFilter"]

    body = await explain_access(demo, "admin", "admin", "Concern", "read")
    data = body["data"]["explainAccess"]
    assert data["allowed"] is False and data["decidingRules"] == []
    assert data["listFilter"] == "none (nothing is visible)"


async def test_graphql_refuses_non_admins(demo):
    body = await explain_access(demo, "grid_worker_chen", "grid_worker_chen")
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"explainAccess": None}


@pytest.mark.parametrize(
    "resource, action, argument",
    [("Complaint", "read", "resource"), ("Concern", "delete", "action"), ("OrgUnit", "create", "action")],
)
async def test_graphql_refuses_unknown_words(demo, resource, action, argument):
    body = await explain_access(demo, "admin", "grid_worker_chen", resource, action)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"explainAccess": None}


async def test_graphql_reports_an_unknown_object(demo):
    body = await explain_access(demo, "admin", "grid_worker_chen", obj="987654")
    assert error_codes(body) == ["NOT_FOUND"]


# -------------------------------------------------------------------------- command line


def run_explain(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BANDENG_DATABASE_URL": database_url, "BANDENG_POLICY_DIR": str(POLICY_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "policy", "explain", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_explains_an_allowed_and_a_denied_read(demo, database_url):
    chen = demo.id("people", "grid_worker_chen")
    line = rule_line(CONCERN_READ)
    wall = demo.id("concerns", "wall")
    allowed = run_explain(
        database_url, "--person", chen, "--action", "read", "--resource", "Concern", "--id", wall
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    out = allowed.stdout.splitlines()
    assert "decision : ALLOW" in out
    assert f"request  : read Concern {wall} at {scope_of(demo, 'fulu_g1')}" in out
    assert f"policy   : {parse_policy(POLICY_DIR).version}" in out
    assert "decided by:" in out
    assert any(entry.strip().startswith(f"{POLICY_FILE}:{line}  {CONCERN_READ}") for entry in out), out

    elevator = demo.id("concerns", "elevator")
    denied = run_explain(
        database_url, "--person", chen, "--action", "read", "--resource", "Concern", "--id", elevator
    )
    assert denied.returncode == 0, denied.stdout + denied.stderr
    out = denied.stdout.splitlines()
    assert "decision : DENY" in out
    assert "rules considered (none reaches this object):" in out
    assert any(entry.strip().startswith(f"{POLICY_FILE}:{line}  {CONCERN_READ}") for entry in out), out


async def test_cli_explains_a_list_for_a_person_named_or_a_token(demo, database_url):
    by_name = run_explain(database_url, "--person", "陈晓燕", "--action", "read", "--resource", "Concern")
    assert by_name.returncode == 0, by_name.stdout + by_name.stderr
    assert "decision : ALLOW" in by_name.stdout
    filters = [line for line in by_name.stdout.splitlines() if line.startswith("list filter: ")]
    assert len(filters) == 1 and scope_of(demo, "fulu_g1") in filters[0]

    by_token = run_explain(
        database_url, "--token", demo.tokens["grid_worker_chen"], "--action", "read", "--resource", "Concern"
    )
    assert by_token.returncode == 0, by_token.stdout + by_token.stderr
    assert by_token.stdout == by_name.stdout


async def test_cli_reports_errors_without_a_traceback(demo, database_url):
    chen = demo.id("people", "grid_worker_chen")
    unknown = run_explain(database_url, "--person", chen, "--action", "read", "--resource", "Complaint")
    assert unknown.returncode == 1
    assert "error: Unknown resource 'Complaint'." in unknown.stderr
    nobody = run_explain(database_url, "--person", "987654", "--action", "read", "--resource", "Concern")
    assert nobody.returncode == 1 and "error: No person '987654'." in nobody.stderr
    revoked = run_explain(
        database_url, "--token", "bdg_not-a-token", "--action", "read", "--resource", "Concern"
    )
    assert revoked.returncode == 1 and "the token is unknown or revoked" in revoked.stderr
    for result in (unknown, nobody, revoked):
        assert "Traceback" not in result.stderr
