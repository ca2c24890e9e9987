"""The local job runner plays the synthesized state machine: same steps, same retry rules."""

from __future__ import annotations

import local  # noqa: F401  (puts the handler folders on the path)
from core.topology import FUNCTION_SETTINGS, INPUT_BUCKET_ID, OUTPUT_BUCKET_ID
from local.runner import STEPS


def _function_handler(synth, state: dict) -> str:
    """The handler of the Lambda a LambdaInvoke state calls."""
    functions = synth.resources("AWS::Lambda::Function")
    target = state["Parameters"]["FunctionName"]  # "${<LogicalId>.Arn}"
    [name] = [k for k in functions if target == f"${{{k}.Arn}}"]
    return functions[name]["Properties"]["Handler"].removesuffix(".handler")


def test_runner_steps_are_the_state_machines(synth):
    definition = synth.definition()
    states = definition["States"]
    call_model = states[definition["StartAt"]]
    invoke = call_model["ItemProcessor"]["States"][call_model["ItemProcessor"]["StartAt"]]
    publish = states[call_model["Next"]]
    record_failure = states[call_model["Catch"][0]["Next"]]

    assert call_model["ItemsPath"] == STEPS["items"]
    # The stack's partition, which the local stack's moto answers as aws.
    assert invoke["Resource"].replace("${AWS::Partition}", "aws") == STEPS["invoke"]
    assert invoke["Retry"] == [STEPS["invoke_retry"].as_state_json()]
    assert _function_handler(synth, publish) == STEPS["publish"]
    assert STEPS["publish_retry"].as_state_json() in publish["Retry"]
    assert _function_handler(synth, record_failure) == STEPS["catch"]


def test_local_buckets_and_environment_come_from_the_stacks_definitions(synth):
    buckets = synth.resources("AWS::S3::Bucket")
    assert any(k.startswith(f"Storage{OUTPUT_BUCKET_ID}") for k in buckets)
    assert any(k.startswith(f"Storage{INPUT_BUCKET_ID}") for k in buckets)
    functions = {
        f["Properties"]["Handler"].removesuffix(".handler"): set(f["Properties"]["Environment"]["Variables"])
        for f in synth.resources("AWS::Lambda::Function").values()
        if "Environment" in f["Properties"]
    }
    from core.config import Settings
    from core.topology import PROCESS_ENVIRONMENT

    for kind in ("jobs", "uploads", "models", "publish", "fail", "trigger"):
        expected = {Settings.env_name(name) for name in FUNCTION_SETTINGS[kind]}
        assert functions[kind] <= expected | set(PROCESS_ENVIRONMENT), kind
