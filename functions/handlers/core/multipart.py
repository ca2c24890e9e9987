"""``multipart/form-data`` bodies (RFC 7578: the OpenAI Images API's edits and variations).

Read here rather than with the standard library's MIME parser, which is line-based and, on a
hostile form, slow beyond any bound: 75,000 parts took 12 s, 4 MB of folded header lines
minutes. This reader counts the parts with one ``bytes.count`` before it splits anything, so a
form too fragmented to be a client's is refused in milliseconds, and every other step is a
``bytes.find`` over the body or a look at one part's few header bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from imagegen.errors import InvalidRequestError

# OpenAI's edits take up to 16 images (image[]) and about 20 other fields in today's SDK
# (openai-python 3.54: prompt, mask, model, n, size, quality, background, ... svg[model]):
# 64 parts is every one of them with room to spare, and still nothing to parse.
MAX_PARTS = 64
# A part's headers are a Content-Disposition and a Content-Type; browsers send under 300 bytes.
MAX_PART_HEADER_BYTES = 8 * 1024

# RFC 2046 sec. 5.1.1: 1-70 characters of these, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE)
# A header parameter: name=token or name="quoted \"string\"" (linear: no nested repetition).
_PARAM = re.compile(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)', re.DOTALL)
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# White space a sender may leave after a delimiter (RFC 2046's transport padding); more is data.
_MAX_PADDING = 256
# Transfer encodings that leave the bytes as they are (RFC 7578 sec. 4.7 deprecates the others).
_IDENTITY_ENCODINGS = {"", "7bit", "8bit", "binary"}


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


def parse_form(body: bytes, content_type: str, *, max_parts: int = MAX_PARTS) -> list[Part]:
    """The form's parts in order; a body that is not a form, or one of more than ``max_parts``
    parts, is a 400 naming ``body``."""
    delimiter = b"--" + _boundary(content_type)
    # An upper bound on the parts (a boundary may also occur inside a line of data), taken
    # before anything is split: refusing a fragmented form costs one scan of the body.
    if body.count(delimiter) - 1 > max_parts:
        raise _body_error(f"has more than {max_parts} parts; a form here takes at most {max_parts}")
    return [_part(chunk) for chunk in _chunks(body, delimiter)]


def _body_error(message: str) -> InvalidRequestError:
    return InvalidRequestError.for_field("body", message)


def _boundary(content_type: str) -> bytes:
    if not content_type.lower().startswith("multipart/form-data"):
        raise _body_error("must be multipart/form-data with a boundary")
    match = _BOUNDARY_PARAM.search(content_type)
    boundary = match and (match[1] if match[1] is not None else match[2])
    if not boundary:
        raise _body_error("must be multipart/form-data with a boundary")
    if not _BOUNDARY.fullmatch(boundary):
        raise _body_error("has an invalid boundary: 1-70 letters, digits or '()+_,-./:=? (RFC 2046)")
    return boundary.encode("ascii")


def _chunks(body: bytes, delimiter: bytes) -> list[bytes]:
    """Each part's bytes (headers and data), between the delimiter lines."""
    lines = _delimiter_lines(body, delimiter)
    chunks = []
    for (start, close), (end, _) in pairwise(lines):
        if close:
            return chunks
        data_end = end - 2 if body[end - 2 : end] == b"\r\n" else end - 1  # the line break is the delimiter's
        chunks.append(body[body.index(b"\n", start) + 1 : data_end])
    if not lines or not lines[-1][1]:
        raise _body_error("is not a complete multipart form (no closing boundary)")
    return chunks


def _delimiter_lines(body: bytes, delimiter: bytes) -> list[tuple[int, bool]]:
    """Where each delimiter line starts, and whether it is the closing one: ``--boundary``
    at the start of a line, then ``--`` or only white space to the line's end."""
    lines = []
    position = body.find(delimiter)
    while position != -1:
        after = position + len(delimiter)
        if position == 0 or body[position - 1] == 0x0A:
            if body.startswith(b"--", after):
                lines.append((position, True))
            else:
                line_end = body.find(b"\n", after, after + _MAX_PADDING)
                if line_end != -1 and not body[after:line_end].strip():
                    lines.append((position, False))
        position = body.find(delimiter, after)
    return lines


def _part(chunk: bytes) -> Part:
    head_end, data_start = _header_end(chunk)
    if head_end > MAX_PART_HEADER_BYTES:
        raise _body_error(f"a form part's headers are over {MAX_PART_HEADER_BYTES:,} bytes")
    headers = _headers(chunk[:head_end])
    if headers.get(b"content-transfer-encoding", b"").strip().lower().decode("latin-1") not in _IDENTITY_ENCODINGS:
        raise _body_error("a form part has a Content-Transfer-Encoding; send the bytes as they are (RFC 7578)")
    params = _params(headers.get(b"content-disposition", b""))
    name = _name(params.get(b"name"))
    filename = params.get(b"filename", params.get(b"filename*"))
    media_type = headers.get(b"content-type", b"text/plain").split(b";")[0].strip().lower()
    return Part(
        name,
        chunk[data_start:],
        None if filename is None else filename.decode("utf-8", "replace"),
        media_type.decode("latin-1") or "text/plain",
    )


def _header_end(chunk: bytes) -> tuple[int, int]:
    """Where a part's headers end and its data starts (after the blank line, CRLF or LF)."""
    window = chunk[: MAX_PART_HEADER_BYTES + 4]
    if window.startswith((b"\r\n", b"\n")):  # no headers at all
        return 0, 2 if window.startswith(b"\r\n") else 1
    ends = [(at, at + len(blank)) for blank in (b"\r\n\r\n", b"\n\n") if (at := window.find(blank)) != -1]
    if not ends:
        if len(chunk) > MAX_PART_HEADER_BYTES:
            return len(window), len(window)  # the caller refuses headers this long
        raise _body_error("a form part has no blank line after its headers")
    return min(ends)


def _headers(block: bytes) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    last = None
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and last is not None:  # a folded line continues the last
            headers[last] += b" " + line.strip()
            continue
        name, colon, value = line.partition(b":")
        if colon:
            last = name.strip().lower()
            headers.setdefault(last, value.strip())
    return headers


def _params(disposition: bytes) -> dict[bytes, bytes]:
    params: dict[bytes, bytes] = {}
    for match in _PARAM.finditer(disposition):
        value = match[2]
        if value.startswith(b'"') and value.endswith(b'"') and len(value) >= 2:
            value = _QUOTED_PAIR.sub(rb"\1", value[1:-1])
        params.setdefault(match[1].lower(), value)
    return params


def _name(raw: bytes | None) -> str:
    if not raw:
        raise _body_error("a form part has no name")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_error("a form part's name is not UTF-8") from None
    if _CONTROL.search(name):
        raise _body_error("a form part's name has a control character")
    return name
