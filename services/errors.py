"""Errors a client is meant to see, each with a stable ``extensions.code``.

graphql-core copies an original exception's ``extensions`` onto the GraphQL error,
so services raise these and the schema layer needs no mapping. Anything else is
unexpected: it is logged and masked (see ``schema/extensions.py``).
"""

from __future__ import annotations

import sqlite3

import asyncpg
from tortoise.exceptions import BaseORMException, DBConnectionError

# Exceptions that mean "the database is not there, overloaded or too slow", not "the code
# is wrong" (see ``is_database_down``, which also looks inside the ORM's wrappers).
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    DBConnectionError,
    ConnectionError,  # refused, reset, aborted
    TimeoutError,  # connect, pool acquire, command timeout (asyncio.TimeoutError is this)
    OSError,  # unreachable host, name resolution (but see _FILESYSTEM)
    asyncpg.PostgresConnectionError,  # class 08: ConnectionDoesNotExist, ConnectionFailure, ...
    asyncpg.exceptions.OperatorInterventionError,  # 57: QueryCanceled (statement timeout),
    # AdminShutdown, CrashShutdown, CannotConnectNow (starting up, recovering)
    asyncpg.exceptions.InsufficientResourcesError,  # 53: TooManyConnections, DiskFull, OutOfMemory
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
)
# OSErrors that are about files, not about reaching a server: a bug or a broken install.
_FILESYSTEM = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
# asyncpg's InterfaceError also reports misuse of the API (a bug); only these messages say
# that the connection went away or is still cancelling a statement that timed out.
_LOST_CONNECTION_WORDS = ("closed", "closing", "cancelling")


def _is_down(exc: BaseException) -> bool:
    if isinstance(exc, _FILESYSTEM):
        return False
    if isinstance(exc, DATABASE_DOWN):
        return True
    if type(exc) is asyncpg.InterfaceError:
        return any(word in str(exc) for word in _LOST_CONNECTION_WORDS)
    if isinstance(exc, sqlite3.OperationalError):  # SQLite's busy timeout ran out
        return "database is locked" in str(exc)
    return False


def is_database_down(exc: BaseException) -> bool:
    """Is ``exc`` a database fault (client answer SERVICE_UNAVAILABLE) rather than a bug?

    Tortoise wraps driver errors in its own (``OperationalError``,
    ``TransactionManagementError``, ...) with the driver's error as ``__cause__``; those
    wrappers are looked through, so a lost connection inside one is "down" while a
    constraint violation (``IntegrityError`` from ``UniqueViolationError``) stays a bug.
    Other exceptions are judged by themselves, not by what they were raised during."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_down(current):
            return True
        if not isinstance(current, BaseORMException):
            return False
        current = current.__cause__ or current.__context__
    return False


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
