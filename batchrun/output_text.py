"""
Turn the bytes a job prints into text every database can store, and back.

Output that is valid UTF-8 without NUL bytes is stored as it is.  Anything
else is stored escaped, with ``escaped`` set on its chunk: a backslash
becomes ``\\\\``, NUL becomes ``\\x00`` and each byte that is not part of
valid UTF-8 becomes ``\\xNN``.  PostgreSQL cannot hold NUL in text and no
database holds invalid UTF-8, so this keeps every byte while the text stays
readable and searchable.
"""

import re

_UNESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def encode_output(data: bytes) -> tuple[str, bool]:
    """Return ``(text, escaped)`` for a piece of output."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if "\0" not in text:
            return text, False
    # Backslash and NUL are ASCII, never part of a multi-byte character, so
    # they can be escaped in the bytes; backslashreplace writes the \xNN of
    # each byte that is not valid UTF-8.
    escaped = data.replace(b"\\", b"\\\\").replace(b"\0", b"\\x00")
    return escaped.decode("utf-8", "backslashreplace"), True


def decode_output(text: str, escaped: bool) -> bytes:
    """Return the bytes a stored piece of output came from."""
    if not escaped:
        return text.encode("utf-8")
    try:
        # Escaped text holds no other escapes than \\ and \xNN, which
        # unicode_escape turns back into one character per byte; latin-1
        # then gives each character's byte, those of UTF-8 text included.
        return text.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except UnicodeError:
        return _decode_slowly(text)


def _decode_slowly(text: str) -> bytes:
    """Decode escaped text that unicode_escape refuses, as far as it goes."""
    parts = []
    position = 0
    for match in _UNESCAPE.finditer(text):
        parts.append(text[position : match.start()].encode("utf-8"))
        token = match.group(1)
        parts.append(b"\\" if token == "\\" else bytes([int(token[1:], 16)]))
        position = match.end()
    parts.append(text[position:].encode("utf-8"))
    return b"".join(parts)
