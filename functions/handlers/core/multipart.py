"""``multipart/form-data`` bodies (the OpenAI Images API's edits and variations), read with the
standard library's MIME parser."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass

from imagegen.errors import InvalidRequestError


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError.for_field(self.name, "must be UTF-8 text") from None


def parse_form(body: bytes, content_type: str) -> list[Part]:
    """The form's parts in order; a body that is not a form is a 400 naming ``body``."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise InvalidRequestError.for_field("body", "must be multipart/form-data with a boundary")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        raise InvalidRequestError.for_field("body", "is not a multipart form")
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise InvalidRequestError.for_field("body", "a form part has no name")
        data = part.get_payload(decode=True) or b""
        parts.append(Part(str(name), data, part.get_filename(), part.get_content_type()))
    return parts
