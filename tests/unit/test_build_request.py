"""build_request: support, combinations, references, fan-out, cost and lifecycle."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from imaging import mask_b64, png_b64

from imagegen import ImageGenError, build_request

IMG = png_b64(512, 512)


def error_of(task: str, payload) -> ImageGenError:
    with pytest.raises(ImageGenError) as caught:
        build_request(task, payload)
    return caught.value


def test_sends_only_what_was_given():
    built = build_request("text-to-image", {"model": "nova-canvas", "prompt": "a fox"})
    assert (built.model, built.model_id, built.mode, built.response_format) == (
        "nova-canvas", "amazon.nova-canvas-v1:0", "auto", "url",
    )  # fmt: skip
    assert built.bodies == [{"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a fox"}}]
    assert built.seeds == [12]  # Nova's documented default seed


@pytest.mark.parametrize(
    ("task", "payload", "live"),
    [
        ("text-to-image", {"prompt": "a fox"}, "stable-image-core"),
        ("image-variation", {"images": [IMG], "prompt": "a fox"}, "sd3-5-large"),
        ("upscale", {"image": IMG}, "stable-fast-upscale"),
        ("background-removal", {"image": IMG}, "stable-image-remove-background"),
        ("style-transfer", {"image": IMG, "styleImage": IMG}, "stable-style-transfer"),
    ],
)
def test_a_request_naming_no_model_gets_a_live_model(task, payload, live):
    assert build_request(task, payload).model == live


def test_a_deployments_default_model_comes_before_the_registrys():
    built = build_request("text-to-image", {"prompt": "a fox"}, default_models={"text-to-image": "nova-canvas"})
    assert built.model == "nova-canvas"


def test_a_task_the_model_lacks_is_unsupported_naming_model_and_task():
    err = error_of("inpainting", {"model": "stable-image-core", "image": IMG, "maskPrompt": "x"})
    assert (err.status, err.code) == (400, "unsupported")
    assert err.details[0]["field"] == "model"
    assert "stable-image-core" in err.message and "inpainting" in err.message
    assert error_of("color-guided", {"model": "titan-image-v1", "prompt": "x", "colors": ["#000000"]}).code == (
        "unsupported"
    )


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("nova-canvas", "aspectRatio", "1:1"),
        ("titan-image-v2", "outputFormat", "png"),
        ("titan-image-v1", "conditionImage", IMG),
        ("titan-image-v1", "quality", "premium"),
        ("stable-image-core", "cfgScale", 5.0),
        ("stable-image-core", "width", 1024),
    ],
)
def test_a_field_the_model_lacks_is_unsupported_naming_the_field(model, field, value):
    err = error_of("text-to-image", {"model": model, "prompt": "x", field: value})
    assert err.code == "unsupported"
    assert err.details == [{"field": field, "message": f"not supported by {model} for text-to-image"}]


def test_nova_edits_take_no_output_size():
    err = error_of("inpainting", {"model": "nova-canvas", "image": IMG, "maskPrompt": "cat", "width": 512})
    assert (err.code, err.details[0]["field"]) == ("unsupported", "width")


def test_unknown_fields_and_wrong_types_are_invalid_naming_each_field():
    err = error_of("text-to-image", {"prompt": 5, "colour": "red", "seed": "7", "numberOfImages": True})
    assert err.code == "invalid_request"
    assert {d["field"] for d in err.details} == {"prompt", "colour", "seed", "numberOfImages"}


@pytest.mark.parametrize("payload", [None, [], "text", 3])
def test_a_body_that_is_not_an_object_is_invalid(payload):
    assert error_of("text-to-image", payload).details[0]["field"] == "body"


def test_unknown_model_is_invalid_and_lists_the_models():
    err = error_of("text-to-image", {"model": "dall-e", "prompt": "x"})
    assert err.details[0]["field"] == "model"
    assert "nova-canvas" in err.details[0]["message"]


def test_mask_prompt_xor_mask_image():
    neither = error_of("inpainting", {"model": "nova-canvas", "image": IMG})
    both = error_of(
        "outpainting", {"model": "nova-canvas", "image": IMG, "maskPrompt": "a", "maskImage": mask_b64(512, 512)}
    )
    assert neither.details[0]["field"] == "maskPrompt"
    assert both.details[0]["field"] == "maskImage"


def test_titan_outpainting_requires_a_prompt_nova_does_not():
    err = error_of("outpainting", {"model": "titan-image-v2", "image": IMG, "maskPrompt": "sky"})
    assert err.details == [{"field": "prompt", "message": "is required by titan-image-v2 for outpainting"}]
    assert build_request("outpainting", {"model": "nova-canvas", "image": IMG, "maskPrompt": "sky"}).bodies


def test_control_fields_need_a_condition_image():
    err = error_of("text-to-image", {"prompt": "x", "controlStrength": 0.5})
    assert err.details[0]["field"] == "controlStrength"


def test_s3_references_wait_for_resolution_and_foreign_buckets_are_refused():
    built = build_request(
        "inpainting",
        {"model": "nova-canvas", "image": "s3://inputs/uploads/a.png", "maskPrompt": "dog"},
        input_bucket="inputs",
    )
    assert built.bodies == [] and not built.resolved
    assert [(path, ref.uri) for path, ref in built.s3_refs] == [("image", "s3://inputs/uploads/a.png")]

    resolved = built.resolve({"s3://inputs/uploads/a.png": base64.b64decode(png_b64(640, 480))})
    assert resolved.resolved
    assert resolved.bodies[0]["inPaintingParams"]["image"] == png_b64(640, 480)
    assert resolved.cost_pixels == 640 * 480

    with pytest.raises(ImageGenError) as caught:
        build_request("background-removal", {"image": "s3://someone-else/x.png"}, input_bucket="inputs")
    assert caught.value.details[0]["field"] == "image"
    assert "input bucket" in caught.value.details[0]["message"]


def test_resolved_images_get_the_same_checks_as_inline_ones():
    built = build_request("image-variation", {"model": "titan-image-v1", "images": [IMG, "s3://inputs/b.png"]})
    with pytest.raises(ImageGenError) as caught:
        built.resolve({"s3://inputs/b.png": base64.b64decode(png_b64(1500, 500))})
    assert caught.value.details[0]["field"] == "images[1]"
    with pytest.raises(ImageGenError) as caught:
        built.resolve({"s3://inputs/b.png": b"not an image"})
    assert caught.value.details[0]["field"] == "images[1]"


def test_stable_image_core_fans_out_with_distinct_seeds_derived_from_the_given_seed():
    built = build_request(
        "text-to-image", {"model": "stable-image-core", "prompt": "x", "numberOfImages": 3, "seed": 9}
    )
    assert [body["seed"] for body in built.bodies] == [9, 10, 11]
    assert built.requested == 3
    top = build_request("text-to-image", {"model": "stable-image-core", "prompt": "x", "numberOfImages": 2,
                                          "seed": 4_294_967_295})  # fmt: skip
    assert [body["seed"] for body in top.bodies] == [4_294_967_295, 1]  # wraps, never 0 (random)
    unseeded = build_request("text-to-image", {"model": "stable-image-core", "prompt": "x", "numberOfImages": 4})
    seeds = [body["seed"] for body in unseeded.bodies]
    assert len(set(seeds)) == 4 and all(seed > 0 for seed in seeds)


def test_cost_pixels_weighs_count_size_and_premium():
    nova = {"model": "nova-canvas", "prompt": "x"}
    built = build_request("text-to-image", {**nova, "numberOfImages": 4, "width": 1024, "height": 1024})
    assert built.cost_pixels == 4 * 1024 * 1024
    premium = build_request("text-to-image", {**nova, "quality": "premium", "numberOfImages": 2})
    assert premium.cost_pixels == 2 * 1024 * 1024 * 2
    sic = build_request("text-to-image", {"model": "stable-image-core", "prompt": "x", "aspectRatio": "16:9",
                                          "numberOfImages": 2})  # fmt: skip
    assert sic.cost_pixels == 2 * 1344 * 768


def test_parameters_for_the_manifest_describe_images_without_their_data():
    built = build_request(
        "image-variation", {"model": "nova-canvas", "images": [IMG, "s3://inputs/x.png"], "prompt": "p"}
    )
    params = built.parameters()
    assert params["images[0]"] == {"contentType": "image/png", "width": 512, "height": 512}
    assert params["images[1]"] == {"s3Uri": "s3://inputs/x.png"}
    assert IMG not in str(params)


def test_model_id_override_and_lifecycle_warnings():
    built = build_request("text-to-image", {"model": "titan-image-v2", "prompt": "x"}, today=date(2026, 11, 22))
    assert "end-of-life" in built.warnings[0]
    moved = build_request(
        "text-to-image",
        {"model": "titan-image-v2", "prompt": "x"},
        model_ids={"titan-image-v2": "arn:aws:bedrock:us-east-1::foundation-model/custom"},
        today=date(2026, 11, 22),
    )
    assert moved.model_id.endswith("/custom") and moved.warnings == []
    assert build_request("text-to-image", {"model": "stable-image-core", "prompt": "x"}).warnings == []
