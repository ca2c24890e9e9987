"""The OpenAPI document: generated from the routes and the request models, served without a key,
and committed as docs/openapi.json for readers and code generators."""

from __future__ import annotations

import json
from pathlib import Path

import openapi
from harness import API_BASE_URL, api_event, call

from core.openapi import document
from core.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
# The copy the imagegen command offers its tasks and flags from before it has reached an API.
BUNDLED = ROOT / "client" / "imagegen_client" / "openapi.json"


def test_the_committed_document_is_the_generated_one():
    assert json.loads(COMMITTED.read_text()) == document(), "run `make docs`"


def test_the_clients_bundled_document_is_the_generated_one():
    assert json.loads(BUNDLED.read_text()) == document(), "run `make docs`"


def test_every_route_is_an_operation_with_its_request_and_error_shapes():
    paths = document()["paths"]

    assert {(route.method, route.path) for route in ROUTES} == {
        (method.upper(), path) for path, operations in paths.items() for method in operations
    }
    generations = paths["/v1/images/generations"]["post"]
    assert generations["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OpenAIError"
    }
    assert "multipart/form-data" in paths["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert paths["/v1/text-to-image"]["post"]["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert set(paths["/v1/text-to-image"]["post"]["responses"]) >= {"200", "202", "400", "413", "422", "429"}
    # The document itself is public; everything else takes the key either way.
    assert paths["/v1/openapi.json"]["get"]["security"] == []
    assert document()["security"] == [{"ApiKey": []}, {"Bearer": []}]


def test_the_request_schemas_are_the_ones_the_routes_validate_with():
    schemas = document()["components"]["schemas"]

    generation = schemas["ImagesGeneration"]
    assert generation["additionalProperties"] is False  # unknown parameters are refused
    assert generation["required"] == ["prompt"]
    assert generation["properties"]["n"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 10}
    text_to_image = schemas["TextToImage"]
    assert "prompt" in text_to_image["properties"] and "numberOfImages" in text_to_image["properties"]


def test_the_document_is_served_with_the_callers_base_url(aws):
    event = api_event("/v1/openapi.json", method="GET")
    event["headers"].pop("x-api-key", None)

    status, body, _ = call(openapi.handler, event)

    assert status == 200
    assert body["servers"] == [{"url": API_BASE_URL}]
    assert body["paths"] == document()["paths"]


def test_every_task_route_has_an_example_the_models_accept():
    from imagegen import build_request

    paths = document()["paths"]
    for route in ROUTES:
        if route.task is None:
            continue
        example = paths[route.path]["post"]["requestBody"]["content"]["application/json"]["example"]
        built = build_request(route.task, example)  # raises on anything the model would refuse
        assert built.bodies, route.path


def test_a_deployment_documents_only_the_task_routes_its_models_serve(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS", "stable-image-core,stable-fast-upscale")
    aws.reconfigure()
    event = api_event("/v1/openapi.json", method="GET")

    _, body, _ = call(openapi.handler, event)

    tasks = {path.removeprefix("/v1/") for path, item in body["paths"].items() if "202" in item.get("post", {}).get(
        "responses", {})}  # fmt: skip
    assert tasks == {"text-to-image", "upscale"}
    assert {"/v1/uploads", "/v1/jobs/{id}", "/v1/models", "/v1/playground"} <= set(body["paths"])


def test_image_fields_are_marked_for_clients_that_offer_a_file():
    schemas = document()["components"]["schemas"]

    assert schemas["Inpainting"]["properties"]["image"]["x-image"] is True
    assert schemas["Inpainting"]["properties"]["maskImage"]["anyOf"][0]["x-image"] is True
    assert schemas["ImageVariation"]["properties"]["images"]["items"]["x-image"] is True
    assert "x-image" not in schemas["Inpainting"]["properties"]["prompt"]["anyOf"][0]
