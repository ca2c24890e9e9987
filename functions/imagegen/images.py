"""Input images: decode the user's value, sniff the format, read the size from the header.

Dimensions come from the PNG IHDR chunk, the JPEG SOF segment or the WebP frame header, never
from decoding pixels. Only the checks that are about pixels (PNG alpha for Nova, black-and-white
masks, OpenAI's alpha masks) decode, and they import Pillow lazily so the common path never pays
for it. A decode is bounded before it starts: a few hundred KB of PNG can declare gigabytes of
pixels, and Pillow allocates what the header declares.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
ImageFormat = Literal["png", "jpeg", "webp"]

_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
# Valid PNG bit depths per colour type (PNG spec, table 11.1).
_PNG_BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# SOF markers that carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
# DHP (DE) carries one too, and Pillow takes the size from it: so does this reader.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xDE}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# The most pixels any model accepts in an input image (Gemini's and Imagen's bound, 8192 x 4096;
# tests/unit/test_image_bombs.py holds it to the registry): no pixel check decodes more,
# whoever calls it. Decoded as RGBA that is 128 MiB.
DECODE_MAX_PIXELS = 33_554_432
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


class ImageFormatError(ValueError):
    """The bytes are not a PNG or JPEG we can read; the message is for the user."""


class TooManyPixelsError(ImageFormatError):
    """An image declaring more pixels than any decode here is allowed to allocate."""


@dataclass(frozen=True)
class ImageInfo:
    format: ImageFormat
    width: int
    height: int
    # True when the image may hold transparency (alpha channel or tRNS chunk).
    may_have_alpha: bool = False

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass(frozen=True)
class InlineImage:
    """An image sent in the request body; ``b64`` is what the model receives."""

    data: bytes
    b64: str
    info: ImageInfo

    def describe(self) -> dict[str, object]:
        return {"contentType": self.info.mime_type, "width": self.info.width, "height": self.info.height}


@dataclass(frozen=True)
class S3Image:
    """An ``s3://bucket/key`` reference, resolved by the runtime before the model call."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def describe(self) -> dict[str, object]:
        return {"s3Uri": self.uri}


ImageInput = InlineImage | S3Image


class OverSizeError(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"image is {size:,} bytes; the limit is {limit:,}")
        self.size = size
        self.limit = limit


def decoded_size_estimate(b64: str) -> int:
    return len(b64) * 3 // 4


def parse_image_value(value: object, max_bytes: int) -> ImageInput:
    """Turn a request's image string into an inline image or an S3 reference.

    Raises ``ImageFormatError`` for anything that is not a readable PNG/JPEG, and
    ``OverSizeError`` for an image over ``max_bytes`` (checked before decoding).
    """
    if not isinstance(value, str) or not value:
        raise ImageFormatError("must be a base64 PNG/JPEG image or an s3://bucket/key reference")
    if value.startswith("s3://"):
        match = _S3_URI.match(value)
        if not match:
            raise ImageFormatError("must be an s3://bucket/key reference with a valid bucket name and a key")
        return S3Image(match["bucket"], match["key"])
    # `base64` on Linux wraps lines at 76 characters; models want one unbroken string.
    return decode_base64_image("".join(_DATA_URL.sub("", value, count=1).split()), max_bytes)


def decode_base64_image(b64: str, max_bytes: int) -> InlineImage:
    """Decode and inspect a base64 image, refusing one over ``max_bytes`` before decoding it."""
    if decoded_size_estimate(b64) > max_bytes:
        raise OverSizeError(decoded_size_estimate(b64), max_bytes)
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ImageFormatError("is not valid base64") from None
    return InlineImage(data=data, b64=b64, info=inspect_image(data))


def inline_image(data: bytes, max_bytes: int) -> InlineImage:
    """An image fetched by the runtime (an S3 reference), checked like an inline one."""
    if len(data) > max_bytes:
        raise OverSizeError(len(data), max_bytes)
    info = inspect_image(data)
    return InlineImage(data=data, b64=base64.b64encode(data).decode("ascii"), info=info)


def sniff_format(data: bytes) -> ImageFormat | None:
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def inspect_image(data: bytes) -> ImageInfo:
    """Format and size from the header; structural corruption and truncation are errors."""
    kind = sniff_format(data)
    if kind == "png":
        return _inspect_png(data)
    if kind == "jpeg":
        return _inspect_jpeg(data)
    if kind == "webp":
        return _inspect_webp(data)
    raise ImageFormatError("must be a PNG, JPEG or WebP image")


