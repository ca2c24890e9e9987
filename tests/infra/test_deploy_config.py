"""DeployConfig: cdk.json's defaults, `-c` overrides as strings, and clear errors for bad values."""

from __future__ import annotations

import pytest

from infra.config import DeployConfig, cdk_json_context


def config(**overrides) -> DeployConfig:
    context = {**cdk_json_context(), **overrides}
    return DeployConfig.from_context(context.get)


def test_cdk_json_holds_every_default():
    default = config()

    assert default.models == ("nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core")
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
        ({"trigger_max_concurrency": "1"}, "trigger_max_concurrency"),
        ({"presign_ttl_seconds": "700000"}, "7 days"),
        ({"quota_per_day": "lots"}, "quota_per_day"),
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
