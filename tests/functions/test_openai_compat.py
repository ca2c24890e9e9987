"""The OpenAI Images API as OpenAI answers it: whatever OpenAI accepts is accepted (mapped,
done by the service, or ignored with a warning), answers take the shape the model name implies,
and the errors speak OpenAI's parameter names."""

from __future__ import annotations

import base64
import io
import json

import images_edits
import images_generations
import images_variations
import models as models_handler
import pytest
from harness import api_event, call, load_event
from imaging import png_bytes
from PIL import Image
from test_openai_images import alpha_mask, form_event, png_file


def generate(aws, body: dict):
    return call(images_generations.handler, api_event("/v1/images/generations", body))


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


# --- what an answer carries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "asked", "key"),
    [
        ("gpt-image-1", None, "b64_json"),  # gpt-image models always answer base64 (LibreChat reads only it)
        ("gpt-image-1.5", None, "b64_json"),
        ("gpt-image-1", "url", "url"),  # ... unless a URL is asked for explicitly
        ("dall-e-3", None, "url"),  # dall-e answers URLs by default, as OpenAI does
        ("dall-e-2", "b64_json", "b64_json"),
        (None, None, "url"),
    ],
)
def test_an_answer_takes_the_shape_the_model_name_implies(aws, model, asked, key):
    body = {"prompt": "a fox", **({"model": model} if model else {}), **({"response_format": asked} if asked else {})}

    status, result, _ = generate(aws, body)

    assert status == 200, result
    assert list(result["data"][0]) == [key]


# --- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "served"),
    [("512x512", (512, 512)), ("256x256", (320, 320)), ("1792x1024", (1792, 1024)), ("1536x1024", (1536, 1024))],
)
def test_every_size_openai_accepts_is_served_as_the_nearest_the_model_makes(aws, size, served):
    status, result, _ = generate(aws, {"prompt": "a fox", "size": size, "response_format": "b64_json"})

    assert status == 200, result
    assert decoded(result["data"][0]["b64_json"]).size == served
    assert (f"size {size} is served as" in " ".join(result["warnings"])) == (tuple(map(int, size.split("x"))) != served)


def test_an_edit_with_a_size_is_served_at_the_inputs_size_with_a_warning(aws):
    event = form_event(
        "/v1/images/edits",
        {"model": "gpt-image-1", "prompt": "a hat", "size": "1024x1024", "image": png_file(png_bytes(512, 512))},
    )

    status, result, _ = call(images_edits.handler, event)

    assert status == 200, result
    assert not any("aspectRatio" in warning for warning in result["warnings"])


# --- formats -------------------------------------------------------------------------------


def test_a_format_the_model_does_not_write_is_converted_by_the_service(aws):
    status, result, _ = generate(aws, {"prompt": "a fox", "output_format": "webp", "response_format": "b64_json"})

    assert status == 200, result
    assert decoded(result["data"][0]["b64_json"]).format == "WEBP"
    assert result["output_format"] == "webp"
    assert any("converted by this service to image/webp" in warning for warning in result["warnings"])


def test_output_compression_sets_the_jpeg_quality(aws):
    sizes = []
    for compression in (10, 95):
        status, result, _ = generate(
            aws,
            {
                "prompt": "a fox",
                "output_format": "jpeg",
                "output_compression": compression,
                "response_format": "b64_json",
            },
        )
        assert status == 200, result
        data = base64.b64decode(result["data"][0]["b64_json"])
        assert data[:3] == b"\xff\xd8\xff"
        sizes.append(len(data))
    assert sizes[0] < sizes[1], "a lower output_compression value is a smaller file"


def test_a_transparent_background_is_made_by_the_deployments_background_removal(aws):
    body = {"prompt": "a fox", "background": "transparent", "size": "512x512", "response_format": "b64_json"}

    status, result, _ = generate(aws, body)

    assert status == 200, result
    tasks = [call_.body.get("taskType") for call_ in aws.bedrock.calls]
    assert tasks == ["TEXT_IMAGE", "BACKGROUND_REMOVAL"]
    assert result["background"] == "transparent" and len(result["job_ids"]) == 2, "made, then cut out"
    assert any("removed the background" in warning for warning in result["warnings"])


# --- edits and variations ------------------------------------------------------------------


def test_several_images_go_to_a_variation_model_that_takes_several(aws):
    images = [("image[]", png_bytes(512, 512, (i * 60, 10, 10))) for i in range(3)]
    fields = [("model", "nova-canvas"), ("prompt", "a hat")] + [
        (k, png_file(v, f"{n}.png")) for n, (k, v) in enumerate(images)
    ]
    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", fields))

    assert status == 200, result
    assert len(aws.bedrock.calls[0].body["imageVariationParams"]["images"]) == 3


def test_n_fans_out_an_edit_by_a_model_that_makes_one_image_per_call(aws):
    fields = {
        "model": "stable-image-inpaint",
        "prompt": "a hat",
        "n": "2",
        "image": png_file(png_bytes(512, 512)),
        "mask": png_file(alpha_mask(512, 512), "mask.png"),
    }

    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", fields))

    assert status == 200, result
    assert len(result["data"]) == 2 and len(aws.bedrock.calls) == 2
    assert aws.bedrock.calls[0].body["seed"] != aws.bedrock.calls[1].body["seed"]


def test_n_works_on_variations(aws):
    fields = {"model": "nova-canvas", "n": "2", "image": png_file(png_bytes(512, 512))}

    status, result, _ = call(images_variations.handler, form_event("/v1/images/variations", fields))

    assert status == 200, result
    assert len(result["data"]) == 2


def test_errors_name_the_openai_parameter_not_the_native_field(aws):
    fields = {"model": "nova-canvas", "prompt": "x" * 2000, "image": png_file(png_bytes(512, 512))}

    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", fields))

    assert status == 400
    assert result["error"]["param"] == "prompt"
    fields = {"model": "titan-image-v1", "n": "7", "image": png_file(png_bytes(512, 512))}
    status, result, _ = call(images_variations.handler, form_event("/v1/images/variations", fields))
    assert status == 200 and "n=7" in " ".join(result["warnings"])
    assert "numberOfImages" not in json.dumps(result)


# --- streaming -----------------------------------------------------------------------------


def test_stream_answers_openais_server_sent_events(aws):
    response = images_generations.handler(
        api_event(
            "/v1/images/generations",
            {"model": "gpt-image-1", "prompt": "a fox", "stream": True, "n": 2, "size": "1024x1024"},
        ),
        None,
    )

    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "text/event-stream"
    events = [block for block in response["body"].split("\n\n") if block]
    assert len(events) == 2
    for block in events:
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == "event: image_generation.completed" and event["type"] == "image_generation.completed"
        assert decoded(event["b64_json"]).size == (1024, 1024) and event["output_format"] == "png"


# --- GET /v1/models ------------------------------------------------------------------------


def test_the_models_list_is_also_openais_list(aws):
    status, result, _ = call(models_handler.handler, load_event("api-get-models.json"))

    assert status == 200
    assert result["object"] == "list"
    ids = {entry["id"] for entry in result["data"]}
    assert {"nova-canvas", "stable-image-core", "gpt-image-1", "dall-e-3"} <= ids
    for entry in result["data"]:
        assert entry["object"] == "model" and isinstance(entry["created"], int) and entry["owned_by"]
    assert result["models"] and result["defaults"], "today's fields stay"
