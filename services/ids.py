"""Parsing ids that clients send."""

from services.errors import BadUserInput


def parse_id(value: object, argument: str = "id") -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise BadUserInput(f"{value!r} is not a valid id.", argument=argument) from None
    if number <= 0 or number > 2**31 - 1:
        raise BadUserInput(f"{value!r} is not a valid id.", argument=argument)
    return number
