"""The OpenAI Images API routes: what OpenAI's clients send, translated into the task contract,
and answered (or refused) in OpenAI's shapes."""

from __future__ import annotations

import base64
import io
import json

import authorizer
import images_edits
import images_generations
import images_variations
import pytest
from fake_bedrock import error
from harness import OUTPUT_BUCKET, api_event, call, form_event
from imaging import png_bytes
from PIL import Image

from imagegen.registry import MODELS


def png_file(data: bytes, name: str = "image.png") -> tuple[str, bytes, str]:
    return (name, data, "image/png")


def alpha_mask(width: int, height: int) -> bytes:
    """OpenAI's mask: opaque everywhere but a transparent square in the middle (the edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def openai_error_of(result: dict) -> dict:
    assert set(result) == {"error"}, result
    assert set(result["error"]) == {"message", "type", "param", "code"}, result
    return result["error"]


# --- generations ----------------------------------------------------------------------------


def test_generations_answer_b64_json_images_from_the_default_model(aws):
    event = api_event(
        "/v1/images/generations",
        {"prompt": "a lighthouse", "n": 2, "size": "1024x1024", "response_format": "b64_json", "model": "dall-e-3"},
    )

    status, result, headers = call(images_generations.handler, event)

    assert status == 200, result
    assert isinstance(result["created"], int) and result["model"] == "nova-canvas"
    assert len(result["data"]) == 2
    for item in result["data"]:
        assert Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))).size == (1024, 1024)
    [sent] = aws.bedrock.calls
    assert sent.model_id == MODELS["nova-canvas"].model_id
    assert sent.body["textToImageParams"]["text"] == "a lighthouse"
    config = sent.body["imageGenerationConfig"]
    assert (config["numberOfImages"], config["width"], config["height"]) == (2, 1024, 1024)
    # The images are stored like any job's, under the id the answer names.
    assert headers["X-ImageGen-Job-Id"] == result["job_id"]
    assert aws.keys(prefix=f"outputs/{result['job_id']}/") == [
        f"outputs/{result['job_id']}/0.png",
        f"outputs/{result['job_id']}/1.png",
        f"outputs/{result['job_id']}/manifest.json",
    ]


def test_generations_answer_presigned_urls_by_default(aws):
    status, result, _ = call(images_generations.handler, api_event("/v1/images/generations", {"prompt": "a fox"}))

    assert status == 200, result
    [item] = result["data"]
    assert set(item) == {"url"}
    assert (
        item["url"].startswith(f"https://{OUTPUT_BUCKET}.s3.") and f"/outputs/{result['job_id']}/0.png?" in item["url"]
    )
    assert "X-Amz-Signature=" in item["url"]


def test_a_registry_model_name_is_served_as_itself_and_size_becomes_the_nearest_ratio(aws):
    event = api_event("/v1/images/generations", {"prompt": "a fox", "model": "stable-image-core", "size": "1792x1024"})

    status, result, _ = call(images_generations.handler, event)

    assert status == 200, result
    assert result["model"] == "stable-image-core"
    [sent] = aws.bedrock.calls
    assert sent.body["aspect_ratio"] == "16:9"
    assert any("1792x1024 is served as 16:9" in warning for warning in result["warnings"])


def test_quality_hd_asks_nova_for_premium(aws):
    event = api_event("/v1/images/generations", {"prompt": "a fox", "quality": "hd", "size": "512x512"})

    status, result, _ = call(images_generations.handler, event)

    assert status == 200, result
    assert aws.bedrock.calls[0].body["imageGenerationConfig"]["quality"] == "premium"


def test_cosmetic_parameters_are_ignored_with_a_warning(aws):
    event = api_event("/v1/images/generations", {"prompt": "a fox", "style": "vivid", "user": "u-42"})

    status, result, _ = call(images_generations.handler, event)

    assert status == 200, result
    assert "style is ignored by this service" in result["warnings"]
    assert "user is ignored by this service" in result["warnings"]


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"prompt": "a fox", "model": "gpt-9"}, "model", "gpt-9 is not served here; use one of:"),
        ({"prompt": "a fox", "model": "stable-fast-upscale"}, "model", "text-to-image"),
        ({"prompt": "a fox", "model": ["dall-e-3"]}, "model", "valid string"),
        ({"prompt": "a fox", "colour": "red"}, "colour", "unknown field"),
        # As OpenAI: "the output format needs to support transparency".
        ({"prompt": "a fox", "background": "transparent", "output_format": "jpeg"}, "background", "png or webp"),
        ({"prompt": "a fox", "size": "big"}, "size", "WIDTHxHEIGHT"),
        ({"prompt": "a fox", "size": "0x512"}, "size", "WIDTHxHEIGHT"),
        ({"prompt": "a fox", "n": "two"}, "n", "integer"),
        ({"prompt": "a fox", "n": 11}, "n", "less than or equal to 10"),
        ({"prompt": "a fox", "response_format": "png"}, "response_format", "'url' or 'b64_json'"),
        ({"prompt": 7}, "prompt", "valid string"),
        ({}, "prompt", "Field required"),
    ],
)
def test_bad_generations_are_400s_in_openai_shape_naming_the_parameter(aws, body, param, says):
    status, result, _ = call(images_generations.handler, api_event("/v1/images/generations", body))

    assert status == 400, result
    error_body = openai_error_of(result)
    assert error_body["param"] == param and error_body["type"] == "invalid_request_error"
    assert says in error_body["message"]
    assert aws.bedrock.calls == []


def test_an_unknown_model_lists_the_served_names_and_openais(aws):
    status, result, _ = call(
        images_generations.handler, api_event("/v1/images/generations", {"prompt": "a fox", "model": "gpt-9"})
    )

    assert status == 400
    message = result["error"]["message"]
    assert "nova-canvas" in message and "dall-e-3" in message and "gpt-image-1" in message


def test_a_deployments_own_model_names_map_to_its_models(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_OPENAI_MODELS", json.dumps({"house-style": "titan-image-v2"}))
    aws.reconfigure()

    status, result, _ = call(
        images_generations.handler,
        api_event("/v1/images/generations", {"prompt": "a fox", "model": "house-style", "size": "1024x1024"}),
    )

    assert status == 200, result
    assert result["model"] == "titan-image-v2"
    assert aws.bedrock.calls[0].model_id == MODELS["titan-image-v2"].model_id


def test_a_model_that_refuses_the_prompt_answers_in_openai_shape(aws):
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))

    status, result, _ = call(images_generations.handler, api_event("/v1/images/generations", {"prompt": "a fox"}))

    assert 400 <= status < 500, result
    assert openai_error_of(result)["message"]


def test_a_json_array_body_is_a_400_naming_the_body(aws):
    status, result, _ = call(images_generations.handler, api_event("/v1/images/generations", raw="[1, 2]"))

    assert status == 400 and openai_error_of(result)["param"] == "body"


# --- edits ----------------------------------------------------------------------------------


def test_an_edit_with_a_mask_inpaints_where_the_mask_is_transparent(aws):
    event = form_event(
        "/v1/images/edits",
        {"image": png_file(png_bytes(512, 512)), "mask": png_file(alpha_mask(512, 512)), "prompt": "a door",
         "response_format": "b64_json"},
    )  # fmt: skip

    status, result, _ = call(images_edits.handler, event)

    assert status == 200, result
    [sent] = aws.bedrock.calls
    params = sent.body["inPaintingParams"]
    assert params["text"] == "a door"
    assert base64.b64decode(params["image"]) == png_bytes(512, 512)
    mask = Image.open(io.BytesIO(base64.b64decode(params["maskImage"]))).convert("RGB")
    # The contract's convention, Nova's too: black is edited, white is kept.
    assert mask.getpixel((256, 256)) == (0, 0, 0)
    assert mask.getpixel((10, 10)) == (255, 255, 255) and mask.getpixel((500, 500)) == (255, 255, 255)


def test_an_edit_without_a_mask_is_a_variation_guided_by_the_prompt(aws):
    event = form_event("/v1/images/edits", {"image[]": png_file(png_bytes(512, 512)), "prompt": "in winter"})

    status, result, _ = call(images_edits.handler, event)

    assert status == 200, result
    [sent] = aws.bedrock.calls
    assert sent.body["taskType"] == "IMAGE_VARIATION"
    assert sent.body["imageVariationParams"]["text"] == "in winter"


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"prompt": "a door"}, "image", "Field required"),
        ({"image": png_file(png_bytes(512, 512))}, "prompt", "Field required"),
        ({"image": png_file(b"not an image"), "mask": png_file(alpha_mask(512, 512)), "prompt": "x"}, "image", ""),
        (
            {"image": png_file(png_bytes(512, 512)), "mask": png_file(alpha_mask(256, 256)), "prompt": "x"},
            "mask",
            "must be the size of the image (512x512), got 256x256",
        ),
        (
            {"image": png_file(png_bytes(512, 512)), "mask": png_file(png_bytes(512, 512)), "prompt": "x"},
            "mask",
            "alpha channel",
        ),
        ({"image": png_file(png_bytes(512, 512)), "mask": png_file(b"\x89PNG garbage"), "prompt": "x"}, "mask", ""),
        ({"image": png_file(png_bytes(512, 512)), "prompt": "x", "n": "0"}, "n", ""),
    ],
)
def test_bad_edits_are_400s_naming_the_form_field(aws, fields, param, says):
    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", fields))

    assert status == 400, result
    error_body = openai_error_of(result)
    assert error_body["param"] == param and says in error_body["message"]
    assert aws.bedrock.calls == []


def test_a_body_that_is_not_a_form_is_a_400(aws):
    event = api_event("/v1/images/edits", {"prompt": "x"})

    status, result, _ = call(images_edits.handler, event)

    assert status == 400 and openai_error_of(result)["param"] == "body"


# --- variations -----------------------------------------------------------------------------


def test_variations_vary_the_image(aws):
    event = form_event("/v1/images/variations", {"image": png_file(png_bytes(512, 512)), "n": "2"})

    status, result, _ = call(images_variations.handler, event)

    assert status == 200, result
    assert len(result["data"]) == 2
    [sent] = aws.bedrock.calls
    assert sent.body["taskType"] == "IMAGE_VARIATION"
    assert sent.body["imageVariationParams"]["images"] == [base64.b64encode(png_bytes(512, 512)).decode()]


def test_a_variation_by_a_model_that_needs_a_prompt_gets_one_and_says_so(aws):
    event = form_event("/v1/images/variations", {"image": png_file(png_bytes(512, 512)), "model": "sd3-5-large"})

    status, result, _ = call(images_variations.handler, event)

    assert status == 200, result
    assert aws.bedrock.calls[0].body["prompt"] == "a variation of this image"
    assert any("needs a prompt" in warning for warning in result["warnings"])


def test_a_variation_with_a_prompt_field_is_refused_as_unknown(aws):
    event = form_event("/v1/images/variations", {"image": png_file(png_bytes(512, 512)), "prompt": "x"})

    status, result, _ = call(images_variations.handler, event)

    assert status == 400 and openai_error_of(result)["param"] == "prompt"


# --- the key: x-api-key or Authorization: Bearer ------------------------------------------


def _authorize(headers: dict) -> dict:
    arn = "arn:aws:execute-api:us-west-2:123456789012:abc123/prod/POST/v1/images/generations"
    return authorizer.handler({"type": "REQUEST", "methodArn": arn, "headers": headers}, None)


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"Authorization": "Bearer sk-local-123"}, "sk-local-123"),
        ({"authorization": "bearer  sk-local-123 "}, "sk-local-123"),
        ({"x-api-key": "abc", "Authorization": "Bearer other"}, "abc"),
        ({"X-Api-Key": "abc"}, "abc"),
    ],
)
def test_the_authorizer_hands_the_key_to_the_usage_plan(headers, key):
    answer = _authorize(headers)

    assert answer["usageIdentifierKey"] == key
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"].endswith("/POST/v1/images/generations")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}])
def test_the_authorizer_refuses_a_request_without_a_key_as_unauthorized(headers):
    # API Gateway answers it 401, which OpenAI's clients raise as AuthenticationError (test_unauthorized.py).
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(headers)
