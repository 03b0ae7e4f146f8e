"""Production mode's GraphQL side: trusted documents and hidden field suggestions.

**Trusted documents** (``BANDENG_TRUSTED_DOCUMENTS``): a JSON manifest mapping the SHA-256
(lower-case hex) of each document to the document's exact text, the file GraphQL Codegen's
client preset writes with ``persistedDocuments: {hashAlgorithm: "sha256"}``
(``persisted-documents.json``), and what ``bandeng documents hash FILE…`` prints. Keys may
also be written ``sha256:<hex>``. With a manifest in force a request names its document by

- ``documentId`` (JSON body or GET parameter): ``"sha256:<hex>"`` or ``"<hex>"``, or
- ``extensions.persistedQuery.sha256Hash`` (Apollo's automatic persisted queries shape),

and a free-text ``query`` runs only when it is, byte for byte, a registered document.
Anything else is refused before parsing: ``PERSISTED_QUERY_NOT_FOUND`` (unknown id) or
``PERSISTED_QUERY_REQUIRED`` (unregistered text). Registering new documents at run time
(Apollo APQ's second step) is refused too: only the build's manifest counts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

HEX = re.compile(r"[0-9a-f]{64}")


def document_hash(text: str) -> str:
    """The manifest key of a document: SHA-256 of its UTF-8 text, lower-case hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bare(document_id: str) -> str:
    text = document_id.strip().lower()
    return text.removeprefix("sha256:")


def load_manifest(path: Path) -> dict[str, str]:
    """Read and check a manifest: every key must be the hash of its document."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"BANDENG_TRUSTED_DOCUMENTS={path}: cannot read the manifest: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"BANDENG_TRUSTED_DOCUMENTS={path}: expected a JSON object {{sha256: document}}")
    manifest = {}
    for key, document in raw.items():
        bare = _bare(key)
        if not isinstance(document, str) or not HEX.fullmatch(bare) or document_hash(document) != bare:
            raise ValueError(
                f"BANDENG_TRUSTED_DOCUMENTS={path}: entry {key!r} is not the SHA-256 of its document"
            )
        manifest[bare] = document
    return manifest


def _refusal(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class TrustedDocuments(SchemaExtension):
    """Run only the documents of the manifest (see the module docstring)."""

    def __init__(self, manifest: dict[str, str]):
        self.manifest = manifest

    async def _document_id(self) -> str | None:
        ctx = self.execution_context
        persisted = (ctx.operation_extensions or {}).get("persistedQuery")
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            return persisted["sha256Hash"]
        request = getattr(ctx.context, "request", None)
        if request is None:
            return None
        if request.method == "GET":
            return request.query_params.get("documentId")
        body = await request.body()  # already read (and cached) by the view
        if b'"documentId"' not in body:
            return None
        data = json.loads(body)
        value = data.get("documentId") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        document_id = await self._document_id()
        if document_id is not None:
            document = self.manifest.get(_bare(document_id))
            if document is None:
                raise _refusal(
                    f"No trusted document has the id {document_id[:80]!r}.", "PERSISTED_QUERY_NOT_FOUND"
                )
            if ctx.query and ctx.query != document:
                raise _refusal("The query does not match the document id.", "PERSISTED_QUERY_REQUIRED")
            ctx.query = document
        elif ctx.query and document_hash(ctx.query) not in self.manifest:
            raise _refusal(
                "Only trusted documents run here: send `documentId` (sha256:<hex>) of a registered "
                "document instead of `query`.",
                "PERSISTED_QUERY_REQUIRED",
            )
        yield


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class HideSuggestions(MaskErrors):
    """Strip graphql-core's "Did you mean …?" hints, which spell out the schema to a caller
    who may not introspect it. (Strawberry does not pass graphql-core's
    ``hide_suggestions`` to validation, so the text is removed afterwards.)"""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: "Did you mean" in error.message)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error.message = SUGGESTION.sub("", error.message)
        return error
