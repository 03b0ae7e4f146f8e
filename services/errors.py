"""Errors a client is meant to see, each with a stable ``extensions.code``.

graphql-core copies an original exception's ``extensions`` onto the GraphQL error,
so services raise these and the schema layer needs no mapping. Anything else is
unexpected: it is logged and masked (see ``schema/extensions.py``).
"""

from __future__ import annotations

from tortoise.exceptions import DBConnectionError

# Exceptions that mean "the database is not there", not "the code is wrong".
DATABASE_DOWN = (DBConnectionError, ConnectionError, TimeoutError, OSError)


class BandengError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **details: object):
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, object] = {"code": self.code, **details}


class Unauthenticated(BandengError):
    code = "UNAUTHENTICATED"


class Forbidden(BandengError):
    code = "FORBIDDEN"

    def __init__(self, message: str, *, resource: str | None = None, action: str | None = None):
        super().__init__(message)
        self.resource = resource  # for the audit log, not sent to the client
        self.action = action


class NotFound(BandengError):
    code = "NOT_FOUND"


class BadUserInput(BandengError):
    code = "BAD_USER_INPUT"


class ServiceUnavailable(BandengError):
    code = "SERVICE_UNAVAILABLE"
