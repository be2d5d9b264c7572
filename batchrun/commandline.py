"""
Build a job's argument vector from its command and arguments.

A command's parameter format string, such as ``--rent-id {rent_id}``, is
split once with :func:`shlex.split`.  Each placeholder is then filled inside
the argument it stands in, so a value never becomes two arguments, and no
shell ever sees the result: ``{"rent_id": "1; rm -rf /"}`` gives the single
argument ``--rent-id`` followed by ``1; rm -rf /``, byte for byte.
"""

import shlex
import string
import sys

from .exceptions import CommandLineError

_FORMATTER = string.Formatter()


def split_format_string(format_string: str) -> list[str]:
    """Split a parameter format string into argument templates."""
    if "\0" in format_string:
        raise CommandLineError("The parameter format string contains a NUL byte.")
    try:
        return shlex.split(format_string)
    except ValueError as error:
        msg = f"The parameter format string cannot be split: {error}."
        raise CommandLineError(msg) from error


def get_placeholders(format_string: str) -> list[str]:
    """Return the placeholder names of a format string, in order, once each."""
    names = []
    for template in split_format_string(format_string):
        for name in _template_placeholders(template):
            if name not in names:
                names.append(name)
    return names


def _template_placeholders(template: str) -> list[str]:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as error:
        msg = f"Invalid placeholder in {template!r}: {error}."
        raise CommandLineError(msg) from error
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            msg = (
                f"Invalid placeholder {{{name}}} in {template!r}: placeholders "
                "are plain names such as {rent_id}, without attributes, "
                "indexes or formats."
            )
            raise CommandLineError(msg)
        names.append(name)
    return names


def format_value(value) -> str:
    """Return the argument text of one JSON value (string, number, bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    msg = f"Argument value {value!r} is not a string, number or boolean."
    raise CommandLineError(msg)


def fill_arguments(format_string: str, arguments: dict) -> list[str]:
    """Return the argument list of a format string filled with arguments."""
    names = get_placeholders(format_string)
    missing = [name for name in names if name not in arguments]
    if missing:
        msg = "Missing arguments: {}.".format(", ".join(missing))
        raise CommandLineError(msg)
    values = {name: format_value(arguments[name]) for name in names}
    argv = [
        template.format_map(values) for template in split_format_string(format_string)
    ]
    for argument in argv:
        if "\0" in argument:
            raise CommandLineError("An argument value contains a NUL byte.")
    return argv


def get_program_prefix(
    command_type: str, name: str, manage_py: str | None
) -> list[str]:
    """Return the argv prefix that starts a command of the given type."""
    if command_type == "django":
        if manage_py:
            return [sys.executable, manage_py, name]
        return [sys.executable, "-m", "django", name]
    return [name]
