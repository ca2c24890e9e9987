"""Stability on Bedrock: every documented rule enforced before the call.

Numbers are copied from shared/specs/stability-on-bedrock.txt (section noted), not read from
the registry, so a wrong registry value fails here.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from imaging import b64, mask_b64, png_b64, png_bytes, webp_bytes
from PIL import Image

from imagegen import ImageGenError, build_request, parse_response

IMG = png_b64(512, 512)


def error_of(task: str, payload: dict) -> ImageGenError:
    with pytest.raises(ImageGenError) as caught:
        build_request(task, payload)
    return caught.value


def fields_named(error: ImageGenError) -> set[str]:
    return {detail["field"] for detail in error.details}


# --- fields: whitelisted per model (sec.1: Bedrock rejects any unknown key) -----------------


@pytest.mark.parametrize(
    ("model", "task", "payload", "field"),
    [
        ("stable-image-ultra", "text-to-image", {"prompt": "x"}, "cfgScale"),
        ("stable-image-ultra", "text-to-image", {"prompt": "x"}, "stylePreset"),  # UNCONFIRMED: refused
        ("sd3-5-large", "text-to-image", {"prompt": "x"}, "width"),
        ("stable-fast-upscale", "upscale", {"image": IMG}, "prompt"),
        ("stable-conservative-upscale", "upscale", {"image": IMG, "prompt": "x"}, "stylePreset"),
        ("stable-outpaint", "outpainting", {"image": IMG, "left": 10}, "maskPrompt"),
        ("stable-outpaint", "outpainting", {"image": IMG, "left": 10}, "negativePrompt"),
        ("stable-image-inpaint", "inpainting", {"image": IMG, "prompt": "x"}, "maskPrompt"),
        ("stable-fast-upscale", "upscale", {"image": IMG}, "negativePrompt"),
        ("stable-image-control-sketch", "text-to-image", {"prompt": "x", "conditionImage": IMG}, "controlMode"),
    ],
)
def test_a_field_outside_the_models_native_body_is_unsupported_by_name(model, task, payload, field):
    value = {"cfgScale": 5.0, "stylePreset": "anime", "width": 1024, "prompt": "x", "maskPrompt": "a",
             "negativePrompt": "n", "numberOfImages": 2, "controlMode": "CANNY_EDGE"}[field]  # fmt: skip
    err = error_of(task, {"model": model, **payload, field: value})

    assert err.code == "unsupported" and fields_named(err) == {field}


@pytest.mark.parametrize(
    ("model", "task", "payload", "missing"),
    [
        ("stable-creative-upscale", "upscale", {"image": IMG}, "prompt"),
        ("stable-conservative-upscale", "upscale", {"image": IMG}, "prompt"),
        ("stable-image-inpaint", "inpainting", {"image": IMG, "maskImage": mask_b64(512, 512)}, "prompt"),
        ("stable-image-inpaint", "inpainting", {"image": IMG, "prompt": "a cat"}, "maskImage"),
        ("stable-image-erase-object", "erase-object", {"image": IMG}, "maskImage"),
        ("stable-image-control-sketch", "text-to-image", {"prompt": "x"}, "conditionImage"),
        ("stable-image-style-guide", "text-to-image", {"prompt": "x"}, "styleImage"),
        ("sd3-5-large", "image-variation", {"images": [IMG]}, "prompt"),
        ("stable-image-search-replace", "search-replace", {"image": IMG, "prompt": "a dog"}, "searchPrompt"),
        ("stable-image-search-recolor", "search-recolor", {"image": IMG, "prompt": "red"}, "selectPrompt"),
        ("stable-style-transfer", "style-transfer", {"image": IMG}, "styleImage"),
    ],
)
def test_what_a_model_requires_is_required_by_name(model, task, payload, missing):
    err = error_of(task, {"model": model, **payload})

    assert err.code == "invalid_request" and missing in fields_named(err)


# --- ranges ---------------------------------------------------------------------------------

# (model, task, base payload, field, lowest, below, highest, above)
RANGES = [
    ("stable-image-inpaint", "inpainting", {"image": IMG, "maskImage": mask_b64(512, 512), "prompt": "x"},
     "growMask", 0, -1, 20, 21),
    ("stable-outpaint", "outpainting", {"image": IMG}, "left", 1, -1, 2000, 2001),
    ("stable-outpaint", "outpainting", {"image": IMG, "left": 5}, "creativity", 0.1, 0.09, 1.0, 1.01),
    ("stable-creative-upscale", "upscale", {"image": IMG, "prompt": "x"}, "creativity", 0.1, 0.09, 0.35, 0.36),
    ("stable-conservative-upscale", "upscale", {"image": IMG, "prompt": "x"}, "creativity", 0.2, 0.19, 0.5, 0.51),
    ("stable-image-control-sketch", "text-to-image", {"prompt": "x", "conditionImage": IMG},
     "controlStrength", 0, -0.01, 1, 1.01),
    ("stable-image-style-guide", "text-to-image", {"prompt": "x", "styleImage": IMG}, "fidelity", 0, -0.01, 1, 1.01),
    ("stable-style-transfer", "style-transfer", {"image": IMG, "styleImage": IMG},
     "changeStrength", 0.1, 0.09, 1, 1.01),
    ("stable-style-transfer", "style-transfer", {"image": IMG, "styleImage": IMG},
     "styleStrength", 0, -0.01, 1, 1.01),
    ("stable-image-search-replace", "search-replace", {"image": IMG, "prompt": "x", "searchPrompt": "y"},
     "seed", 0, -1, 4_294_967_294, 4_294_967_295),
    ("stable-image-ultra", "text-to-image", {"prompt": "x"}, "seed", 0, -1, 4_294_967_295, 4_294_967_296),
    ("sd3-5-large", "text-to-image", {"prompt": "x"}, "numberOfImages", 1, 0, 5, 6),
    ("stable-image-inpaint", "inpainting", {"image": IMG, "prompt": "x", "maskImage": mask_b64(512, 512)},
     "numberOfImages", 1, 0, 5, 6),
]  # fmt: skip


def test_an_edit_service_fans_out_numberofimages_into_calls_with_distinct_seeds():
    built = build_request(
        "inpainting",
        {"model": "stable-image-inpaint", "image": IMG, "prompt": "a cat", "maskImage": mask_b64(512, 512),
         "numberOfImages": 3, "seed": 7},
    )  # fmt: skip

    assert [body["seed"] for body in built.bodies] == [7, 8, 9] and built.requested == 3
    assert all("number_of_images" not in body and "numberOfImages" not in body for body in built.bodies)


@pytest.mark.parametrize(("model", "task", "payload", "field", "low", "below", "high", "above"), RANGES)
def test_each_documented_range_holds_at_its_edges(model, task, payload, field, low, below, high, above):
    base = {"model": model, **payload}
    for value in (low, high):
        assert build_request(task, {**base, field: value}).bodies
    for value in (below, above):
        assert field in fields_named(error_of(task, {**base, field: value}))


def test_prompts_are_at_most_10000_characters():
    assert build_request("text-to-image", {"model": "stable-image-ultra", "prompt": "x" * 10_000}).bodies
    assert "prompt" in fields_named(error_of("text-to-image", {"model": "stable-image-ultra", "prompt": "x" * 10_001}))


def test_outpainting_must_extend_at_least_one_side():
    err = error_of("outpainting", {"model": "stable-outpaint", "image": IMG})
    assert fields_named(err) == {"left"} and "at least one side" in err.details[0]["message"]


@pytest.mark.parametrize(
    ("model", "task", "fmt", "accepted"),
    [
        ("stable-image-remove-background", "background-removal", "jpeg", False),  # no transparency in JPEG
        ("stable-image-remove-background", "background-removal", "webp", True),
        ("stable-image-core", "text-to-image", "webp", False),  # webp on Core: UNCONFIRMED
        ("stable-image-search-recolor", "search-recolor", "webp", True),
    ],
)
def test_output_formats_per_model(model, task, fmt, accepted):
    payload = {"model": model, "outputFormat": fmt, **{
        "background-removal": {"image": IMG}, "text-to-image": {"prompt": "x"},
        "search-recolor": {"image": IMG, "prompt": "red", "selectPrompt": "car"},
    }[task]}  # fmt: skip
    if accepted:
        assert build_request(task, payload).bodies[0]["output_format"] == fmt
    else:
        assert fields_named(error_of(task, payload)) == {"outputFormat"}


# --- input images (sec.6) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "task", "payload_of", "size", "accepted"),
    [
        ("stable-fast-upscale", "upscale", lambda img: {"image": img}, (1024, 1024), True),
        ("stable-fast-upscale", "upscale", lambda img: {"image": img}, (1025, 1024), False),  # > 1,048,576 px
        ("stable-fast-upscale", "upscale", lambda img: {"image": img}, (31, 64), False),
        ("stable-fast-upscale", "upscale", lambda img: {"image": img}, (1537, 64), False),
        ("stable-creative-upscale", "upscale", lambda img: {"image": img, "prompt": "x"}, (64, 63), False),
        ("stable-image-search-replace", "search-replace",
         lambda img: {"image": img, "prompt": "x", "searchPrompt": "y"}, (250, 100), True),  # 2.5:1
        ("stable-image-search-replace", "search-replace",
         lambda img: {"image": img, "prompt": "x", "searchPrompt": "y"}, (251, 100), False),
        ("stable-image-remove-background", "background-removal", lambda img: {"image": img}, (2048, 2048), True),
        ("stable-image-remove-background", "background-removal", lambda img: {"image": img}, (2048, 2049), False),
    ],
)  # fmt: skip
def test_input_pixel_bounds_per_service(model, task, payload_of, size, accepted):
    payload = {"model": model, **payload_of(png_b64(*size))}
    if accepted:
        assert build_request(task, payload).bodies
    else:
        assert "image" in fields_named(error_of(task, payload))


def test_webp_inputs_are_taken_by_stability_and_refused_by_nova():
    webp = b64(webp_bytes(512, 512))
    assert build_request("background-removal", {"model": "stable-image-remove-background", "image": webp}).bodies
    err = error_of("background-removal", {"model": "nova-canvas", "image": webp})
    assert err.details == [{"field": "image", "message": "must be PNG or JPEG for nova-canvas (got WebP)"}]


def test_the_mask_reaches_stability_white_where_the_contract_marks_black():
    built = build_request(
        "erase-object", {"model": "stable-image-erase-object", "image": IMG, "maskImage": mask_b64(512, 512)}
    )
    sent = Image.open(io.BytesIO(base64.b64decode(built.bodies[0]["mask"])))
    assert sent.getpixel((256, 256)) == 255 and sent.getpixel((5, 5)) == 0


def test_a_request_over_invokemodels_25_mb_body_is_413_before_the_call():
    # Two 10 MB inputs (s3:// resolves them) make a body of about 27 MB once base64-encoded.
    built = build_request(
        "style-transfer",
        {"model": "stable-style-transfer", "image": "s3://inputs/a.png", "styleImage": "s3://inputs/b.png"},
    )
    big = _large_png(9_500_000)
    with pytest.raises(ImageGenError) as caught:
        built.resolve({"s3://inputs/a.png": big, "s3://inputs/b.png": big})
    assert caught.value.status == 413 and "25,000,000" in caught.value.message


def _large_png(size: int) -> bytes:
    """A valid 512x512 PNG padded with an ancillary chunk to ``size`` bytes."""
    import struct
    import zlib

    data = png_bytes(512, 512)
    padding = b"\0" * (size - len(data) - 12)
    chunk = struct.pack(">I", len(padding)) + b"zzZz" + padding + struct.pack(">I", zlib.crc32(b"zzZz" + padding))
    return data[:-12] + chunk + data[-12:]


# --- the cost of a request and its outputs --------------------------------------------------


def test_the_output_size_follows_the_service():
    upscale = build_request("upscale", {"model": "stable-fast-upscale", "image": png_b64(300, 200)})
    assert upscale.output_size == (1200, 800)
    outpaint = build_request("outpainting", {"model": "stable-outpaint", "image": IMG, "left": 100, "up": 50})
    assert outpaint.output_size == (612, 562)
    creative = build_request("upscale", {"model": "stable-creative-upscale", "image": IMG, "prompt": "x"})
    assert creative.long_running, "a 4K upscale runs as a job under mode auto"


# --- responses ------------------------------------------------------------------------------


def test_a_filtered_stability_response_is_content_filtered_with_its_reason():
    with pytest.raises(ImageGenError) as caught:
        parse_response("stable-image-search-replace", {"finish_reasons": ["Filter reason: input image"]}, 1)
    assert caught.value.code == "content_filtered" and "Filter reason: input image" in caught.value.message


def test_an_inference_error_is_an_upstream_error_not_a_filter():
    with pytest.raises(ImageGenError) as caught:
        parse_response("stable-outpaint", {"finish_reasons": ["Inference error"]}, 1)
    assert caught.value.code == "upstream_error"


def test_a_webp_output_is_read_with_its_seed():
    native = {"images": [b64(webp_bytes(64, 48))], "seeds": [2130420379], "finish_reasons": [None]}
    parsed = parse_response("stable-image-search-recolor", native, 1)
    assert parsed.mime_types == ["image/webp"] and parsed.seeds == [2130420379]
    json.dumps(parsed.seeds)
