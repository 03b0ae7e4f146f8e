"""Error masking: expected errors reach the client with their code, the rest is logged."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from services.errors import BandengError

log = logging.getLogger("bandeng.errors")


def should_mask(error: GraphQLError) -> bool:
    """Mask what we did not raise on purpose; syntax/validation errors pass unmasked."""
    original = error.original_error
    if original is None or isinstance(original, BandengError):
        return False
    # Errors raised by graphql-core itself while coercing values are the client's fault.
    return not (isinstance(original, GraphQLError))


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message="Internal error; it has been logged.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        log.error("unexpected error at %s", error.path, exc_info=error.original_error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked
