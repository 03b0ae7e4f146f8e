"""``bandeng policy check``: every kind of broken policy directory is refused with the
file and line to fix, the shipped one passes with all its policy tests, and the
access change against the policy in force is spelled out.

Loader-level refusals (malformed lines, unknown words, duplicates, cycles) are in
tests/test_policy_loader.py; here are the checks only the checker makes, and the
loader's refusals as the checker and the command line report them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policies import vocabulary
from policies.authorizer import Actor, Assignment
from policies.check import check_directory, check_model, check_rules, describe_changes
from policies.loader import END_MARKER, MAX_ROLE_DEPTH, MODEL_FILE, POLICY_FILE, parse_policy
from policies.relations import Facts
from tests.conftest import POLICY_DIR

REPO = POLICY_DIR.parent
SHIPPED_MODEL = (POLICY_DIR / MODEL_FILE).read_text(encoding="utf-8")
SHIPPED_POLICY = (POLICY_DIR / POLICY_FILE).read_text(encoding="utf-8")
SHIPPED_CASES = sum(
    line.startswith("- name:")
    for path in (POLICY_DIR / "tests").glob("*.yaml")
    for line in path.read_text(encoding="utf-8").splitlines()
)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies directory, its tests/ folder included."""
    directory = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    assert sorted(p.name for p in (directory / "tests").glob("*.yaml"))
    return directory


def append_lines(directory: Path, *lines: str) -> list[int]:
    """Add ``lines`` to policy.csv just before its end marker (which stays last);
    return their 1-based line numbers in the file as written."""
    path = directory / POLICY_FILE
    kept = path.read_text(encoding="utf-8").splitlines()
    assert kept[-1] == END_MARKER
    kept.pop()
    first = len(kept) + 1
    path.write_text("\n".join([*kept, *lines, END_MARKER]) + "\n", encoding="utf-8")
    written = path.read_text(encoding="utf-8").splitlines()
    numbers = list(range(first, first + len(lines)))
    assert [written[n - 1] for n in numbers] == list(lines) and written[-1] == END_MARKER
    return numbers


