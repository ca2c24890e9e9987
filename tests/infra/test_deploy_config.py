"""DeployConfig: cdk.json's defaults, `-c` overrides as strings, and clear errors for bad values."""

from __future__ import annotations

import pytest

from imagegen.registry import LIVE_MODELS, MODELS
from infra.config import DeployConfig, cdk_json_context


def config(**overrides) -> DeployConfig:
    context = {**cdk_json_context(), **overrides}
    return DeployConfig.from_context(context.get)


def test_cdk_json_holds_every_default():
    default = config()

    # The models that are live (model-lifecycle.txt): none past its published end of life.
    assert default.models == LIVE_MODELS
    assert all(MODELS[name].lifecycle.status == "active" for name in default.models)
    assert default.default_model("text-to-image") == "stable-image-core"
    assert "color-guided" not in default.tasks
    assert default.async_threshold_pixels == 4 * 1024 * 1024
    assert default.presign_ttl_seconds == 3600 and default.iam_auth is False


def test_command_line_context_strings_are_coerced():
    parsed = config(
        models="nova-canvas,stable-image-core",
        model_ids='{"nova-canvas": "amazon.nova-canvas-v1:0"}',
        iam_auth="true",
        throttle_rate_limit="2.5",
        quota_per_day="100",
    )

    assert parsed.models == ("nova-canvas", "stable-image-core")
    assert parsed.model_ids == {"nova-canvas": "amazon.nova-canvas-v1:0"}
    assert parsed.iam_auth is True and parsed.throttle_rate_limit == 2.5 and parsed.quota_per_day == 100


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"models": "dall-e"}, "models"),
        ({"models": "nova-canvas", "model_ids": '{"titan-image-v2": "x"}'}, "model_ids"),
        ({"log_retention_days": "31"}, "log_retention_days"),
        ({"log_level": "VERBOSE"}, "log_level: one of DEBUG, INFO, WARN, ERROR"),
        ({"trigger_max_concurrency": "1"}, "trigger_max_concurrency"),
        ({"presign_ttl_seconds": "700000"}, "7 days"),
        ({"quota_per_day": "lots"}, "quota_per_day"),
        ({"default_models": '{"upscale": "stable-image-core"}'}, "default_models: upscale=stable-image-core"),
        (
            {"models": "stable-image-core", "default_models": '{"text-to-image": "stable-image-ultra"}'},
            "an enabled model that serves it: stable-image-core",
        ),
        ({"default_models": '{"painting": "stable-image-core"}'}, "painting is not a task"),
        (
            {"models": "stable-image-core", "openai_models": '{"dall-e-3": "nova-canvas"}'},
            "openai_models: dall-e-3=nova-canvas",
        ),
        ({"cors_origins": "app.example.com"}, "cors_origins"),
        ({"cors_origins": "*,https://app.example.com"}, "alone"),
    ],
)
def test_bad_values_fail_at_synth_naming_the_setting(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_a_missing_key_names_cdk_json():
    context = cdk_json_context()
    del context["quota_per_day"]

    with pytest.raises(ValueError, match=r"quota_per_day.*cdk\.json"):
        DeployConfig.from_context(context.get)


def test_a_tasks_default_falls_back_to_an_enabled_model_that_serves_it():
    subset = config(models="nova-canvas,stable-image-ultra")

    assert subset.default_model("text-to-image") == "nova-canvas"  # stable-image-core is not enabled
    assert subset.default_model("color-guided") == "nova-canvas"
    assert set(subset.tasks) == {"text-to-image", "color-guided", "image-variation", "inpainting", "outpainting",
                                 "background-removal"}  # fmt: skip
