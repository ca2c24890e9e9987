"""Whatever a user sends, the package answers with an ImageGenError or a request: never a crash."""

from __future__ import annotations

import base64
import contextlib

from conftest import png_b64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagegen import TASKS, ImageGenError, build_customization_request, build_request, parse_response

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "model", "prompt", "negativePrompt", "numberOfImages", "width", "height", "quality", "cfgScale", "seed",
    "aspectRatio", "outputFormat", "conditionImage", "controlMode", "controlStrength", "colors", "referenceImage",
    "images", "similarityStrength", "image", "maskPrompt", "maskImage", "outPaintingMode", "mode", "responseFormat",
]  # fmt: skip
image_values = st.one_of(
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b"\x89PNG\r\n\x1a\n" + b).decode()),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b"\xff\xd8\xff" + b).decode()),
    st.sampled_from([png_b64(320, 320), "s3://inputs/a.png", "data:image/png;base64,"]),
)
payloads = (
    st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=8),
        json_values | image_values | st.lists(image_values, max_size=3),
        max_size=8,
    )
    | json_values
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(task=st.sampled_from(TASKS), payload=payloads, model=st.sampled_from(
    ["nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core", None]))  # fmt: skip
def test_build_request_raises_only_imagegen_errors(task, payload, model):
    if isinstance(payload, dict) and model:
        payload = {**payload, "model": model}
    try:
        build_request(task, payload)
    except ImageGenError as exc:
        assert 400 <= exc.status < 500


@SETTINGS
@given(native=json_values | st.dictionaries(st.sampled_from(["instances", "parameters"]), json_values))
def test_customization_raises_only_imagegen_errors(native):
    try:
        build_customization_request(native)
    except ImageGenError as exc:
        assert 400 <= exc.status < 500


@SETTINGS
@given(
    model=st.sampled_from(["nova-canvas", "titan-image-v2", "stable-image-core", "imagen-3-customization"]),
    native=json_values
    | st.fixed_dictionaries({"images": st.lists(image_values, max_size=3), "finish_reasons": json_values}),
)
def test_parse_response_raises_only_imagegen_errors(model, native):
    with contextlib.suppress(ImageGenError):
        parse_response(model, native, requested=2)
