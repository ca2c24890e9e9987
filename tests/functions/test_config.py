"""Settings: one name per environment variable, shared by the functions and the stack."""

from __future__ import annotations

import pytest

from core.config import DEFAULT_ASYNC_THRESHOLD_PIXELS, Settings


def test_defaults_match_the_contract():
    settings = Settings.from_env({})

    assert settings.async_threshold_pixels == 4 * 1024 * 1024 == DEFAULT_ASYNC_THRESHOLD_PIXELS
    assert settings.presign_ttl_seconds == 3600
    assert settings.sync_timeout_seconds == 29
    assert settings.model_ids is None and settings.enabled_models == ()


def test_the_stacks_environment_reads_back_as_the_same_settings():
    settings = Settings(
        output_bucket="out",
        input_bucket="in",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:jobs",
        bedrock_region="us-west-2",
        model_ids={"nova-canvas": "amazon.nova-canvas-v1:0"},
        enabled_models=("nova-canvas", "titan-image-v2"),
        async_threshold_pixels=1_000_000,
        presign_ttl_seconds=600,
    )

    env = settings.to_env()

    assert env["IMAGEGEN_OUTPUT_BUCKET"] == "out"
    assert env["IMAGEGEN_MODELS"] == "nova-canvas,titan-image-v2"
    assert Settings.from_env(env) == settings


def test_to_env_can_give_a_function_only_what_it_needs():
    env = Settings(output_bucket="out", input_bucket="in").to_env(["output_bucket"])

    assert env == {"IMAGEGEN_OUTPUT_BUCKET": "out"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGEGEN_PRESIGN_TTL_SECONDS", "soon"),
        ("IMAGEGEN_ASYNC_THRESHOLD_PIXELS", "-5"),
        ("IMAGEGEN_MODEL_IDS", '["amazon.nova-canvas-v1:0"]'),
    ],
)
def test_a_misconfigured_variable_is_named_in_the_error(name, value):
    with pytest.raises(RuntimeError, match=name):
        Settings.from_env({name: value})
