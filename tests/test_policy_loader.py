"""policies/loader.py refuses every kind of broken policy with its file and line, and
PolicyStore keeps serving the previous policy when a reload finds a broken one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from policies import vocabulary
from policies.authorizer import Actor, Assignment, Authorizer
from policies.loader import END_MARKER, MODEL_FILE, POLICY_FILE, PolicyError, load_policy, parse_policy
from policies.relations import Facts, relation_matcher
from policies.store import PolicyStore
from tests.conftest import POLICY_DIR

SHIPPED_POLICY = (POLICY_DIR / POLICY_FILE).read_text(encoding="utf-8")


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies directory (files and policy tests)."""
    directory = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return directory


def append_lines(directory: Path, *lines: str) -> list[int]:
    """Add ``lines`` to the copy's policy.csv, just before its end marker; return their
    1-based line numbers."""
    path = directory / POLICY_FILE
    kept = path.read_text(encoding="utf-8").splitlines()
    assert kept[-1] == END_MARKER, "the shipped policy.csv should end with its end marker"
    kept.pop()
    first = len(kept) + 1
    path.write_text("\n".join([*kept, *lines, END_MARKER]) + "\n", encoding="utf-8")
    return list(range(first, first + len(lines)))


def refusal(directory: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(directory, relation_matcher)
    return info.value


# -------------------------------------------------------------------- shipped policy


def test_shipped_policy_loads():
    policy = load_policy(POLICY_DIR, relation_matcher)
    p_lines = [line for line in SHIPPED_POLICY.splitlines() if line.strip().startswith("p,")]
    assert len(policy.parsed.rules) == len(p_lines) > 0
    assert re.fullmatch(r"[0-9a-f]{12}", policy.version)
    for rule in policy.parsed.rules:
        assert rule.role in vocabulary.ROLES
        assert rule.action in vocabulary.RESOURCES[rule.resource]
        assert rule.relation in vocabulary.RELATIONS
        assert SHIPPED_POLICY.splitlines()[rule.line - 1].strip().startswith(f"p, {rule.role},")
    # The enforcer it builds answers (a matcher error would surface only here).
    authorizer = Authorizer(policy)
    worker = Actor(1, "worker", (Assignment("grid_worker", "/s/1/c/4/g/9"),))
    assert authorizer.decide(worker, "Concern", "read", Facts("/s/1/c/4/g/9", 2))
    assert not authorizer.decide(worker, "Concern", "read", Facts("/s/1/c/40/g/9", 2))


def test_version_is_stable_and_follows_the_content(policy_dir):
    assert parse_policy(policy_dir).version == parse_policy(POLICY_DIR).version
    append_lines(policy_dir, "p, admin, Council, read, any")
    assert parse_policy(policy_dir).version != parse_policy(POLICY_DIR).version


def test_comments_and_blank_lines_are_ignored(policy_dir):
    append_lines(policy_dir, "", "   ", "# p, nobody, Nothing, never, nowhere", "  # indented comment")
    assert parse_policy(policy_dir).rules == parse_policy(POLICY_DIR).rules


def test_a_valid_role_link_loads_and_inherits(policy_dir):
    append_lines(policy_dir, "g, street_official, secretary")
    policy = load_policy(policy_dir, relation_matcher)
    assert [(link.member, link.parent) for link in policy.parsed.links] == [("street_official", "secretary")]
    official = Actor(1, "official", (Assignment("street_official", "/s/1"),))
    # AgendaTopic.create is granted to secretaries only; the link passes it on.
    assert (
        Authorizer(load_policy(POLICY_DIR, relation_matcher))
        .plan(official, "AgendaTopic", "create")
        .denies_all
    )
    plan = Authorizer(policy).plan(official, "AgendaTopic", "create")
    assert [rel for rel, _ in plan.grants] == ["in_scope"]


# --------------------------------------------------------------------- broken files

BROKEN_LINES = {
    "rule with too few fields": ("p, resident, Concern, read", "a rule has 4 fields"),
    "rule with too many fields": ("p, resident, Concern, read, own, extra", "a rule has 4 fields"),
    "role link with too many fields": ("g, resident, grid_worker, secretary", "a role link has 2 fields"),
    "role link with too few fields": ("g, resident", "a role link has 2 fields"),
    "unknown role": ("p, mayor, Concern, read, in_scope", "unknown role 'mayor'"),
    "unknown role in a link": ("g, resident, mayor", "unknown role 'mayor'"),
    "unknown resource": ("p, resident, Complaint, read, own", "unknown resource 'Complaint'"),
    "unknown action": ("p, resident, Concern, delete, own", "unknown action 'delete'"),
    "action not applicable": ("p, resident, OrgUnit, create, in_scope", "does not apply to OrgUnit"),
    "unknown relation": ("p, resident, Concern, read, everywhere", "unknown relation 'everywhere'"),
    "unknown line type": ("q, resident, Concern, read, own", "unknown line type 'q'"),
    "empty field": ("p, resident, , read, own", "empty field"),
    "trailing comma": ("p, resident, Concern, read, own,", "empty field"),
    "name with '::'": ("p, resident, Concern::x, read, own", "'::'"),
    "name with a space": ("p, grid worker, Concern, read, in_scope", "spaces"),
    "name with a quote": ('p, resident, "Concern", read, own', "quotes"),
    "case matters": ("p, Resident, Concern, read, own", "unknown role 'Resident'"),
}


@pytest.mark.parametrize("line, expected", BROKEN_LINES.values(), ids=BROKEN_LINES.keys())
def test_a_broken_line_is_refused_with_file_and_line(policy_dir, line, expected):
    (number,) = append_lines(policy_dir, line)
    error = refusal(policy_dir)
    assert len(error.problems) == 1, error.problems
    assert error.problems[0].startswith(f"{POLICY_FILE}:{number}: "), error.problems
    assert expected in error.problems[0]
    assert f"{POLICY_FILE}:{number}" in str(error)


def test_a_duplicate_rule_names_both_lines(policy_dir):
    original = next(rule for rule in parse_policy(POLICY_DIR).rules if rule.role == "judge")
    (number,) = append_lines(
        policy_dir, f"p,{original.role} ,  {original.resource},{original.action}, {original.relation}"
    )
    error = refusal(policy_dir)
    assert error.problems == [f"{POLICY_FILE}:{number}: duplicate of line {original.line}"]


def test_a_role_cycle_is_refused(policy_dir):
    first, second, third = append_lines(
        policy_dir, "g, resident, grid_worker", "g, grid_worker, secretary", "g, secretary, resident"
    )
    error = refusal(policy_dir)
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert re.match(rf"{POLICY_FILE}:({first}|{second}|{third}): role cycle ", problem), problem
    cycle = problem.split("role cycle ", 1)[1].split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"resident", "grid_worker", "secretary"}


