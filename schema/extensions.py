"""Error handling: every error carries ``extensions.code``; unexpected ones are masked
and logged, so no exception text or stack detail reaches a client."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from services.errors import BandengError, is_database_down

log = logging.getLogger("bandeng.errors")


def should_mask(error: GraphQLError) -> bool:
    """Mask what we did not raise on purpose; parse/validation errors pass unmasked."""
    original = error.original_error
    if original is None or isinstance(original, BandengError | GraphQLError):
        return False
    return True


def request_error_code(error: GraphQLError) -> str:
    """A code for errors that graphql-core raises about the request itself."""
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable ") and any(
        phrase in error.message for phrase in _COERCION_FAILURES
    ):
        return "BAD_USER_INPUT"  # the document is valid; a value the client sent is not
    return "GRAPHQL_VALIDATION_FAILED"


# graphql-core's words for a variable's value that cannot be coerced (values.py), as
# against the document's own mistakes ("is never used", "is not defined", ...).
_COERCION_FAILURES = ("has invalid value", "got invalid value", "was not provided", "must not be null")


def classify_errors(errors: list[GraphQLError]) -> None:
    """Give request errors their code and log the unexpected ones (before masking).

    Called from ``BandengSchema.process_errors``, which Strawberry runs for parse and
    validation errors too, where extensions' hooks are not reached."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": request_error_code(error)}
        elif is_database_down(original):  # an outage, not a bug: no stack trace per field
            log.warning("database unavailable at %s: %s: %s", error.path, type(original).__name__, original)
        elif not isinstance(original, BandengError):
            log.error("unexpected error at %s", error.path, exc_info=original)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message="Internal error; it has been logged.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        if error.original_error is not None and is_database_down(error.original_error):
            masked.message = "The service cannot reach its database. Try again shortly."
            masked.extensions = {"code": "SERVICE_UNAVAILABLE"}
        else:
            masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked
