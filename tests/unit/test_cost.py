"""Each request's cost at its model's published price (the registry's, with its source and date)."""

from __future__ import annotations

import pytest
from imaging import png_b64

from imagegen import build_request
from imagegen.cost import estimate, settled
from imagegen.registry import MODELS

IMAGE = png_b64(512, 512)


@pytest.mark.parametrize(
    ("task", "body", "usd", "images"),
    [
        # Nova Canvas: standard/premium, up to 1024x1024 and up to 2048x2048.
        ("text-to-image", {"model": "nova-canvas", "prompt": "x", "width": 1024, "height": 1024}, 0.04, 1),
        ("text-to-image", {"model": "nova-canvas", "prompt": "x", "width": 2048, "height": 1024}, 0.06, 1),
        ("text-to-image", {"model": "nova-canvas", "prompt": "x", "quality": "premium"}, 0.06, 1),
        ("text-to-image", {"model": "nova-canvas", "prompt": "x", "numberOfImages": 3}, 0.12, 3),
        # Stability: per image for the generators, per call (one image) for the services.
        ("text-to-image", {"model": "stable-image-ultra", "prompt": "x", "numberOfImages": 2}, 0.28, 2),
        ("upscale", {"model": "stable-creative-upscale", "prompt": "x", "image": IMAGE}, 0.60, 1),
        ("background-removal", {"model": "stable-image-remove-background", "image": IMAGE}, 0.07, 1),
    ],
)
def test_a_requests_estimate_is_its_images_at_their_tier(task, body, usd, images):
    cost = estimate(build_request(task, body))

    assert cost.usd == pytest.approx(usd) and cost.images == images and cost.model == body["model"]


def test_a_fan_out_whose_calls_were_not_all_answered_costs_the_answered_ones():
    built = build_request("text-to-image", {"model": "stable-image-core", "prompt": "x", "numberOfImages": 4})

    assert settled(built, 4).usd == pytest.approx(0.16)
    assert settled(built, 1).usd == pytest.approx(0.04) and settled(built, 1).images == 1
    assert settled(built, 0).usd == 0


def test_every_bedrock_model_has_a_published_price_with_its_source_and_date():
    for name, spec in MODELS.items():
        assert spec.price is not None and spec.price.usd > 0, name
        assert spec.price.source and spec.price.as_of is not None, name
        assert spec.describe(spec.price.as_of)["price"]["per"] in ("image", "call"), name
