"""Building argument vectors: one argument per placeholder, never a shell."""

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrun.commandline import (
    fill_arguments,
    format_value,
    get_placeholders,
    get_program_prefix,
)
from batchrun.exceptions import CommandLineError
from batchrun.models import Command

HOSTILE_VALUES = {
    "semicolon": "1; rm -rf /",
    "command-substitution": "$(id)",
    "backticks": "`id`",
    "quotes": 'it\'s "quoted"',
    "newline": "line one\nline two",
    "leading-option": "--x",
    "empty": "",
    "spaces": "  two  spaces  ",
    "glob": "*",
    "backslashes": "a\\b\\\\c",
    "braces": "{rent_id} {{x}}",
    "unicode": "Hyvää päivää \U0001f600",
    "10-kib": "x" * 10 * 1024,
}

# Prints the arguments it was given as JSON.
ECHO_ARGV = "-c 'import sys, json; print(json.dumps(sys.argv[1:]))'"


class TestPlaceholders:
    def test_placeholders_come_in_order_once_each(self):
        names = get_placeholders("--a {first} --b={second} {first}-{third}")

        assert names == ["first", "second", "third"]

    def test_doubled_braces_are_literal_braces(self):
        assert get_placeholders("--json {{}} {value}") == ["value"]
        assert fill_arguments("--json {{}} {value}", {"value": 1}) == [
            "--json",
            "{}",
            "1",
        ]

    @pytest.mark.parametrize(
        ("format_string", "message"),
        [
            ("--a 'open", "cannot be split: No closing quotation."),
            ("--a {x.y}", "placeholders are plain names such as {rent_id}"),
            ("--a {x[0]}", "placeholders are plain names such as {rent_id}"),
            ("--a {}", "placeholders are plain names such as {rent_id}"),
            ("--a {x!s}", "placeholders are plain names such as {rent_id}"),
            ("--a {x:5}", "placeholders are plain names such as {rent_id}"),
            ("--a {x", "Invalid placeholder in '{x'"),
            ("--a }", "Invalid placeholder in '}'"),
            ("--a \0", "contains a NUL byte"),
        ],
        ids=[
            "quote",
            "attribute",
            "index",
            "positional",
            "conversion",
            "format-spec",
            "open-brace",
            "close-brace",
            "nul",
        ],
    )
    def test_bad_format_string_is_refused_with_a_reason(self, format_string, message):
        with pytest.raises(CommandLineError) as raised:
            get_placeholders(format_string)

        assert message in str(raised.value)


class TestFillArguments:
    @pytest.mark.parametrize(
        "value", list(HOSTILE_VALUES.values()), ids=list(HOSTILE_VALUES)
    )
    def test_each_placeholder_gives_exactly_one_argument(self, value):
        argv = fill_arguments(
            "--rent-id {rent_id} --since={since} {rest}",
            {"rent_id": value, "since": value, "rest": value},
        )

        assert argv == ["--rent-id", value, f"--since={value}", value]

    @given(st.text(alphabet=st.characters(blacklist_characters="\0")))
    def test_any_text_without_nul_passes_through_unchanged(self, value):
        assert fill_arguments("-v {value} x{value}x", {"value": value}) == [
            "-v",
            value,
            f"x{value}x",
        ]

    @pytest.mark.parametrize(
        ("value", "text"),
        [(True, "true"), (False, "false"), (7, "7"), (-2.5, "-2.5"), ("7", "7")],
    )
    def test_scalars_are_written_as_json_would(self, value, text):
        assert format_value(value) == text

    def test_missing_arguments_are_all_named(self):
        with pytest.raises(CommandLineError, match=r"^Missing arguments: a, c\.$"):
            fill_arguments("{a} {b} {c}", {"b": 1})

    def test_value_that_is_not_a_scalar_is_refused(self):
        with pytest.raises(CommandLineError, match=r"\[1\] is not a string"):
            fill_arguments("{a}", {"a": [1]})

    def test_value_with_nul_is_refused(self):
        with pytest.raises(CommandLineError, match="contains a NUL byte"):
            fill_arguments("--name {a}", {"a": "x\0y"})

    def test_arguments_without_a_placeholder_are_ignored(self):
        assert fill_arguments("--all", {"unused": 1}) == ["--all"]


class TestProgramPrefix:
    def test_executable_is_its_own_name(self):
        assert get_program_prefix("executable", "/usr/bin/env", None) == [
            "/usr/bin/env"
        ]

    def test_django_command_runs_through_manage_py_when_configured(self):
        assert get_program_prefix("django", "clearsessions", "/srv/manage.py") == [
            sys.executable,
            "/srv/manage.py",
            "clearsessions",
        ]

    def test_django_command_runs_through_python_m_django_otherwise(self):
        assert get_program_prefix("django", "clearsessions", None) == [
            sys.executable,
            "-m",
            "django",
            "clearsessions",
        ]


@pytest.mark.parametrize(
    "value", list(HOSTILE_VALUES.values()), ids=list(HOSTILE_VALUES)
)
def test_program_receives_each_value_byte_for_byte(value):
    command = Command(
        name=sys.executable,
        parameter_format_string=f"{ECHO_ARGV} --id {{rent_id}} {{rent_id}}",
    )

    argv = command.get_command_line({"rent_id": value})
    result = subprocess.run(
        argv, capture_output=True, check=True, timeout=30, env={"PYTHONUTF8": "1"}
    )

    assert json.loads(result.stdout) == ["--id", value, value]
