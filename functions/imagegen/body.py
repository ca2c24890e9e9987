"""A request body as JSON: every way it can be malformed is a 400 naming the field, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InvalidRequestError, field_path

# A \uD800-\uDFFF escape: JSON may spell a lone surrogate, which no encoder can write back out.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: str | bytes, field: str = "body") -> Any:
    """Parse ``data``; malformed, non-UTF-8, NaN/Infinity and too deeply nested JSON raise
    ``InvalidRequestError`` for ``field``, and so does a string holding a lone surrogate, for
    the string's own path: it would fail later, where it becomes an S3 key, a header or a URL."""
    try:
        # Strictly: json.loads would read bytes with "surrogatepass" and let encoded surrogates in.
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        parsed = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InvalidRequestError.for_field(field, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestError.for_field(
            field, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise InvalidRequestError.for_field(field, str(exc)) from None
    except RecursionError:
        # The parser recurses once per level; no request of this API nests more than a few.
        raise InvalidRequestError.for_field(field, "JSON is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):
        path = _lone_surrogate(parsed, ())
        if path is not None:
            raise InvalidRequestError.for_field(
                field_path(path) or field, "holds a lone UTF-16 surrogate (\\uD800-\\uDFFF): not Unicode text"
            )
    return parsed


def _lone_surrogate(value: Any, path: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    """The path of the first string (or object key) with a surrogate that no pair completed."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _SURROGATE.search(key):
            return (*path, key.encode("utf-8", "backslashreplace").decode())
        found = _lone_surrogate(item, (*path, key))
        if found is not None:
            return found
    return None
