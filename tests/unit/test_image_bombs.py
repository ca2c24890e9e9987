"""Decompression bombs never reach Pillow: a decode is refused from the header when it declares
more pixels than any model takes, and refused when Pillow reads another size than the header's."""

from __future__ import annotations

import base64
import io

import bombs
import pytest
from imaging import b64, png_bytes
from PIL import Image

from imagegen import ImageGenError, build_request
from imagegen.images import (
    DECODE_MAX_PIXELS,
    ImageFormatError,
    TooManyPixelsError,
    inline_image,
    inspect_image,
    is_black_and_white,
    is_fully_opaque,
    mask_from_alpha,
    open_pixels,
)
from imagegen.registry import MODELS
from local.preview import PreviewEngine


def test_the_decode_bound_is_the_largest_input_any_model_accepts():
    largest = max(filter(None, (bombs.largest_input_pixels(spec) for spec in MODELS.values())))

    assert largest == DECODE_MAX_PIXELS


@pytest.fixture
def pillow_must_not_open(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked to open a bomb")

    monkeypatch.setattr(Image, "open", refuse)


@pytest.mark.parametrize("make", [bombs.png_bomb, bombs.webp_bomb, bombs.jpeg_bomb], ids=["png", "webp", "jpeg"])
def test_a_bomb_is_refused_from_its_header_before_pillow_opens_it(pillow_must_not_open, make):
    data = make(16_000, 16_000)  # 256 megapixels: over any model's bound

    with pytest.raises(TooManyPixelsError, match="16000x16000"):
        open_pixels(data)


def test_every_pixel_check_is_bounded_whoever_calls_it(pillow_must_not_open):
    bomb = inline_image(bombs.png_bomb(), 10**7)

    for check in (is_fully_opaque, is_black_and_white, mask_from_alpha):
        with pytest.raises(TooManyPixelsError):
            check(bomb)


def test_a_gif_bomb_is_refused_by_its_magic_bytes(pillow_must_not_open):
    with pytest.raises(ImageFormatError, match="PNG, JPEG or WebP"):
        open_pixels(bombs.gif_bomb())


def test_a_png_with_a_second_ihdr_is_corrupt():
    # Pillow would believe the second (12000x12000) header, a reader of the first 512x512.
    with pytest.raises(ImageFormatError, match="more than one IHDR"):
        inspect_image(bombs.png_with_second_ihdr(512, 512))


# Pillow warns when it opens the hidden 144-megapixel header; the size check refuses it next.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_jpeg_whose_pillow_size_differs_from_its_header_is_not_decoded():
    data = bombs.jpeg_with_hidden_sof(512, 512)
    assert inspect_image(data).size == (512, 512)

    with pytest.raises(ImageFormatError, match="corrupt"):
        open_pixels(data)


def test_a_jpeg_size_in_a_dhp_segment_is_read_as_pillow_reads_it():
    data = bytearray(bombs.jpeg_bomb(64, 64))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = 0xDE  # the same frame header, as a DHP segment

    assert inspect_image(bytes(data)).size == (64, 64)


def test_images_within_the_bound_are_still_checked_by_their_pixels():
    mask = Image.new("L", (320, 320), 255)
    mask.paste(0, (80, 80, 240, 240))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    grey = inline_image(png_bytes(320, 320, (128, 128, 128)), 10**7)

    assert is_black_and_white(inline_image(buffer.getvalue(), 10**7))
    assert not is_black_and_white(grey)
    assert not is_fully_opaque(inline_image(png_bytes(320, 320, (1, 2, 3, 254), mode="RGBA"), 10**7))
    assert is_fully_opaque(inline_image(png_bytes(320, 320, (1, 255), mode="LA"), 10**7))


def test_a_native_request_with_a_bomb_behind_a_small_header_is_a_400_naming_the_field():
    bomb = b64(bombs.png_with_second_ihdr(512, 512))

    with pytest.raises(ImageGenError) as caught:
        build_request("background-removal", {"model": "nova-canvas", "image": bomb})

    assert caught.value.status == 400
    assert caught.value.details[0]["field"] == "image"


# --- the local preview engine, reachable on loopback without the handlers' checks -------------


def test_the_preview_engine_answers_a_bomb_as_bedrock_does_without_decoding_it(pillow_must_not_open):
    body = {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": b64(bombs.png_bomb())}}

    status, answer = PreviewEngine().bedrock(MODELS["nova-canvas"].model_id, body)

    assert status == 400 and answer["__error__"] == "ValidationException"
    assert "320–4096 px" in answer["message"]


def test_the_preview_engine_refuses_a_gif_as_bedrock_does(pillow_must_not_open):
    body = {"image": b64(bombs.gif_bomb()), "output_format": "png"}

    status, answer = PreviewEngine().bedrock("stability.stable-image-remove-background-v1:0", body)

    assert status == 400 and answer["__error__"] == "ValidationException"


@pytest.mark.parametrize("method", ["vertex", "gemini"])
def test_the_google_previews_refuse_a_bomb_as_invalid_argument(pillow_must_not_open, method):
    bomb = b64(bombs.webp_bomb(9000, 9000))
    body = {
        "vertex": {
            "instances": [{"prompt": "x", "referenceImages": [{"referenceImage": {"bytesBase64Encoded": bomb}}]}]
        },
        "gemini": {"contents": [{"parts": [{"text": "x"}, {"inlineData": {"mimeType": "image/webp", "data": bomb}}]}]},
    }[method]

    status, answer = getattr(PreviewEngine(), method)(body)

    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"


def test_the_preview_engine_still_decodes_what_the_models_take():
    body = {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": b64(png_bytes(512, 512))}}

    status, answer = PreviewEngine().bedrock(MODELS["nova-canvas"].model_id, body)

    assert status == 200
    assert Image.open(io.BytesIO(base64.b64decode(answer["images"][0]))).size == (512, 512)
