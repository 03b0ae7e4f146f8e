"""The GraphQL operation of the request, for its log line and metrics (services.metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from services import metrics


class NoteOperation(SchemaExtension):
    """Names the request's operation once its document has passed validation (a name from
    a valid document, not any string a client sends)."""

    def on_execute(self) -> Iterator[None]:
        metrics.note_operation(self.execution_context.operation_name)
        yield
