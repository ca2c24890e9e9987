"""Whatever a client sends to a task route, the answer is never a 5xx."""

from __future__ import annotations

import importlib
import json

from harness import api_event, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import payloads

from imagegen.registry import TASKS

models = st.sampled_from(["nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core", None])
raw_bodies = st.one_of(st.text(max_size=40), st.just("null"), st.just(""))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=st.sampled_from(TASKS), payload=payloads, model=models, raw=st.none() | raw_bodies)
def test_no_client_input_produces_a_5xx(aws, task, payload, model, raw):
    if isinstance(payload, dict) and model:
        payload = {**payload, "model": model}
    handler = importlib.import_module(task.replace("-", "_")).handler

    status, body, _ = call(handler, api_event(f"/v1/{task}", raw=json.dumps(payload) if raw is None else raw))

    assert status < 500, body
    if status >= 400:
        assert body["error"]["code"] in {"invalid_request", "unsupported", "payload_too_large"}
