"""
Read and check the query parameters of the JSON API.

Each reader returns a Python value or raises
:class:`~batchrun.exceptions.ParameterError` naming the parameter and what it
allows, which the views turn into a 400 response.  An empty value, as an
HTML form sends for an empty field (``?job=&status=``), counts as absent.
Values are checked for range before they reach the database, so that no
input can make a query fail (PostgreSQL rejects an ``integer`` out of range).
"""

import datetime
import re
from collections.abc import Iterable

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .exceptions import ParameterError

MAX_ID = 2**63 - 1
MIN_INT32 = -(2**31)
MAX_INT32 = 2**31 - 1

# "+03:00" arrives as " 03:00" when a client forgets to encode the "+".
_SPACE_FOR_PLUS = re.compile(r"(.*\d) (\d\d(?::?\d\d)?)")


def check_known(query: QueryDict, allowed: Iterable[str]) -> None:
    """Raise ParameterError for a parameter name the endpoint does not know."""
    allowed = list(allowed)
    for name in query:
        if name not in allowed:
            msg = f"Unknown parameter {name!r}; this endpoint takes " + (
                ", ".join(allowed) + "."
            )
            raise ParameterError(name, msg)


def get_single(query: QueryDict, name: str) -> str | None:
    """Return the one value of a parameter, or None when it is absent or empty."""
    values = [value for value in query.getlist(name) if value.strip()]
    if len(values) > 1:
        msg = f"Give {name} at most once; it was given {len(values)} times."
        raise ParameterError(name, msg)
    return values[0].strip() if values else None


def parse_integer(value: str, name: str, low: int, high: int, what: str) -> int:
    """Return value as an integer from low to high, or raise ParameterError."""
    text = value.strip()
    if re.fullmatch(r"[+-]?[0-9]{1,25}", text, flags=re.ASCII):
        number = int(text)
        if low <= number <= high:
            return number
    msg = f"{name} must be {what}, not {value!r}."
    raise ParameterError(name, msg)


def parse_id(value: str, name: str) -> int:
    """Return value as a database id (a positive 64-bit integer)."""
    return parse_integer(value, name, 1, MAX_ID, "a positive integer id")


def get_id(query: QueryDict, name: str) -> int | None:
    value = get_single(query, name)
    return None if value is None else parse_id(value, name)


def get_int32(query: QueryDict, name: str) -> int | None:
    value = get_single(query, name)
    if value is None:
        return None
    what = f"an integer from {MIN_INT32} to {MAX_INT32}"
    return parse_integer(value, name, MIN_INT32, MAX_INT32, what)


def get_limit(query: QueryDict, default: int, maximum: int) -> int:
    value = get_single(query, "limit")
    if value is None:
        return default
    return parse_integer(value, "limit", 1, maximum, f"an integer from 1 to {maximum}")


def get_choices(query: QueryDict, name: str, choices: Iterable[str]) -> list[str]:
    """
    Return the values of a parameter that may be repeated or comma-separated.

    ``?status=failed&status=lost`` and ``?status=failed,lost`` both give
    ``["failed", "lost"]``.
    """
    choices = list(choices)
    found: list[str] = []
    for value in query.getlist(name):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if part not in choices:
                msg = f"Unknown {name} {part!r}; use one or several of " + (
                    ", ".join(choices) + "."
                )
                raise ParameterError(name, msg)
            if part not in found:
                found.append(part)
    return found


def get_datetime(query: QueryDict, name: str) -> datetime.datetime | None:
    """
    Return an ISO 8601 date or date and time as an aware datetime.

    A time without an offset, or a date alone (midnight), is read in the
    current time zone, like a Django form field reads it.
    """
    value = get_single(query, name)
    if value is None:
        return None
    try:
        parsed = _parse_datetime(value)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        if parsed is not None:
            # Fails for instants that have no UTC equivalent (year 1 at +14).
            parsed.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        msg = (
            f"{name} must be an ISO 8601 date or date and time such as "
            f"2024-05-01 or 2024-05-01T13:30:00+03:00, not {value!r}."
        )
        raise ParameterError(name, msg)
    return parsed


def _parse_datetime(value: str) -> datetime.datetime | None:
    parsed = parse_datetime(value)
    if parsed is None:
        match = _SPACE_FOR_PLUS.fullmatch(value)
        if match:
            parsed = parse_datetime(f"{match.group(1)}+{match.group(2)}")
    if parsed is None:
        day = parse_date(value)
        if day is not None:
            parsed = datetime.datetime.combine(day, datetime.time())
    return parsed
