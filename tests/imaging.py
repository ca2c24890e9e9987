"""Small PNG/JPEG/mask builders shared by the tests."""

from __future__ import annotations

import base64
import io
import json
import re
from functools import cache
from pathlib import Path

from PIL import Image


def png_bytes(width: int, height: int, color=(90, 120, 150), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int, height: int, color=(90, 120, 150), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_b64(width: int, height: int, color=(90, 120, 150), mode: str = "RGB") -> str:
    return b64(png_bytes(width, height, color, mode))


def mask_b64(width: int, height: int) -> str:
    """A valid mask: black (edited) square in the middle of white."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste((0, 0, 0), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return b64(buffer.getvalue())


GOLDEN = Path(__file__).parent / "golden"
_PLACEHOLDER = re.compile(r"<(png|jpeg|webp|mask|white-edit-mask):(\d+)x(\d+)>")


def white_edit_mask_b64(width: int, height: int) -> str:
    """``mask_b64``'s region as Stability marks it: white (edited) in the middle of black."""
    image = Image.new("L", (width, height), 0)
    image.paste(255, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return b64(buffer.getvalue())


def webp_bytes(width: int, height: int, color=(90, 120, 150)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "WEBP")
    return buffer.getvalue()


@cache
def _image(kind: str, width: int, height: int) -> str:
    if kind == "mask":
        return mask_b64(width, height)
    if kind == "white-edit-mask":
        return white_edit_mask_b64(width, height)
    if kind == "jpeg":
        return b64(jpeg_bytes(width, height))
    if kind == "webp":
        return b64(webp_bytes(width, height))
    return png_b64(width, height)


def load_golden(name: str) -> dict:
    """A golden file (tests/golden) with its image placeholders replaced by real images of that size."""
    text = (GOLDEN / name).read_text()
    return json.loads(_PLACEHOLDER.sub(lambda m: _image(m[1], int(m[2]), int(m[3])), text))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG whose header declares ``width`` x ``height`` but whose data is a few
    bytes: what a decompression bomb looks like before anything decodes it."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
