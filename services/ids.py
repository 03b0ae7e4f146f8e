"""Parsing what clients send: ids and free text."""

import re

from services.errors import BadUserInput

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,9}")  # ASCII digits only: no sign, space, `_` or `01`
ID_RULE = f"ids are decimal numbers from 1 to {MAX_ID}, written without sign, spaces or leading zeros"


def is_canonical_id(text: str) -> bool:
    """Whether ``text`` is an id as this API writes them (``"42"``, never ``" 42"`` or ``"042"``)."""
    return _CANONICAL_ID.fullmatch(text) is not None and int(text) <= MAX_ID


def bad_id(argument: str) -> BadUserInput:
    """The refusal of a value that is not an id (the value is not echoed)."""
    return BadUserInput(f"`{argument}` is not an id: {ID_RULE}.", argument=argument)


def parse_id(value: object, argument: str = "id") -> int:
    """An id the client sent (a canonical decimal string, or an int in range) as an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value <= MAX_ID:
            return value
    elif isinstance(value, str) and is_canonical_id(value):
        return int(value)
    raise bad_id(argument)


def text_problem(value: str) -> str | None:
    """What makes ``value`` unfit to store or to print, if anything: a NUL (PostgreSQL
    refuses it in text) or a lone surrogate (not Unicode: no UTF-8 encodes it)."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which is not allowed"
    if value.isascii():
        return None
    try:
        value.encode("utf-8")  # in C: far faster than a regular expression over the text
    except UnicodeEncodeError as error:
        return f"contains a lone surrogate (U+{ord(value[error.start]):04X}), which is not valid Unicode"
    return None


def camel(name: str) -> str:
    """The API's name of an argument: ``unit_id`` -> ``unitId``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def clean_text(value: str | None, field: str, limit: int, *, required: bool = True) -> str:
    """Stripped text of at most ``limit`` characters; BAD_USER_INPUT naming ``field`` otherwise."""
    value = (value or "").strip()
    if required and not value:
        raise BadUserInput(f"`{field}` must not be empty.", argument=field)
    if len(value) > limit:
        raise BadUserInput(f"`{field}` is longer than {limit} characters.", argument=field)
    return value
