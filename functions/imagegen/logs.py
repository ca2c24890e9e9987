"""The ``imagegen`` logger, whose lines cannot be forged by what a caller sends.

Paths, ids, prompts and provider messages reach log lines; a newline or NUL in them would
start a fake line of its own. Every control character is written escaped instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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


def get_logger() -> logging.Logger:
    logger = logging.getLogger(NAME)
    if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
        logger.addFilter(EscapeControlCharacters())
    return logger


def level_for(error: ImageGenError) -> int:
    """A caller's mistake is routine (INFO); a provider's or our own failure wants attention."""
    return logging.WARNING if error.status >= 500 else logging.INFO
