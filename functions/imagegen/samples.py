"""PNGs built with the standard library (no Pillow): the OpenAPI examples, the smoke test and
the benchmark."""

from __future__ import annotations

import random
import struct
import zlib

_WHITE, _BLACK = b"\xff\xff\xff", b"\x00\x00\x00"


def png(width: int, height: int, rgb: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    """A flat 8-bit RGB image."""
    row = b"\x00" + bytes(rgb) * width
    return _encode(width, height, [row] * height)


def centre_mask(width: int, height: int) -> bytes:
    """The contract's mask: black (edit) in the middle half, white (keep) around."""
    quarter = width // 4
    edge = b"\x00" + _WHITE * width
    middle = b"\x00" + _WHITE * quarter + _BLACK * (width - 2 * quarter) + _WHITE * quarter
    return _encode(width, height, [middle if height // 4 <= y < 3 * height // 4 else edge for y in range(height)])


def noise(width: int, height: int, seed: int) -> bytes:
    """Pseudo-random pixels, which barely compress: as large as a generated photo."""
    rng = random.Random(seed)
    return _encode(width, height, [b"\x00" + rng.randbytes(width * 3) for _ in range(height)], level=1)


def _encode(width: int, height: int, rows: list[bytes], level: int = 9) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    pixels = zlib.compress(b"".join(rows), level)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