def remove_line(directory: Path, text: str) -> None:
    path = directory / POLICY_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.remove(text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the one line of ``path`` that reads ``text`` (stripped)."""
    numbers = [
        number
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip() == text
    ]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


def refused(directory: Path) -> list[str]:
    report = check_directory(directory)
    assert not report.ok, "the checker should refuse this directory"
    assert report.authorizer is None
    return report.errors


def replace_in_model(directory: Path, old: str, new: str) -> int:
    """Rewrite one model.conf line; return its line number."""
    path = directory / MODEL_FILE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return line_of(path, new.strip())


# ---------------------------------------------------------------------- the shipped one


def test_the_shipped_policy_passes_with_every_policy_test_run():
    report = check_directory(POLICY_DIR)
    assert report.errors == [] and report.warnings == []
    assert report.ok
    assert report.tests_run == SHIPPED_CASES > 40
    assert report.version == parse_policy(POLICY_DIR).version
    assert report.authorizer is not None and report.authorizer.version == report.version
    assert report.changes == []  # nothing to compare with


def test_the_shipped_files_pass_each_check():
    assert check_model(SHIPPED_MODEL) == []
    assert check_rules(parse_policy(POLICY_DIR)) == []


# ---------------------------------------------------------------------------- model.conf

CANONICAL_MATCHER = (
    "m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub) && relation(p.rel, r.scope, r.res)"
)


@pytest.mark.parametrize(
    "matcher, functions",
    [
        (
            "m = keyMatch(r.obj, p.obj) && r.act == p.act && g(r.sub, p.sub) "
            "&& relation(p.rel, r.scope, r.res)",
            "keyMatch",
        ),
        (
            "m = r.obj == p.obj && regexMatch(r.act, p.act) && g(r.sub, p.sub) "
            "&& relation(p.rel, r.scope, r.res) && keyMatch2 (r.obj, p.obj)",
            "keyMatch2, regexMatch",
        ),
        (CANONICAL_MATCHER + " && r.sub.startswith(p.sub)", "startswith"),
        ("m = eval(p.rel)", "eval"),
    ],
    ids=["keyMatch", "two functions", "a method call", "eval"],
)
def test_a_matcher_calling_another_function_names_the_matcher_line(policy_dir, matcher, functions):
    number = replace_in_model(policy_dir, CANONICAL_MATCHER, matcher)
    assert SHIPPED_MODEL.splitlines()[number - 1] == CANONICAL_MATCHER
    errors = refused(policy_dir)
    assert errors == [
        f"{MODEL_FILE}:{number}: matcher function(s) {functions} cannot be translated to SQL "
        "(allowed: g, relation)"
    ]


@pytest.mark.parametrize(
    "old, new, section, key",
    [
        (CANONICAL_MATCHER, "m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub)", "matchers", "m"),
        (CANONICAL_MATCHER, CANONICAL_MATCHER.replace("&& g(", "|| g("), "matchers", "m"),
        (CANONICAL_MATCHER, CANONICAL_MATCHER.replace("r.act == p.act", "r.act != p.act"), "matchers", "m"),
        ("r = sub, scope, obj, act, res", "r = sub, obj, act", "request_definition", "r"),
        ("r = sub, scope, obj, act, res", "r = sub, scope, obj, act, res, env", "request_definition", "r"),
        ("p = sub, obj, act, rel", "p = sub, obj, act, rel, eft", "policy_definition", "p"),
        ("g = _, _", "g = _, _, _", "role_definition", "g"),
        (
            "e = some(where (p.eft == allow))",
            "e = !some(where (p.eft == deny))",
            "policy_effect",
            "e",
        ),
    ],
    ids=[
        "matcher without relation",
        "matcher with or",
        "matcher with !=",
        "request without scope",
        "request with an extra field",
        "policy with eft",
        "domain roles",
        "deny-override effect",
    ],
)
def test_a_changed_definition_names_its_line(policy_dir, old, new, section, key):
    number = replace_in_model(policy_dir, old, new)
    errors = refused(policy_dir)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{MODEL_FILE}:{number}: [{section}] {key} must be ")
    assert "policies/relations.py" in errors[0]


def test_only_whitespace_may_differ_in_the_model(policy_dir):
    spaced = (
        "m  =  r.obj ==  p.obj &&\tr.act == p.act && g(r.sub, p.sub) && relation(p.rel, r.scope, r.res)  "
    )
    replace_in_model(policy_dir, CANONICAL_MATCHER, spaced)
    report = check_directory(policy_dir)
    assert report.ok, report.errors


def test_an_unknown_section_or_key_or_stray_line_names_its_line(policy_dir):
    path = policy_dir / MODEL_FILE
    lines = SHIPPED_MODEL.splitlines()
    matchers = lines.index("[matchers]") + 1
    lines[matchers:matchers] = ["m2 = r.obj == p.obj"]
    lines += ["", "[extra]", "x = 1", "no equals sign here"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = refused(policy_dir)
    assert errors == [
        f"{MODEL_FILE}:{line_of(path, 'm2 = r.obj == p.obj')}: unexpected key 'm2' in [matchers]",
        f"{MODEL_FILE}:{line_of(path, '[extra]')}: unknown section [extra]",
        f"{MODEL_FILE}:{line_of(path, 'x = 1')}: unexpected key 'x' in [extra]",
        f"{MODEL_FILE}:{line_of(path, 'no equals sign here')}: expected 'key = value' inside a section",
    ]


def test_a_missing_definition_is_named(policy_dir):
    path = policy_dir / MODEL_FILE
    path.write_text(SHIPPED_MODEL.replace("[role_definition]\ng = _, _\n", ""), encoding="utf-8")
    assert refused(policy_dir) == [f"{MODEL_FILE}: missing [role_definition] g"]


def test_model_and_policy_problems_are_reported_together(policy_dir):
    model_line = replace_in_model(
        policy_dir, CANONICAL_MATCHER, CANONICAL_MATCHER + " && keyMatch(r.obj, p.obj)"
    )
    (policy_line,) = append_lines(policy_dir, "p, resident, Concern, read, everywhere")
    errors = refused(policy_dir)
    assert [e.split(": ", 1)[0] for e in errors] == [
        f"{MODEL_FILE}:{model_line}",
        f"{POLICY_FILE}:{policy_line}",
    ]


# ------------------------------------------------------------------ rules that never match


@pytest.mark.parametrize(
    "rule, reason",
    [
        ("p, resident, OrgUnit, read, own", "never matches: OrgUnit has no owner for 'own'"),
        ("p, judge, OrgUnit, read, own_in_scope", "never matches: OrgUnit has no owner for 'own_in_scope'"),
        ("p, street_official, Policy, read, own", "never matches: Policy has no owner for 'own'"),
    ],
)
def test_an_owner_relation_on_a_resource_without_owners_is_refused(policy_dir, rule, reason):
    (number,) = append_lines(policy_dir, rule)
    assert refused(policy_dir) == [f"{POLICY_FILE}:{number}: {reason}"]


@pytest.mark.parametrize(
    "rule", ["p, admin, Council, read, in_community", "p, admin, Meeting, read, contains_scope"]
)
def test_a_community_relation_for_the_global_admin_is_refused(policy_dir, rule):
    relation = rule.rsplit(", ", 1)[1]
    (number,) = append_lines(policy_dir, rule)
    errors = refused(policy_dir)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{POLICY_FILE}:{number}: ")
    assert "admin holds only the global scope" in errors[0]
    assert repr(relation) in errors[0]


def test_a_global_in_community_rule_is_refused_because_it_would_reach_everything(policy_dir):
    """From the global scope ``in_community`` is not a no-op: the relation reaches
    every object (like ``any``), so the refusal must not call it harmless."""
    from policies.relations import RELATIONS, Grant

    assert RELATIONS["in_community"].holds(Grant(1, ""), Facts("/s/9/c/5/g/6", 2))
    (number,) = append_lines(policy_dir, "p, admin, Council, read, in_community")
    (error,) = refused(policy_dir)
    assert error.startswith(f"{POLICY_FILE}:{number}: ")
    assert "never matches" not in error
    assert "every object" in error and "'any'" in error


# ----------------------------------------------------------------------- shadowed rules


def test_in_scope_next_to_any_is_shadowed(policy_dir):
    (broader,) = append_lines(policy_dir, "p, street_official, Concern, read, any")
    narrower = line_of(policy_dir / POLICY_FILE, "p, street_official, Concern, read, in_scope")
    assert refused(policy_dir) == [
        f"{POLICY_FILE}:{narrower}: shadowed by line {broader}: 'in_scope' adds nothing to 'any'"
    ]


def test_in_scope_next_to_in_community_is_shadowed(policy_dir):
    (narrower,) = append_lines(policy_dir, "p, grid_worker, Council, read, in_scope")
    broader = line_of(policy_dir / POLICY_FILE, "p, grid_worker, Council, read, in_community")
    assert refused(policy_dir) == [
        f"{POLICY_FILE}:{narrower}: shadowed by line {broader}: 'in_scope' adds nothing to 'in_community'"
    ]


def test_own_in_scope_next_to_own_is_shadowed(policy_dir):
    (narrower,) = append_lines(policy_dir, "p, resident, Concern, read, own_in_scope")
    broader = line_of(policy_dir / POLICY_FILE, "p, resident, Concern, read, own")
    assert refused(policy_dir) == [
        f"{POLICY_FILE}:{narrower}: shadowed by line {broader}: 'own_in_scope' adds nothing to 'own'"
    ]


def test_the_same_rule_for_another_role_is_not_shadowed(policy_dir):
    append_lines(policy_dir, "p, judge, Concern, read, own")  # residents have it too: no link
    assert check_directory(policy_dir).ok


def test_a_rule_duplicated_through_a_role_link_is_shadowed(policy_dir):
    """``g, judge, resident``: every judge rule is now also granted through resident."""
    (link,) = append_lines(policy_dir, "g, judge, resident")
    path = policy_dir / POLICY_FILE
    judge = line_of(path, "p, judge, OrgUnit, read, contains_scope")
    resident = line_of(path, "p, resident, OrgUnit, read, contains_scope")
    errors = refused(policy_dir)
    assert (
        f"{POLICY_FILE}:{judge}: shadowed by line {resident} (inherited from resident): "
        "'contains_scope' adds nothing to 'contains_scope'"
    ) in errors
    judge_lines = {rule.line for rule in parse_policy(policy_dir).rules if rule.role == "judge"}
    flagged = {int(re.match(rf"{POLICY_FILE}:(\d+): shadowed by ", e).group(1)) for e in errors}
    assert flagged <= judge_lines and judge in flagged
    assert all("(inherited from resident)" in e for e in errors)
    assert link not in flagged  # the link is fine; the rules it makes redundant are named


def test_a_rule_added_for_a_role_inherited_from_names_the_inherited_line(policy_dir):
    # secretary already has AgendaTopic create in_scope; street officials inherit it.
    link, rule = append_lines(
        policy_dir, "g, street_official, secretary", "p, street_official, AgendaTopic, create, in_scope"
    )
    secretary = line_of(policy_dir / POLICY_FILE, "p, secretary, AgendaTopic, create, in_scope")
    assert (
        f"{POLICY_FILE}:{rule}: shadowed by line {secretary} (inherited from secretary): "
        "'in_scope' adds nothing to 'in_scope'"
    ) in refused(policy_dir)


# -------------------------------------------------------------------------- role chains


@pytest.fixture
def chain_roles(monkeypatch) -> list[str]:
    """Roles enough for a chain deeper than Casbin follows (the six real roles cannot
    form one without a cycle)."""
    roles = [f"level{i}" for i in range(MAX_ROLE_DEPTH + 3)]
    monkeypatch.setattr(vocabulary, "ROLES", {**vocabulary.ROLES, **dict.fromkeys(roles, "test role")})
    return roles


def write_chain(directory: Path, roles: list[str], links: int) -> dict[tuple[str, str], int]:
    lines = [f"g, {roles[i]}, {roles[i + 1]}" for i in range(links)]
    numbers = append_lines(directory, *lines, f"p, {roles[links]}, Council, read, any")
    return {(roles[i], roles[i + 1]): numbers[i] for i in range(links)}


def test_a_role_chain_deeper_than_casbin_follows_names_the_link(policy_dir, chain_roles):
    links = write_chain(policy_dir, chain_roles, MAX_ROLE_DEPTH + 1)
    errors = refused(policy_dir)
    assert len(errors) == 1, errors
    match = re.fullmatch(
        rf"{POLICY_FILE}:(\d+): role chain (.+) is deeper than the {MAX_ROLE_DEPTH} levels Casbin follows",
        errors[0],
    )
    assert match, errors[0]
    chain = match.group(2).split(" -> ")
    assert chain == chain_roles[: len(chain)]
    assert len(chain) - 1 > MAX_ROLE_DEPTH - 1  # more links than Casbin follows
    # The line named is the link that made the chain too deep: the last one shown.
    assert int(match.group(1)) == links[(chain[-2], chain[-1])]


@pytest.mark.parametrize(
    "depth",
    [
        MAX_ROLE_DEPTH - 1,
        MAX_ROLE_DEPTH,
    ],
)
def test_a_role_chain_the_checker_accepts_is_followed_to_its_end(policy_dir, chain_roles, depth):
    write_chain(policy_dir, chain_roles, depth)
    report = check_directory(policy_dir)
    if not report.ok:
        return  # refused: fine
    actor = Actor(1, "chained", (Assignment(chain_roles[0], "/s/1"),))
    facts = Facts("/s/1/c/2", None)
    assert report.authorizer.plan(actor, "Council", "read").allows(facts)
    assert report.authorizer.decide(actor, "Council", "read", facts)


# ------------------------------------------------------------------------- policy tests


def case_text(name: str, **fields: str) -> list[str]:
    values = {
        "role": "grid_worker",
        "scope": "/s/1/c/2/g/3",
        "resource": "Concern",
        "action": "read",
        "object": "{scope: /s/1/c/2/g/3, owner: someone}",
        "expect": "allow",
        **fields,
    }
    return [f"- name: {name}", *(f"  {key}: {value}" for key, value in values.items())]


def write_cases(directory: Path, filename: str, *cases: list[str]) -> list[int]:
    """Write ``cases`` to ``tests/<filename>``; return the line of each case's ``- name``."""
    lines = ["# written by tests/test_policy_check.py", ""]
    starts = []
    for case in cases:
        starts.append(len(lines) + 1)
        lines += case
    (directory / "tests" / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return starts


def test_a_failing_policy_test_names_its_file_line_and_case(policy_dir):
    _, bad = write_cases(
        policy_dir,
        "extra.yaml",
        case_text("reads concerns of own grid"),
        case_text("reads concerns of the next grid", object="{scope: /s/1/c/2/g/4, owner: someone}"),
    )
    report = check_directory(policy_dir)
    assert report.errors == [
        f"tests/extra.yaml:{bad}: 'reads concerns of the next grid': expected allow, policy says deny"
    ]
    assert report.tests_run == SHIPPED_CASES + 2
    assert report.authorizer is None


def test_a_policy_change_that_breaks_a_shipped_test_names_that_case(policy_dir):
    remove_line(policy_dir, "p, grid_worker, Concern, read, in_scope")
    case = line_of(policy_dir / "tests" / "grid_worker.yaml", "- name: reads every concern of own grid")
    errors = refused(policy_dir)
    assert errors == [
        f"tests/grid_worker.yaml:{case}: 'reads every concern of own grid': expected allow, policy says deny"
    ]


def test_a_denied_case_that_is_allowed_fails(policy_dir):
    (bad,) = write_cases(policy_dir, "extra.yaml", case_text("does not read own grid", expect="deny"))
    assert refused(policy_dir) == [
        f"tests/extra.yaml:{bad}: 'does not read own grid': expected deny, policy says allow"
    ]


MALFORMED = {
    "unknown key": ({"colour": "red"}, "unknown key(s) colour"),
    "unknown role": ({"role": "mayor"}, "unknown role 'mayor'"),
    "expect maybe": ({"expect": "maybe"}, "expect must be allow or deny"),
    "expect yes (a YAML boolean)": ({"expect": "yes"}, "expect must be allow or deny"),
    "expect Allow": ({"expect": "Allow"}, "expect must be allow or deny"),
    "unknown resource": ({"resource": "Complaint"}, "unknown resource 'Complaint'"),
    "action not applicable": ({"action": "explain"}, "action 'explain' does not apply to Concern"),
    "bad owner": ({"object": "{scope: /s/1, owner: everyone}"}, "owner must be one of me, someone, none"),
    "object with more keys": ({"object": "{scope: /s/1, kind: grid}"}, "object has only scope"),
}


@pytest.mark.parametrize("fields, problem", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_case_names_its_file_and_line(policy_dir, fields, problem):
    _, bad = write_cases(policy_dir, "extra.yaml", case_text("fine"), case_text("broken", **fields))
    report = check_directory(policy_dir)
    assert len(report.errors) == 1, report.errors
    assert report.errors[0].startswith(f"tests/extra.yaml:{bad}: {problem}")
    assert report.tests_run == 0 and report.authorizer is None


def test_a_case_with_a_missing_field_names_its_line(policy_dir):
    case = [line for line in case_text("no expectation") if not line.startswith("  expect:")]
    _, bad = write_cases(policy_dir, "extra.yaml", case_text("fine"), case)
    assert refused(policy_dir) == [f"tests/extra.yaml:{bad}: missing expect"]


def test_every_malformed_case_is_reported_at_once(policy_dir):
    (first,) = write_cases(policy_dir, "a_extra.yaml", case_text("x", role="mayor"))
    _, second = write_cases(policy_dir, "b_extra.yaml", case_text("ok"), case_text("y", expect="perhaps"))
    assert refused(policy_dir) == [
        f"tests/a_extra.yaml:{first}: unknown role 'mayor'",
        f"tests/b_extra.yaml:{second}: expect must be allow or deny",
    ]


def test_a_tests_file_that_is_not_a_list_or_not_yaml_is_named(policy_dir):
    (policy_dir / "tests" / "mapping.yaml").write_text("# a comment\nname: not a list\n", encoding="utf-8")
    (policy_dir / "tests" / "broken.yaml").write_text("- name: [unclosed\n", encoding="utf-8")
    errors = refused(policy_dir)
    assert len(errors) == 2, errors
    assert errors[0].startswith("tests/broken.yaml: not valid YAML")
    assert errors[1] == "tests/mapping.yaml:2: expected a list of cases"


def test_a_case_with_a_list_where_a_word_belongs_names_its_line(policy_dir):
    _, bad = write_cases(
        policy_dir, "extra.yaml", case_text("fine"), case_text("listed", role="[grid_worker]")
    )
    assert refused(policy_dir) == [f"tests/extra.yaml:{bad}: unknown role ['grid_worker']"]


def test_a_directory_without_policy_tests_passes_with_a_warning(policy_dir):
    shutil.rmtree(policy_dir / "tests")
    report = check_directory(policy_dir)
    assert report.ok and report.tests_run == 0
    assert report.warnings == [f"{policy_dir / 'tests'}: no policy tests found"]


# ----------------------------------------------------------------- truncated and missing


def test_a_policy_without_its_end_marker_is_refused(policy_dir):
    lines = SHIPPED_POLICY.splitlines()[:-1]
    (policy_dir / POLICY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert refused(policy_dir) == [
        f"{POLICY_FILE}:{len(lines)}: the file does not end with {END_MARKER!r}: "
        "it is truncated or still being written"
    ]


@pytest.mark.parametrize(
    "cut_after, line_problem",
    [
        ("p, admin, AuditRec", "a rule has 4 fields"),
        ("p, admin, Policy, explain, an", "unknown relation 'an'"),
        ("p, admin, Person, read,", "empty field"),
        # Cut inside own_in_scope: what is left is a valid, broader rule.
        ("p, judge, Attendance, create, own", None),
        ("# end of pol", None),
    ],
    ids=["in a name", "in the relation", "after a comma", "leaving a valid rule", "in the marker"],
)
def test_a_policy_cut_in_the_middle_of_a_line_is_refused(policy_dir, cut_after, line_problem):
    text = SHIPPED_POLICY[: SHIPPED_POLICY.index(cut_after) + len(cut_after)]
    (policy_dir / POLICY_FILE).write_text(text, encoding="utf-8")
    last = len(text.splitlines())
    errors = refused(policy_dir)
    marker = f"{POLICY_FILE}:{last}: the file does not end with {END_MARKER!r}"
    assert errors[-1].startswith(marker), errors
    if line_problem is None:
        assert len(errors) == 1
    else:
        assert len(errors) == 2 and errors[0].startswith(f"{POLICY_FILE}:{last}: ")
        assert line_problem in errors[0]


def test_a_policy_cut_anywhere_in_its_last_lines_is_refused(policy_dir):
    path = policy_dir / POLICY_FILE
    body = SHIPPED_POLICY.rstrip("\n")
    for cut in range(len(body) - 150, len(body)):
        text = body[:cut]
        path.write_text(text, encoding="utf-8")
        errors = check_directory(policy_dir).errors
        assert any(
            e.startswith(f"{POLICY_FILE}:{len(text.splitlines())}: the file does not end with")
            for e in errors
        ), (cut, text[-40:], errors)
    path.write_text(body, encoding="utf-8")  # complete, only the final newline missing
    assert check_directory(policy_dir).ok


@pytest.mark.parametrize("name", [POLICY_FILE, MODEL_FILE])
def test_a_missing_file_is_refused(policy_dir, name):
    (policy_dir / name).unlink()
    (error,) = refused(policy_dir)
    assert error.startswith(f"{policy_dir / name}: cannot read: ")
    assert "No such file or directory" in error


# --------------------------------------------------------------------- access changes


def test_an_unchanged_policy_has_no_access_change():
    current = parse_policy(POLICY_DIR)
    assert describe_changes(current, current) == []


def test_an_added_and_a_removed_rule_are_described(policy_dir):
    append_lines(policy_dir, "p, judge, AgendaTopic, create, in_scope")
    remove_line(policy_dir, "p, judge, Meeting, read, in_scope")
    changes = describe_changes(parse_policy(POLICY_DIR), parse_policy(policy_dir))
    assert changes == [
        "+ judge gains create on AgendaTopic (in_scope)",
        "- judge loses read on Meeting (in_scope)",
    ]
    report = check_directory(policy_dir, against=POLICY_DIR)
    assert report.ok, report.errors
    assert report.changes == changes
    # The other way round, the same change undone.
    assert describe_changes(parse_policy(policy_dir), parse_policy(POLICY_DIR)) == [
        "+ judge gains read on Meeting (in_scope)",
        "- judge loses create on AgendaTopic (in_scope)",
    ]


def test_a_role_link_is_described_as_the_rules_it_passes_on(policy_dir):
    append_lines(policy_dir, "g, resident, judge")
    changes = describe_changes(parse_policy(POLICY_DIR), parse_policy(policy_dir))
    assert "+ resident gains read on Council (in_scope)" in changes
    assert "+ resident gains create on Attendance (own_in_scope)" in changes
    assert all(line.startswith("+ resident gains ") for line in changes), changes


def test_comparing_with_a_broken_policy_is_a_warning(policy_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    report = check_directory(POLICY_DIR, against=broken)
    assert report.ok and report.changes == []
    assert len(report.warnings) == 1 and report.warnings[0].startswith(f"cannot compare with {broken}: ")


# ------------------------------------------------------------------------ command line


def run_check(*args: str, policy_dir: Path = POLICY_DIR) -> subprocess.CompletedProcess:
    env = {**os.environ, "BANDENG_POLICY_DIR": str(policy_dir)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "policy", "check", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_passes_the_shipped_policy():
    result = run_check(str(POLICY_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok: {POLICY_DIR}" in result.stdout
    assert f"{SHIPPED_CASES} policy tests passed" in result.stdout
    assert "error:" not in result.stdout and "access change" not in result.stdout


def test_cli_refuses_a_broken_directory_with_file_and_line(policy_dir):
    model_line = replace_in_model(
        policy_dir, CANONICAL_MATCHER, CANONICAL_MATCHER.replace("r.obj == p.obj", "keyMatch(r.obj, p.obj)")
    )
    result = run_check(str(policy_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"error: {MODEL_FILE}:{model_line}: matcher function(s) keyMatch cannot be translated"
        in result.stdout
    )
    assert f"FAILED: 1 problem(s) in {policy_dir}; nothing was changed" in result.stdout
    assert "Traceback" not in result.stderr


def test_cli_checks_the_configured_directory_by_default(policy_dir):
    lines = SHIPPED_POLICY.splitlines()[:-1]
    (policy_dir / POLICY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_check(policy_dir=policy_dir)
    assert result.returncode == 1
    assert f"error: {POLICY_FILE}:{len(lines)}: the file does not end with" in result.stdout


def test_cli_shows_the_access_change_against_the_policy_in_force(policy_dir):
    append_lines(policy_dir, "p, judge, AgendaTopic, create, in_scope")
    remove_line(policy_dir, "p, judge, Meeting, read, in_scope")
    result = run_check(str(policy_dir))  # --against defaults to BANDENG_POLICY_DIR
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"access change against {POLICY_DIR}:" in result.stdout
    assert "  + judge gains create on AgendaTopic (in_scope)\n" in result.stdout
    assert "  - judge loses read on Meeting (in_scope)\n" in result.stdout

    reverse = run_check(str(POLICY_DIR), "--against", str(policy_dir))
    assert reverse.returncode == 0, reverse.stdout + reverse.stderr
    assert f"access change against {policy_dir}:" in reverse.stdout
    assert "  + judge gains read on Meeting (in_scope)\n" in reverse.stdout
    assert "  - judge loses create on AgendaTopic (in_scope)\n" in reverse.stdout