def image_size(data: bytes) -> tuple[int, int]:
    """An image's size as its header declares it, for images a model made (its answer is
    trusted as to structure): a PNG's first chunk, not a walk over every chunk and its CRC,
    which ``inspect_image`` makes of a caller's image."""
    if sniff_format(data) == "png" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return inspect_image(data).size


def _inspect_png(data: bytes) -> ImageInfo:
    pos = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    has_trns = has_idat = False
    while True:
        if pos + 8 > len(data):
            raise ImageFormatError("is a truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ImageFormatError("is a truncated PNG")
        payload = data[pos + 8 : pos + 8 + length]
        # The CRC covers type and payload; a mismatch means the bytes were damaged.
        (crc,) = struct.unpack(">I", data[pos + 8 + length : end])
        if zlib.crc32(payload, zlib.crc32(kind)) != crc:
            raise ImageFormatError(f"is a corrupt PNG (bad CRC in {kind.decode('latin-1')!r} chunk)")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise ImageFormatError("is a corrupt PNG (IHDR must come first)")
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IHDR":
            # Pillow would take the size from the last IHDR before the data: one that differs
            # from the first would slip a huge image past every check made from the header.
            raise ImageFormatError("is a corrupt PNG (more than one IHDR chunk)")
        elif kind == b"tRNS":
            has_trns = True
        elif kind == b"IDAT":
            has_idat = True
        elif kind == b"IEND":
            break
        pos = end
    width, height, depth, color_type, compression, filter_method, interlace = header
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise ImageFormatError("is a corrupt PNG (zero or huge dimensions)")
    if depth not in _PNG_BIT_DEPTHS.get(color_type, ()) or compression or filter_method or interlace > 1:
        raise ImageFormatError("is a corrupt PNG (invalid IHDR)")
    if not has_idat:
        raise ImageFormatError("is a corrupt PNG (no image data)")
    return ImageInfo("png", width, height, may_have_alpha=color_type in (4, 6) or has_trns)


def _inspect_jpeg(data: bytes) -> ImageInfo:
    pos = 2
    size: tuple[int, int] | None = None
    while True:
        if pos + 2 > len(data):
            raise ImageFormatError("is a truncated JPEG")
        if data[pos] != 0xFF:
            raise ImageFormatError("is a corrupt JPEG (bad segment marker)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            raise ImageFormatError("is a corrupt JPEG (no image data)")
        if pos + 4 > len(data):
            raise ImageFormatError("is a truncated JPEG")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise ImageFormatError("is a truncated JPEG")
        if marker in _JPEG_SOF:
            if length < 8:
                raise ImageFormatError("is a corrupt JPEG (short frame header)")
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows up to EOI
            break
        pos += 2 + length
    if size is None or 0 in size:
        raise ImageFormatError("is a corrupt JPEG (no frame size before the scan)")
    if data.rfind(b"\xff\xd9") < pos:
        raise ImageFormatError("is a truncated JPEG (no end-of-image marker)")
    return ImageInfo("jpeg", size[0], size[1])


def _inspect_webp(data: bytes) -> ImageInfo:
    """The first chunk of a WebP file: VP8 (lossy), VP8L (lossless) or VP8X (extended)."""
    (riff_size,) = struct.unpack("<I", data[4:8])
    if len(data) < 30 or riff_size + 8 > len(data):
        raise ImageFormatError("is a truncated WebP")
    kind = data[12:16]
    if kind == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageFormatError("is a corrupt WebP (bad VP8 frame header)")
        width, height = (value & 0x3FFF for value in struct.unpack("<HH", data[26:30]))
        alpha = False
    elif kind == b"VP8L":
        if data[20] != 0x2F:
            raise ImageFormatError("is a corrupt WebP (bad VP8L signature)")
        (bits,) = struct.unpack("<I", data[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        alpha = bool(bits >> 28 & 1)
    elif kind == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        alpha = bool(data[20] & 0x10)
    else:
        raise ImageFormatError("is a corrupt WebP (unknown first chunk)")
    if not (width and height):
        raise ImageFormatError("is a corrupt WebP (zero dimensions)")
    return ImageInfo("webp", width, height, may_have_alpha=alpha)


# --- the pixel checks ---------------------------------------------------------------------


def open_pixels(data: bytes, info: ImageInfo | None = None, max_pixels: int = DECODE_MAX_PIXELS):  # -> PIL.Image
    """``data`` decoded, once its header (``info``, read here when not given) has shown that it
    holds at most ``max_pixels`` pixels and Pillow has read the same size from it.

    The bound is checked before Pillow opens the file: its WebP reader allocates the canvas on
    open, and the others allocate at ``load`` what their header declares.
    """
    from io import BytesIO

    from PIL import Image

    info = inspect_image(data) if info is None else info
    pixels = info.width * info.height
    if pixels > max_pixels:
        raise TooManyPixelsError(
            f"is {info.width}x{info.height} ({pixels:,} pixels); images over {max_pixels:,} pixels are not decoded"
        )
    try:
        # Only the reader of the sniffed format: no other plugin gets to interpret the bytes.
        opened = Image.open(BytesIO(data), formats=[_PIL_FORMATS[info.format]])
    except Exception as exc:  # Pillow raises many types for damaged data
        raise ImageFormatError(f"could not be decoded ({type(exc).__name__})") from None
    if opened.size != info.size:
        # A second size (a JPEG DHP segment, ...) this reader did not see: trust neither.
        raise ImageFormatError(f"is corrupt (its header says {info.width}x{info.height}, its data otherwise)")
    try:
        opened.load()
    except Exception as exc:
        raise ImageFormatError(f"could not be decoded ({type(exc).__name__})") from None
    return opened


@dataclass(frozen=True)
class Conversion:
    """An image format a caller asked for that the model does not write: the service converts."""

    format: ImageFormat
    # JPEG and WebP quality 0-100 (OpenAI's output_compression); None: the encoder's default.
    quality: int | None = None

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


def convert_image(data: bytes, conversion: Conversion) -> bytes:
    """``data`` re-encoded as ``conversion`` says; the decode is bounded like every other. JPEG
    has no alpha: a transparent image is put on white."""
    from io import BytesIO

    from PIL import Image

    pixels = open_pixels(data)
    if conversion.format == "jpeg" and pixels.mode in ("RGBA", "LA", "P"):
        rgba = pixels.convert("RGBA")
        pixels = Image.new("RGB", rgba.size, (255, 255, 255))
        pixels.paste(rgba, mask=rgba.getchannel("A"))
    elif conversion.format == "jpeg":
        pixels = pixels.convert("RGB")
    options = {} if conversion.quality is None else {"quality": conversion.quality}
    buffer = BytesIO()
    pixels.save(buffer, _PIL_FORMATS[conversion.format], **options)
    return buffer.getvalue()


def _open_pixels(image: InlineImage):  # -> PIL.Image.Image
    return open_pixels(image.data, image.info)


def is_fully_opaque(image: InlineImage) -> bool:
    if not image.info.may_have_alpha:
        return True
    pixels = _open_pixels(image)
    if "A" not in pixels.getbands():  # a palette's or a tRNS chunk's transparency
        pixels = pixels.convert("RGBA")
    low, _high = pixels.getchannel("A").getextrema()
    return low == 255


def is_black_and_white(image: InlineImage) -> bool:
    """True when every pixel is pure black (0,0,0) or pure white (255,255,255)."""
    pixels = _open_pixels(image)
    # Greyscale and RGB are read as they are: a converted copy would double the memory.
    if pixels.mode not in ("L", "RGB"):
        pixels = pixels.convert("RGB")
    black, white = ((0, 0, 0), (255, 255, 255)) if pixels.mode == "RGB" else (0, 255)
    colors = pixels.getcolors(maxcolors=2)
    return colors is not None and all(color in (black, white) for _count, color in colors)


def inverted_mask(mask: InlineImage) -> str:
    """A black-and-white mask with black and white swapped, as base64 PNG (the contract marks
    the region to edit black; Stability's masks mark it white)."""
    import io

    from PIL import ImageOps

    buffer = io.BytesIO()
    ImageOps.invert(_open_pixels(mask).convert("L")).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def mask_from_alpha(mask: InlineImage) -> str:
    """OpenAI's mask (transparent pixels mark the edit) as the contract's: black where the image
    changes, white where it is kept, as base64 PNG."""
    import io

    pixels = _open_pixels(mask)
    if "A" not in pixels.getbands() and "transparency" not in pixels.info:
        raise ImageFormatError("must have an alpha channel: its transparent pixels mark the area to edit")
    alpha = (pixels if "A" in pixels.getbands() else pixels.convert("RGBA")).getchannel("A")
    # One channel is a quarter of the decoded image: let the image go before the RGB copy.
    del pixels
    edit = alpha.point(lambda value: 0 if value == 0 else 255)
    del alpha
    buffer = io.BytesIO()
    edit.convert("RGB").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
