"""The ``imagegen`` logger: structured, and with lines that cannot be forged by what a caller sends.

Paths, ids, prompts and provider messages reach log lines; a newline or NUL in them would
start a fake line of its own. Every control character is written escaped instead.

Every line of a request carries its context (``requestId``, ``jobId``, ``task``, ``model``,
set with ``log_context``) as record attributes: Lambda's JSON log format writes them as keys of
the line, and ``JsonFormatter`` does the same off Lambda (the local stack).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ImageGenError

NAME = "imagegen"

# C0 and C1 controls, DEL and the Unicode line/paragraph separators, as Python escapes them.
_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


class EscapeControlCharacters(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = message.translate(_ESCAPES)
        if record.args or escaped != message:
            record.msg, record.args = escaped, None
        return True


# Each block sets a new mapping; none is ever changed in place.
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("imagegen_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged in the block (and in what it calls)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{name: value for name, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def add_log_context(**fields: Any) -> None:
    """Add ``fields`` to the enclosing ``log_context`` block, once they are known (a job's model)."""
    _CONTEXT.set({**_CONTEXT.get(), **{name: value for name, value in fields.items() if value is not None}})


def current_context() -> dict[str, Any]:
    return dict(_CONTEXT.get())


class ContextFields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def get_logger() -> logging.Logger:
    logger = logging.getLogger(NAME)
    if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
        logger.addFilter(EscapeControlCharacters())
        logger.addFilter(ContextFields())
    return logger


# LogRecord's own attributes; any other is a field of the line (as in Lambda's JSON format).
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the keys of Lambda's JSON log format (timestamp, level,
    message, logger, requestId, errorType, errorMessage, stackTrace) plus the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        line.update((name, value) for name, value in vars(record).items() if name not in _RECORD_FIELDS)
        if record.exc_info and record.exc_info[0] is not None:
            line["errorType"] = record.exc_info[0].__name__
            line["errorMessage"] = str(record.exc_info[1])
            line["stackTrace"] = self.formatException(record.exc_info).splitlines()
        return json.dumps(line, default=str)


def level_for(error: ImageGenError) -> int:
    """A caller's mistake is routine (INFO); a provider's or our own failure wants attention."""
    return logging.WARNING if error.status >= 500 else logging.INFO
