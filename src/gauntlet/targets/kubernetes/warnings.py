"""``Warning`` response headers, read as client-go reads them.

The API server turns admission warnings (Gatekeeper's ``warn`` action sends ``[name] msg``),
deprecations and validation hints into RFC 7234 ``Warning`` headers:
``299 - "<text>"`` (code, agent ``-``, a quoted string with ``\\"`` and ``\\\\`` escapes,
an optional quoted date). One header line may carry several, comma-separated (HTTP allows a
proxy to fold repeated headers). client-go's ``ParseWarningHeaders`` keeps every well-formed
warning and its default handler shows only code 299; so do we.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["parse_warning_headers"]

_WARNING = re.compile(
    r'\s*(?P<code>\d{3})\s+(?P<agent>[^\s"]+)\s+"(?P<text>(?:[^"\\]|\\.)*)"'
    r'(?:\s+"(?:[^"\\]|\\.)*")?\s*(?:,|$)'
)
_ESCAPE = re.compile(r"\\(.)")


def parse_warning_headers(values: Iterable[str]) -> tuple[str, ...]:
    """The texts of the code-299 warnings in ``Warning`` header values, in order; malformed
    entries are skipped (client-go logs and drops them)."""
    texts: list[str] = []
    for value in values:
        pos = 0
        while pos < len(value):
            found = _WARNING.match(value, pos)
            if found is None:
                break
            pos = found.end()
            if found["code"] == "299":
                texts.append(_ESCAPE.sub(r"\1", found["text"]))
    return tuple(texts)
