"""
Opaque, signed cursors for the JSON API's keyset pagination.

A cursor is a short list of integers, serialized and signed with
:mod:`django.core.signing` under a salt per kind of cursor.  A client hands
it back unchanged in the ``next`` URL; a cursor that was altered, made up,
signed for another kind of page or with another ``SECRET_KEY`` fails the
signature check and is reported as a bad parameter, never as a server
error.  Rotating ``SECRET_KEY`` without ``SECRET_KEY_FALLBACKS`` therefore
invalidates the cursors clients hold; they start again from the first page.
"""

import datetime
import logging

from django.core import signing

from .exceptions import ParameterError

logger = logging.getLogger(__name__)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def dump_cursor(kind: str, values: list[int]) -> str:
    """Return a signed, URL-safe token holding integers."""
    return signing.dumps(values, salt=f"batchrun.cursor.{kind}", compress=False)


def load_cursor(kind: str, token: str, parameter: str, length: int) -> list[int]:
    """Return the integers of a token made by :func:`dump_cursor`."""
    try:
        values = signing.loads(token, salt=f"batchrun.cursor.{kind}")
    except signing.BadSignature:
        logger.warning("Rejected a cursor with a bad signature parameter=%s", parameter)
        values = None
    except (ValueError, UnicodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != length
        or not all(type(value) is int for value in values)
    ):
        msg = (
            f"{parameter} is malformed or was altered; pass the next URL of "
            f"an earlier response unchanged, or leave {parameter} out to start "
            "from the beginning."
        )
        raise ParameterError(parameter, msg)
    return values


def datetime_to_int(value: datetime.datetime) -> int:
    """Return an aware datetime as whole microseconds since the Unix epoch."""
    return (value - _EPOCH) // _MICROSECOND


def int_to_datetime(value: int) -> datetime.datetime:
    """Return the aware UTC datetime of :func:`datetime_to_int`'s result."""
    return _EPOCH + value * _MICROSECOND