def test_a_role_linked_to_itself_is_a_cycle(policy_dir):
    (number,) = append_lines(policy_dir, "g, judge, judge")
    assert refusal(policy_dir).problems == [f"{POLICY_FILE}:{number}: role cycle judge -> judge"]


def test_every_broken_line_is_reported_at_once(policy_dir):
    numbers = append_lines(
        policy_dir,
        "p, mayor, Concern, read, own",
        "p, resident, Concern, read, own",  # fine, but a duplicate of a shipped line
        "x",
        "p, resident, Concern, read, nowhere",
    )
    error = refusal(policy_dir)
    assert [p.split(": ", 1)[0] for p in error.problems] == [f"{POLICY_FILE}:{n}" for n in numbers]


@pytest.mark.parametrize("name", [POLICY_FILE, MODEL_FILE])
def test_a_missing_file_is_refused(policy_dir, name):
    (policy_dir / name).unlink()
    error = refusal(policy_dir)
    assert error.problems == [f"{policy_dir / name}: cannot read: No such file or directory"]


def test_a_non_utf8_file_is_refused(policy_dir):
    path = policy_dir / POLICY_FILE
    path.write_bytes(SHIPPED_POLICY.encode("utf-8") + "p, resident, Concern, read, 居民\n".encode("gb18030"))
    error = refusal(policy_dir)
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"{path}: not UTF-8 text")


@pytest.mark.parametrize("cut", [1, 3, 20])
def test_a_truncated_file_is_refused(policy_dir, cut):
    """A file cut short (a partial copy, an editor still writing) lacks the end marker."""
    lines = SHIPPED_POLICY.splitlines()[:-cut]
    (policy_dir / POLICY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = refusal(policy_dir)
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"{POLICY_FILE}:{len(lines)}: ")
    assert END_MARKER in error.problems[0]


