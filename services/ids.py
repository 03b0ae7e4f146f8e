"""Parsing what clients send: ids and free text."""

from services.errors import BadUserInput


def parse_id(value: object, argument: str = "id") -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise BadUserInput(f"{value!r} is not a valid id.", argument=argument) from None
    if number <= 0 or number > 2**31 - 1:
        raise BadUserInput(f"{value!r} is not a valid id.", argument=argument)
    return number


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
