"""Whatever a user sends, the package answers with an ImageGenError or a request: never a crash."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import image_values, json_values, payloads

from imagegen import TASKS, ImageGenError, build_customization_request, build_request, parse_response

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
