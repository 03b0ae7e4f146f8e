"""policies/scopes.py: scope paths compared by whole segments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import scopes
from policies.scopes import GLOBAL, ancestors, child_path, community_of, is_under

GRID = "/s/1/c/4/g/9"


@pytest.mark.parametrize(
    "path, scope",
    [
        ("/s/1/c/4", "/s/1/c/4"),  # a scope contains itself
        ("/s/1/c/4/g/9", "/s/1/c/4"),
        ("/s/1/c/4/g/9", "/s/1"),
        ("/s/1/c/40/g/9", "/s/1"),
        ("/s/1", GLOBAL),  # the global scope contains everything
        (GLOBAL, GLOBAL),
    ],
)
def test_is_under(path, scope):
    assert is_under(path, scope)


@pytest.mark.parametrize(
    "path, scope",
    [
        ("/s/1/c/40", "/s/1/c/4"),  # whole segments: community 4 is not community 40
        ("/s/1/c/40/g/9", "/s/1/c/4"),
        ("/s/10", "/s/1"),
        ("/s/10/c/4", "/s/1"),
        ("/s/1/c/4/g/90", "/s/1/c/4/g/9"),
        ("/s/1/c/4", "/s/1/c/4/g/9"),  # a parent is not under its child
        ("/s/1/v/4", "/s/1/c/4"),  # a village is not the community with the same number
        ("/s/2/c/4", "/s/1/c/4"),
        (GLOBAL, "/s/1"),  # nothing but the global scope contains the global path
    ],
)
def test_is_not_under(path, scope):
    assert not is_under(path, scope)


def test_ancestors():
    assert ancestors(GRID) == ["/s/1", "/s/1/c/4", "/s/1/c/4/g/9"]
    assert ancestors("/s/1/c/4") == ["/s/1", "/s/1/c/4"]
    assert ancestors("/s/12") == ["/s/12"]
    assert ancestors("/s/1/v/40/g/400") == ["/s/1", "/s/1/v/40", "/s/1/v/40/g/400"]
    assert ancestors(GLOBAL) == []


@pytest.mark.parametrize(
    "path, community",
    [
        (GRID, "/s/1/c/4"),  # a grid: its community
        ("/s/1/v/7/g/3", "/s/1/v/7"),  # a grid of a village: its village
        ("/s/1/c/4", "/s/1/c/4"),  # a community: itself
        ("/s/1/v/7", "/s/1/v/7"),
        ("/s/1", "/s/1"),  # a street (above any community): itself
        (GLOBAL, GLOBAL),
    ],
)
def test_community_of(path, community):
    assert community_of(path) == community


def test_child_path():
    assert child_path("", "s", 1) == "/s/1"
    assert child_path("/s/1", "c", 4) == "/s/1/c/4"
    assert child_path("/s/1/c/4", "g", 40) == "/s/1/c/4/g/40"


# Well-formed paths: street, then optionally a community or village, then optionally a grid.
ids = st.integers(1, 120)
paths = st.builds(
    lambda s, group, grid: "".join(
        [f"/s/{s}"]
        + ([f"/{group[0]}/{group[1]}"] if group else [])
        + ([f"/g/{grid}"] if group and grid else [])
    ),
    ids,
    st.none() | st.tuples(st.sampled_from(scopes.COMMUNITY_LETTERS), ids),
    st.none() | ids,
)


@given(path=paths, scope=paths)
def test_is_under_means_the_scope_is_an_ancestor(path, scope):
    assert is_under(path, scope) == (scope in ancestors(path))
    assert is_under(path, GLOBAL)


@given(path=paths)
def test_community_of_is_an_ancestor_that_contains_the_path(path):
    community = community_of(path)
    assert community in ancestors(path)
    assert is_under(path, community)
    assert ancestors(path)[-1] == path
