"""The local stack through the clients users already have: OpenAI's own SDK (as Open WebUI and
LibreChat call it), and the OpenAPI document checked against every route by schemathesis."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from local_client import fetch_image
from PIL import Image, ImageDraw
from test_local_stack import region_identical, scene


@pytest.fixture(scope="module")
def client(stack) -> openai.OpenAI:
    # max_retries=0: a test must see the first answer, not a retried one.
    return openai.OpenAI(api_key=stack.info["apiKey"], base_url=stack.info["api"], max_retries=0, timeout=30)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def transparent_centre(size: int = 512) -> Image.Image:
    """OpenAI's mask: transparent (edit here) in the centre, opaque around."""
    mask = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=(0, 0, 0, 0))
    return mask


def test_generate_returns_b64_json_images_of_the_requested_size(client):
    result = client.images.generate(
        model="gpt-image-1", prompt="a lighthouse at dusk", n=2, size="1024x1024", response_format="b64_json"
    )

    assert len(result.data) == 2
    images = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in result.data]
    assert all(image.size == (1024, 1024) for image in images)
    assert images[0].tobytes() != images[1].tobytes()


def test_generate_returns_urls_that_serve_the_image(client):
    result = client.images.generate(model="dall-e-3", prompt="a red bicycle", size="1792x1024")

    [item] = result.data
    assert fetch_image(item.url).size == (1792, 1024)


def test_an_edit_with_a_mask_keeps_every_pixel_outside_it(client):
    source = scene()

    result = client.images.edit(
        image=("scene.png", png(source), "image/png"),
        mask=("mask.png", png(transparent_centre()), "image/png"),
        prompt="a blue door",
        response_format="b64_json",
    )

    output = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    kept = transparent_centre().getchannel("A")  # opaque (255) = keep
    assert region_identical(output, source, kept)
    assert not region_identical(output, source, kept.point(lambda alpha: 255 - alpha))


def test_an_edit_of_several_images_without_a_mask_is_a_guided_variation(client):
    result = client.images.edit(
        image=[("a.png", png(scene()), "image/png"), ("b.png", png(scene(640)), "image/png")], prompt="in winter"
    )

    assert fetch_image(result.data[0].url).size[0] > 0


# OpenAI deprecated variations (DALL-E 2) in the SDK; clients still call the route.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_variations_answer_n_images(client):
    result = client.images.create_variation(image=("scene.png", png(scene()), "image/png"), n=2)

    assert len(result.data) == 2


def test_a_bad_parameter_is_a_bad_request_error_naming_it(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="gpt-image-1", prompt="a fox", size="huge")

    assert raised.value.param == "size"
    assert "WIDTHxHEIGHT" in raised.value.message


def test_an_unserved_model_is_a_bad_request_error_listing_the_served_ones(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="gpt-9", prompt="a fox")

    assert raised.value.param == "model" and "nova-canvas" in raised.value.message


def test_a_wrong_key_is_refused(stack):
    stranger = openai.OpenAI(api_key="sk-wrong", base_url=stack.info["api"], max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        stranger.images.generate(prompt="a fox")

    assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"


def test_the_openapi_document_is_served_without_a_key(stack):
    status, document = stack.call("GET", "/v1/openapi.json", key=False)

    assert status == 200
    assert document["openapi"].startswith("3.1")
    assert {"/v1/images/generations", "/v1/images/edits", "/v1/text-to-image", "/v1/jobs/{id}"} <= set(
        document["paths"]
    )
    # Served at the address it was fetched from, so tools can call the API from it.
    assert document["servers"] == [{"url": stack.info["api"].removesuffix("/v1")}]


# --- the SDK's other documented calls --------------------------------------------------------


def test_models_list_shows_the_served_models_and_openais_names(client):
    ids = {model.id for model in client.models.list()}

    assert {"gpt-image-1", "dall-e-3", "nova-canvas", "stable-image-core"} <= ids


def test_generate_with_stream_yields_a_completed_event_per_image(client):
    stream = client.images.generate(model="gpt-image-1", prompt="a lighthouse", n=2, size="1024x1024", stream=True)

    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"] * 2
    image = Image.open(io.BytesIO(base64.b64decode(events[0].b64_json)))
    assert image.size == (1024, 1024) and events[0].output_format == "png"


def test_edit_with_stream_yields_image_edit_events(client):
    stream = client.images.edit(
        image=("scene.png", png(scene()), "image/png"), prompt="a hat", model="gpt-image-1", stream=True
    )

    events = list(stream)
    assert events and all(event.type == "image_edit.completed" for event in events)


def test_an_edit_with_a_mask_makes_n_images(client):
    result = client.images.edit(
        image=("scene.png", png(scene()), "image/png"),
        mask=("mask.png", png(transparent_centre()), "image/png"),
        prompt="a blue door",
        model="stable-image-inpaint",
        n=2,
        response_format="b64_json",
    )

    assert len(result.data) == 2 and result.data[0].b64_json != result.data[1].b64_json


def test_a_gpt_image_answer_is_base64_in_the_asked_format(client):
    result = client.images.generate(model="gpt-image-1", prompt="a fox", output_format="webp", size="1024x1024")

    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert image.format == "WEBP" and result.data[0].url is None


def test_a_transparent_background_has_transparent_pixels(client):
    result = client.images.generate(
        model="gpt-image-1", prompt="a red square", background="transparent", size="1024x1024"
    )

    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))).convert("RGBA")
    assert image.getchannel("A").getextrema()[0] == 0, "some pixels are transparent"
