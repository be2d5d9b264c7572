"""Tests for batchrun.output_text: output bytes to storable text and back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrun.output_text import decode_output, encode_output


def escape_slowly(data: bytes) -> str:
    """Escape as the module docstring says, one character at a time."""
    text = data.decode("utf-8", "surrogateescape")
    return "".join(
        "\\\\"
        if char == "\\"
        else "\\x00"
        if char == "\0"
        else f"\\x{ord(char) - 0xDC00:02x}"
        if "\udc80" <= char <= "\udcff"
        else char
        for char in text
    )


class TestEncodeOutput:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"plain line\n", ("plain line\n", False)),
            (
                "h\u00e9 \U0001f389 \U00020000\n".encode(),
                ("h\u00e9 \U0001f389 \U00020000\n", False),
            ),
            (b"10%\r55%\r100%\n", ("10%\r55%\r100%\n", False)),
            (b"C:\\path\\x00\n", ("C:\\path\\x00\n", False)),
            (b"", ("", False)),
        ],
        ids=["ascii", "4-byte characters", "carriage returns", "backslashes", "empty"],
    )
    def test_valid_utf8_without_nul_is_stored_as_it_is(self, data, expected):
        assert encode_output(data) == expected

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"a\x00b", "a\\x00b"),
            (b"\xff\xfe", "\\xff\\xfe"),
            (b"back\\slash \xff", "back\\\\slash \\xff"),
            ("\u00e9".encode()[:1] + b"\n", "\\xc3\n"),
            (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),
            ("\u00e9\x00".encode(), "\u00e9\\x00"),
        ],
        ids=[
            "NUL",
            "invalid bytes",
            "backslash beside an invalid byte",
            "cut character",
            "encoded surrogate",
            "valid characters stay readable",
        ],
    )
    def test_nul_and_invalid_bytes_are_escaped(self, data, expected):
        assert encode_output(data) == (expected, True)

    @given(st.binary(max_size=2000))
    def test_escaping_follows_the_documented_form(self, data):
        text, escaped = encode_output(data)

        assert text == (escape_slowly(data) if escaped else data.decode())

    @given(st.binary(max_size=2000))
    def test_escaped_text_holds_no_nul_and_no_surrogate(self, data):
        text, _escaped = encode_output(data)

        assert "\x00" not in text
        text.encode("utf-8")  # Raises on a lone surrogate.

    @given(st.binary(max_size=2000))
    def test_newlines_stay_newlines(self, data):
        text, _escaped = encode_output(data)

        assert text.count("\n") == data.count(b"\n")


class TestDecodeOutput:
    @given(st.binary(max_size=4000))
    def test_any_bytes_come_back_exactly(self, data):
        assert decode_output(*encode_output(data)) == data

    @given(st.text(max_size=1000))
    def test_any_utf8_text_comes_back_exactly(self, text):
        data = text.encode("utf-8", "surrogatepass")

        assert decode_output(*encode_output(data)) == data

    @given(st.lists(st.binary(max_size=300), max_size=8))
    def test_lines_decode_one_by_one(self, lines):
        data = b"\n".join(lines)
        text, escaped = encode_output(data)

        pieces = [decode_output(line, escaped) for line in text.split("\n")]

        assert b"\n".join(pieces) == data

    def test_damaged_escaped_text_decodes_as_far_as_it_goes(self):
        assert decode_output("ok \\x41 cut \\x4", True) == b"ok A cut \\x4"

    def test_unescaped_text_is_taken_literally(self):
        assert decode_output("C:\\x00", False) == b"C:\\x00"
