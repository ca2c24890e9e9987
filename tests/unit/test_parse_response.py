"""Native responses -> images, seeds, filtered counts and the model's own warnings."""

from __future__ import annotations

import pytest
from imaging import b64, jpeg_bytes, png_b64, png_bytes

from imagegen import ImageGenError, combine, parse_response

PNG = png_b64(64, 64)


def test_nova_full_result():
    result = parse_response("nova-canvas", {"images": [PNG, PNG]}, requested=2)
    assert result.images == [png_bytes(64, 64)] * 2
    assert result.mime_types == ["image/png", "image/png"]
    assert (result.filtered, result.warnings) == (0, [])


def test_titan_partial_filtering_reports_count_and_the_models_message():
    jpeg = b64(jpeg_bytes(64, 64))
    result = parse_response("titan-image-v1", {"images": [jpeg], "error": "1 image was blocked by RAI"}, requested=3)
    assert result.mime_types == ["image/jpeg"]
    assert result.filtered == 2
    assert result.warnings == ["1 image was blocked by RAI"]


def test_every_image_filtered_is_content_filtered_with_the_reason():
    with pytest.raises(ImageGenError) as caught:
        parse_response("nova-canvas", {"images": [], "error": "The generated image has been blocked"}, requested=1)
    assert (caught.value.status, caught.value.code) == (422, "content_filtered")
    assert "The generated image has been blocked" in caught.value.message


def test_stable_image_core_success_and_filter_reasons():
    ok = parse_response("stable-image-core", {"seeds": [2130420379], "finish_reasons": [None], "images": [PNG]}, 1)
    assert ok.seeds == [2130420379] and ok.filtered == 0
    with pytest.raises(ImageGenError) as caught:
        parse_response(
            "stable-image-core", {"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": [PNG]}, 1
        )
    assert caught.value.code == "content_filtered" and "Filter reason: prompt" in caught.value.message
    with pytest.raises(ImageGenError) as caught:
        parse_response("stable-image-core", {"seeds": [1], "finish_reasons": ["Inference error"], "images": [PNG]}, 1)
    assert caught.value.code == "upstream_error"


def test_fan_out_parts_combine_into_one_result():
    parts = [
        parse_response("stable-image-core", {"seeds": [s], "finish_reasons": [None], "images": [PNG]}, 1)
        for s in (5, 6)
    ]
    merged = combine(parts, requested=3)
    assert merged.seeds == [5, 6] and len(merged.images) == 2 and merged.filtered == 1


def test_vertex_predictions_and_filtering():
    result = parse_response(
        "imagen-3-customization",
        {"predictions": [{"bytesBase64Encoded": PNG, "mimeType": "image/png"}, {"raiFilteredReason": "unsafe"}]},
        requested=4,
    )
    assert len(result.images) == 1 and result.filtered == 3 and result.warnings == ["unsafe"]
    with pytest.raises(ImageGenError) as caught:
        parse_response("imagen-3-customization", {}, requested=4)
    assert caught.value.code == "content_filtered"


@pytest.mark.parametrize(
    "native",
    [[], "x", {"images": "abc"}, {"images": [123]}, {"images": ["%%%"]}, {"images": [b64(b"GIF89a")]}],
)
def test_malformed_responses_are_upstream_errors(native):
    with pytest.raises(ImageGenError) as caught:
        parse_response("nova-canvas", native, requested=1)
    assert caught.value.status == 502
