"""Decompression bombs: small files whose headers declare huge images, well-formed enough that
Pillow would allocate (and fill) the declared pixels if anything decoded them."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

from PIL import Image

# 12000 x 12000 RGBA is 576 MB decoded from about 560 KB of PNG.
BOMB_SIDE = 12_000


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@cache
def png_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A valid, fully transparent RGBA PNG: every row of its data is really there, compressed.

    Made in a fraction of a second: one block of rows is compressed once and ended with a full
    flush (which makes the next block independent of it), then repeated.
    """
    row = b"\x00" * (1 + 4 * width)  # filter byte + RGBA zeros
    rows_per_block = next(n for n in range(max(1, 8_000_000 // len(row)), 0, -1) if height % n == 0)
    block = row * rows_per_block
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(height // rows_per_block):
        checksum = zlib.adler32(block, checksum)
    stream = b"\x78\xda" + segment * (height // rows_per_block) + deflate.flush() + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def png_with_second_ihdr(width: int, height: int, real_width: int = BOMB_SIDE, real_height: int = BOMB_SIDE) -> bytes:
    """``png_bomb(real_width, real_height)`` with a first IHDR chunk declaring ``width`` x
    ``height``: Pillow believes the last IHDR before the image data, a reader that stops at the
    first believes the small one."""
    bomb = png_bomb(real_width, real_height)
    first = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    return bomb[:8] + first + bomb[8:]


@cache
def webp_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """An animated WebP of two 1x1 frames on a ``width`` x ``height`` canvas: Pillow's decoder
    allocates and clears the whole canvas (twice) from a file of a few hundred bytes."""
    frames = [Image.new("RGBA", (1, 1), (255, 0, 0, 255)), Image.new("RGBA", (1, 1), (0, 255, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=100)
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8X", "Pillow wrote an animated WebP without VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def gif_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A GIF whose logical screen is ``width`` x ``height`` around a 1x1 image."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def jpeg_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to declare ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_hidden_sof(width: int, height: int, hidden: int = BOMB_SIDE) -> bytes:
    """A ``width`` x ``height`` JPEG with a JPG (FFC8) segment holding a second frame header of
    ``hidden`` x ``hidden``: a reader that skips segments by their length sees the first size,
    Pillow (which does not skip FFC8's payload) reads the hidden one."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, "JPEG")
    data = buffer.getvalue()
    hidden_sof = (
        b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", hidden, hidden) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    segment = b"\xff\xc8" + struct.pack(">H", 2 + len(hidden_sof)) + hidden_sof
    sof = data.index(b"\xff\xc0")
    # After the real frame header, before the scan: Pillow's size is the last one it reads.
    sof_end = sof + 2 + struct.unpack(">H", data[sof + 2 : sof + 4])[0]
    return data[:sof_end] + segment + data[sof_end:]


def largest_input_pixels(spec) -> int | None:  # spec: imagegen.specs.ModelSpec
    """The most pixels an input image may have for ``spec`` (None: its rules bound none)."""
    from imagegen.specs import FreeSizes, TableSizes

    bounds = []
    if spec.input_bounds is not None:
        bounds.append(spec.input_bounds.max_pixels)
    if isinstance(spec.sizes, FreeSizes):
        bounds.append(spec.sizes.max_pixels - 1)  # exclusive
    if isinstance(spec.sizes, TableSizes):
        bounds.append(spec.sizes.max_input_side**2)
    return min(bounds, default=None)
