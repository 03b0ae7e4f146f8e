"""GraphiQL at /graphql is self-contained: its scripts and styles come from this service."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from app import graphiql

ROOT = Path(__file__).resolve().parent.parent
HTML = {"Accept": "text/html"}


class _Assets(HTMLParser):
    """Every <script src> and <link href> with its attributes; the inline script bodies."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.refs.append((tag, attrs))
        elif tag == "script":
            self._in_inline_script = True
            self.inline_scripts.append("")
        elif tag == "link" and attrs.get("href"):
            self.refs.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script:
            self.inline_scripts[-1] += data


async def _page(demo):
    async with demo.client(None) as client:
        return await client.get("/graphql", headers=HTML)


def _parse(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    parser.close()
    return parser


def _csp(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


async def test_graphiql_page_is_served(demo):
    response = await _page(demo)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "GraphiQL.createFetcher" in response.text
    assert response.text == graphiql.page_html()


async def test_every_asset_is_same_origin(demo):
    response = await _page(demo)
    refs = _parse(response.text).refs
    assert len([r for r in refs if r[0] == "script"]) == 5
    assert len([r for r in refs if r[1].get("rel") == "stylesheet"]) == 2
    for tag, attrs in refs:
        url = attrs.get("src") or attrs["href"]
        parts = urlsplit(url)
        if tag == "link" and attrs.get("rel") == "icon":
            assert parts.scheme == "data", url  # the inline favicon: no request at all
            continue
        assert not parts.scheme and not parts.netloc, url
        assert url.startswith(graphiql.STATIC_URL + "/"), url
    assert "unpkg" not in response.text


async def test_every_asset_is_served_byte_identical(demo):
    response = await _page(demo)
    refs = [attrs for _, attrs in _parse(response.text).refs if attrs.get("rel") != "icon"]
    async with demo.client(None) as client:
        for attrs in refs:
            url = urljoin("http://test/graphql", attrs.get("src") or attrs["href"])
            asset = await client.get(url)
            assert asset.status_code == 200, url
            content_type = asset.headers["content-type"].split(";")[0]
            if url.endswith(".js"):
                assert content_type in ("text/javascript", "application/javascript"), url
            else:
                assert url.endswith(".css") and content_type == "text/css", url
            # The same bytes strawberry loads from the CDN: the integrity hash still holds.
            digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
            assert attrs["integrity"] == f"sha384-{digest}", url


async def test_only_the_static_folder_is_served(demo):
    async with demo.client(None) as client:
        for url in [
            "/graphiql/static/",
            "/graphiql/static/missing.js",
            "/graphiql/index.html",
            "/graphiql/LICENSES.txt",
            "/graphiql/static/%2e%2e/index.html",
        ]:
            assert (await client.get(url)).status_code == 404, url


async def test_csp_allows_only_this_origin(demo):
    response = await _page(demo)
    directives = _csp(response.headers["content-security-policy"])
    assert directives["default-src"] == ["'none'"]
    for name in ("script-src", "style-src", "connect-src"):
        assert "'self'" in directives[name], name
    allowed = {"'self'", "'none'", "'unsafe-inline'", "data:"}
    for name, sources in directives.items():
        for source in sources:
            assert source in allowed or re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", source), (name, source)
    # Scripts: no blanket inline or eval, only the page's own bootstrap by hash.
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    inline = _parse(response.text).inline_scripts
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert directives["script-src"] == ["'self'", f"'sha256-{digest}'"]


async def test_headers_are_not_persisted(demo):
    html = (await _page(demo)).text
    assert re.findall(r"shouldPersistHeaders:\s*(\w+)", html) == ["false"]
    assert 'localStorage.removeItem("graphiql:headers")' in html
    assert "defaultHeaders: DEFAULT_HEADERS_TEXT" in html
    assert '{"Authorization": "Bearer <paste a token from bandeng serve --demo>"}' in html


async def test_queries_still_work_next_to_the_page(demo):
    # What a browser sends when it follows a link (an Accept naming only text/html is 406:
    # GraphQL answers are JSON, see test_http_protocol.py).
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    async with demo.client(None) as client:
        response = await client.get("/graphql", params={"query": "{ __typename }"}, headers=browser)
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("name", sorted(p.name for p in graphiql.STATIC_DIR.iterdir()))
def test_asset_is_package_data_and_licensed(name):
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "app"
    ]
    relative = (graphiql.STATIC_DIR / name).relative_to(ROOT / "app").as_posix()
    assert any(fnmatch(relative, p) for p in patterns), relative
    assert name in (graphiql.GRAPHIQL_DIR / "LICENSES.txt").read_text()


def test_page_and_licenses_are_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "app"
    ]
    for path in graphiql.GRAPHIQL_DIR.iterdir():
        if path.is_file():
            relative = path.relative_to(ROOT / "app").as_posix()
            assert any(fnmatch(relative, p) for p in patterns), relative
