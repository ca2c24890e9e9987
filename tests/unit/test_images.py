"""Image inspection: format sniffing, header-only sizes, damage detection, pixel rules."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from imaging import b64, jpeg_bytes, png_b64, png_bytes
from PIL import Image

from imagegen import ImageGenError, build_request
from imagegen.images import ImageFormatError, inspect_image, parse_image_value

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def undecodable_png(width: int, height: int) -> bytes:
    """A PNG with a valid header and chunk CRCs whose pixel data is not even a zlib stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", os.urandom(4096)) + chunk(b"IEND", b"")


def test_png_and_jpeg_sizes_come_from_the_header():
    assert inspect_image(png_bytes(640, 480)).size == (640, 480)
    info = inspect_image(jpeg_bytes(800, 600))
    assert (info.format, info.size, info.mime_type) == ("jpeg", (800, 600), "image/jpeg")
    assert inspect_image(jpeg_bytes(333, 222, progressive=True)).size == (333, 222)


def test_size_of_a_1408px_png_is_read_without_decoding_pixels():
    # Decoding this IDAT would fail, so reading the size proves no decode happened.
    assert inspect_image(undecodable_png(1408, 1408)).size == (1408, 1408)
    # And the header path never loads Pillow or calls zlib's decompressor.
    script = (
        "import sys, zlib\n"
        "zlib.decompress = zlib.decompressobj = None\n"
        "from imagegen.images import inspect_image\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "assert inspect_image(data).size == (1408, 1408)\n"
        "assert 'PIL' not in sys.modules, 'Pillow was imported'\n"
    )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"undecodable-{os.getpid()}.png"
    path.write_bytes(undecodable_png(1408, 1408))
    try:
        env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env=env)
    finally:
        path.unlink()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a" + b"\0" * 20,
        b"RIFF\0\0\0\0WEBPVP8 ",
        png_bytes(64, 64)[:-20],  # truncated before IEND
        png_bytes(64, 64)[:40],
        jpeg_bytes(64, 64)[:-200],  # truncated inside the scan
        jpeg_bytes(64, 64)[:30],
    ],
    ids=["empty", "gif", "webp", "png-truncated", "png-header-only", "jpeg-truncated", "jpeg-header-only"],
)
def test_unreadable_images_are_rejected(data):
    with pytest.raises(ImageFormatError):
        inspect_image(data)


def test_a_damaged_png_chunk_is_rejected():
    data = bytearray(png_bytes(64, 64))
    data[-20] ^= 0xFF  # flip a byte inside IDAT
    with pytest.raises(ImageFormatError, match="CRC"):
        inspect_image(bytes(data))


def test_image_values_accept_base64_data_urls_and_s3_references():
    plain = png_b64(32, 32)
    assert parse_image_value(plain, 10**6).info.size == (32, 32)
    assert parse_image_value("data:image/png;base64," + plain, 10**6).info.size == (32, 32)
    wrapped = "\n".join(plain[i : i + 76] for i in range(0, len(plain), 76))  # as `base64` prints it
    assert parse_image_value(wrapped, 10**6).b64 == plain
    ref = parse_image_value("s3://my-input-bucket/uploads/cat.png", 10**6)
    assert (ref.bucket, ref.key) == ("my-input-bucket", "uploads/cat.png")
    for bad in ("s3://", "s3://b/", "s3://UPPER/key", "not base64!", "aGVsbG8="):
        with pytest.raises(ImageFormatError):
            parse_image_value(bad, 10**6)


def test_bad_image_is_a_400_naming_the_field():
    with pytest.raises(ImageGenError) as caught:
        build_request("image-variation", {"model": "nova-canvas", "images": [png_b64(512, 512), b64(b"GIF89a....")]})
    assert caught.value.status == 400
    assert caught.value.details == [{"field": "images[1]", "message": "must be a PNG, JPEG or WebP image"}]


def test_image_over_the_model_limit_is_413_before_decoding():
    huge = "A" * (7 * 1024 * 1024)  # decodes to ~5.5 MB: over Titan's 5 MB
    with pytest.raises(ImageGenError) as caught:
        build_request("image-variation", {"model": "titan-image-v1", "images": [huge]})
    assert caught.value.status == 413
    assert caught.value.code == "payload_too_large"


def rgba_png(alpha: int) -> str:
    return png_b64(512, 512, (10, 20, 30, alpha), mode="RGBA")


def test_nova_refuses_transparent_png_but_accepts_opaque_alpha():
    assert build_request("background-removal", {"model": "nova-canvas", "image": rgba_png(255)}).bodies
    with pytest.raises(ImageGenError) as caught:
        build_request("background-removal", {"model": "nova-canvas", "image": rgba_png(254)})
    assert caught.value.details[0]["field"] == "image"
    assert "transparent" in caught.value.details[0]["message"]
    # Titan has no such rule.
    assert build_request("image-variation", {"model": "titan-image-v1", "images": [rgba_png(0)]}).bodies


def test_palette_png_with_transparency_chunk_is_checked_too():
    image = Image.new("P", (512, 512), 0)
    image.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    with pytest.raises(ImageGenError, match="transparent"):
        build_request("background-removal", {"model": "nova-canvas", "image": b64(buffer.getvalue())})


def test_masks_must_be_pure_black_and_white():
    grey = png_b64(512, 512, (128, 128, 128))
    with pytest.raises(ImageGenError) as caught:
        build_request("inpainting", {"model": "nova-canvas", "image": png_b64(512, 512), "maskImage": grey})
    assert caught.value.details[0]["field"] == "maskImage"
    jpeg_mask = b64(jpeg_bytes(512, 512, (0, 0, 0)))
    try:
        build_request("inpainting", {"model": "nova-canvas", "image": png_b64(512, 512), "maskImage": jpeg_mask})
    except ImageGenError as exc:  # JPEG artefacts usually add grey; the hint says why
        assert "PNG" in exc.details[0]["message"]
    black_and_white = png_b64(512, 512, (0, 0, 0))
    nova = {"model": "nova-canvas", "image": png_b64(512, 512)}
    assert build_request("inpainting", {**nova, "maskImage": black_and_white}).bodies
