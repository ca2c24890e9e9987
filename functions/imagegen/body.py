"""A request body as JSON: every way it can be malformed is a 400 naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidRequestError


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: str | bytes, field: str = "body") -> Any:
    """Parse ``data``; malformed, non-UTF-8, NaN/Infinity and too deeply nested JSON raise
    ``InvalidRequestError`` for ``field``."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
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