def test_an_empty_file_is_refused(policy_dir):
    (policy_dir / POLICY_FILE).write_text("", encoding="utf-8")
    assert END_MARKER in refusal(policy_dir).problems[0]


def test_a_broken_model_is_refused(policy_dir):
    (policy_dir / MODEL_FILE).write_text("[request_definition]\nr = sub\n", encoding="utf-8")
    error = refusal(policy_dir)
    assert error.problems[0].startswith(f"{MODEL_FILE}: ")


# ------------------------------------------------------------------------ the store


def test_reload_keeps_the_running_policy_when_the_files_break(policy_dir):
    store = PolicyStore(policy_dir)
    running = store.current
    assert store.last_error is None

    assert store.reload() is True  # unchanged files: same content, same version
    assert store.current.version == running.version
    running = store.current

    (number,) = append_lines(policy_dir, "p, resident, Concern, read, everywhere")
    assert store.reload() is False
    assert store.current is running
    assert store.current.version == running.version
    assert store.last_error is not None
    assert len(store.last_error.problems) == 1
    assert store.last_error.problems[0].startswith(f"{POLICY_FILE}:{number}: unknown relation")
    # The running policy still decides as before.
    resident = Actor(1, "resident", (Assignment("resident", "/s/1/c/4/g/9"),))
    assert store.current.decide(resident, "Concern", "read", Facts("/s/1/c/4/g/9", 1))

    (policy_dir / POLICY_FILE).write_bytes(b"\xff\xfe broken")
    assert store.reload() is False
    assert store.current is running
    assert "not UTF-8" in store.last_error.problems[0]

    (policy_dir / POLICY_FILE).write_text(SHIPPED_POLICY, encoding="utf-8")
    append_lines(policy_dir, "p, admin, Council, read, any")
    assert store.reload() is True
    assert store.last_error is None
    assert store.current is not running
    assert store.current.version != running.version
    admin = Actor(1, "admin", (Assignment("admin", ""),))
    assert store.current.decide(admin, "Council", "read", Facts("/s/7/c/8", None))
    assert not running.decide(admin, "Council", "read", Facts("/s/7/c/8", None))


def test_reload_refuses_a_model_whose_matcher_would_fail_at_the_first_decision(policy_dir):
    """Casbin loads a matcher that calls an unknown function and fails only in enforce():
    the store must refuse it before it serves."""
    store = PolicyStore(policy_dir)
    running = store.current
    model = policy_dir / MODEL_FILE
    model.write_text(model.read_text(encoding="utf-8").replace("relation(", "relatoin("), encoding="utf-8")
    assert store.reload() is False
    assert store.current is running
    assert any(p.startswith(f"{MODEL_FILE}:") for p in store.last_error.problems), store.last_error


def test_reload_keeps_the_running_policy_when_a_file_disappears(policy_dir):
    store = PolicyStore(policy_dir)
    running = store.current
    (policy_dir / POLICY_FILE).unlink()
    assert store.reload() is False
    assert store.current is running
    assert "cannot read" in store.last_error.problems[0]


def test_a_crashed_check_keeps_the_policy_and_is_tried_again(policy_dir, monkeypatch):
    """A failure of the check itself (not of the files) refuses nothing for good: the same
    files are tried again, and the watcher lives on."""
    from policies import store as policy_store

    store = PolicyStore(policy_dir)
    before = store.current
    (policy_dir / POLICY_FILE).write_text(
        SHIPPED_POLICY.replace("# end of policy", "p, admin, Council, read, any\n# end of policy"),
        encoding="utf-8",
    )
    real = policy_store.check_directory
    calls = []

    def crash_once(directory):
        calls.append(directory)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch")
        return real(directory)

    monkeypatch.setattr(policy_store, "check_directory", crash_once)
    assert store.reload() is False
    assert store.current is before
    assert store.last_error is not None and store.last_error.version is None
    assert "SystemError" in store.last_error.problems[0]
    assert store.pending()  # the same files are still to be tried
    assert store.reload() is True
    assert store.current is not before and store.last_error is None
