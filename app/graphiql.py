"""GraphiQL served by Bandeng itself: no CDN, so it works on intranets without internet.

``app/graphiql_assets/index.html`` is strawberry's GraphiQL page with its scripts and styles
pointed at ``STATIC_URL``, where ``STATIC_DIR`` holds byte-identical copies of the files
strawberry loads from a CDN (same ``integrity`` hashes; licenses in ``LICENSES.txt``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

GRAPHIQL_DIR = Path(__file__).resolve().parent / "graphiql_assets"
STATIC_DIR = GRAPHIQL_DIR / "static"
STATIC_URL = "/graphiql/static"

# A <script> with no attributes is inline (the page's bootstrap); the others have ``src``.
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def page_html() -> str:
    """The GraphiQL page.

    Like strawberry's ``get_graphql_ide_html`` (strawberry/http/ides.py), which in 0.341
    returns the file as it is: the page has no template placeholders to fill in.
    """
    return (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")


def content_security_policy(html: str) -> str:
    """Only this origin; inline scripts only by hash (the bootstrap of ``html``).

    Styles need ``'unsafe-inline'``: the page has an inline <style>, and GraphiQL's dialogs
    (react-style-singleton) add <style> elements at run time without a usable nonce. The
    favicon and GraphiQL's fonts and images are ``data:`` URLs.
    """
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *hashes]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
