"""What an operator sees: the EMF metric lines each kind of request prints, and log lines that
carry the request's context."""

from __future__ import annotations

import importlib
import json
import logging

import pytest
from fake_bedrock import error
from harness import LambdaContext, api_event, call, load_event

from core import metrics
from imagegen.logs import JsonFormatter, get_logger, log_context

text_to_image = importlib.import_module("text_to_image").handler
fail = importlib.import_module("fail").handler
trigger = importlib.import_module("trigger").handler


def emf_lines(output: str) -> list[dict]:
    """The EMF documents among the printed lines, each checked against the EMF specification:
    every declared metric is a number at the top level, every dimension a string."""
    documents = []
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "ImageGen"
        assert directive["Dimensions"] == [["Model", "Task"], []]  # per model and task, and totals
        for dimension in directive["Dimensions"][0]:
            assert isinstance(document[dimension], str)
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], int | float), metric
            assert metric["Unit"] == metrics.UNITS[metric["Name"]]
        assert isinstance(document["_aws"]["Timestamp"], int)
        documents.append(document)
    return documents


def totals(documents: list[dict], model: str, task: str) -> dict[str, float]:
    """Each metric summed over the lines of one Model/Task pair, as CloudWatch aggregates them."""
    summed: dict[str, float] = {}
    for document in documents:
        if (document["Model"], document["Task"]) != (model, task):
            continue
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            summed[metric["Name"]] = summed.get(metric["Name"], 0) + document[metric["Name"]]
    return summed


def test_a_sync_request_counts_its_images_and_the_model_latency(aws, capsys):
    status, result, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox", "numberOfImages": 2}))

    assert status == 200, result
    documents = emf_lines(capsys.readouterr().out)
    counted = totals(documents, "nova-canvas", "text-to-image")
    assert counted[metrics.IMAGES_GENERATED] == 2 and counted[metrics.IMAGES_FILTERED] == 0
    assert counted[metrics.MODEL_LATENCY] >= 0 and metrics.JOBS_FAILED not in counted
    # A data point leads back to the request's log lines.
    assert {document["jobId"] for document in documents} == {result["id"]}
    assert {document["requestId"] for document in documents} == {LambdaContext.aws_request_id}


def test_a_throttled_sync_request_counts_a_throttle_and_a_failed_job(aws, capsys, no_retry_sleep):
    aws.bedrock.always(*error(429, "ThrottlingException", "Too many requests"))

    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 429
    counted = totals(emf_lines(capsys.readouterr().out), "nova-canvas", "text-to-image")
    assert counted == {metrics.THROTTLES: 1, metrics.JOBS_FAILED: 1}


def test_a_fully_filtered_request_counts_every_image_as_filtered(aws, capsys):
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))

    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox", "numberOfImages": 3}))

    assert status == 422
    counted = totals(emf_lines(capsys.readouterr().out), "nova-canvas", "text-to-image")
    assert counted == {metrics.IMAGES_FILTERED: 3, metrics.JOBS_FAILED: 1}


def test_bad_input_is_not_a_failed_job_and_prints_no_metric(aws, capsys):
    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": ""}))

    assert status == 400
    assert emf_lines(capsys.readouterr().out) == []


def test_an_async_job_failed_by_throttling_is_counted_by_the_fail_step(aws, capsys):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    capsys.readouterr()

    fail({**load_event("sfn-fail.json"), "jobId": started["id"]}, LambdaContext())

    documents = emf_lines(capsys.readouterr().out)
    assert totals(documents, "nova-canvas", "text-to-image") == {metrics.THROTTLES: 1, metrics.JOBS_FAILED: 1}
    assert {document["jobId"] for document in documents} == {started["id"]}


def test_a_triggered_job_counts_its_images(aws, capsys, image512):
    import base64

    aws.s3.put_object(Bucket="imagegen-input", Key="triggers/background-removal/a.png", Body=base64.b64decode(image512))
    event = load_event("sqs-s3-object-created.json")
    notification = json.loads(event["Records"][0]["body"])
    notification["Records"][0]["s3"]["object"] |= {"key": "triggers/background-removal/a.png", "versionId": "v1"}
    event["Records"][0]["body"] = json.dumps(notification)

    assert trigger(event, LambdaContext()) == {"batchItemFailures": []}

    counted = totals(emf_lines(capsys.readouterr().out), "nova-canvas", "background-removal")
    assert counted[metrics.IMAGES_GENERATED] == 1 and metrics.MODEL_LATENCY in counted


# --- log lines ------------------------------------------------------------------------------


def test_every_line_of_a_request_names_the_request_job_task_and_model(aws, caplog):
    caplog.set_level(logging.DEBUG, logger="imagegen")

    status, result, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 200
    lines = [record for record in caplog.records if record.name == "imagegen"]
    job_lines = [record for record in lines if getattr(record, "jobId", None)]
    assert job_lines, "the request logged its outcome"
    for record in job_lines:
        assert record.requestId == LambdaContext.aws_request_id
        assert (record.jobId, record.task, record.model) == (result["id"], "text-to-image", "nova-canvas")
    # The prompt appears only at DEBUG.
    assert all("a fox" not in record.getMessage() for record in lines if record.levelno > logging.DEBUG)


def test_model_calls_in_a_fan_out_log_with_the_requests_context(aws, caplog):
    caplog.set_level(logging.INFO, logger="imagegen")
    aws.bedrock.always(*error(400, "ValidationException", "seed is out of range"))
    body = {"model": "stable-image-core", "prompt": "a fox", "numberOfImages": 2}

    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", body))

    assert status == 400
    bedrock_lines = [record for record in caplog.records if record.getMessage().startswith("Bedrock ")]
    assert bedrock_lines and all(record.task == "text-to-image" for record in bedrock_lines)
    assert all(record.requestId == LambdaContext.aws_request_id for record in bedrock_lines)


def test_no_context_leaks_into_the_next_invocation(aws, caplog):
    caplog.set_level(logging.INFO, logger="imagegen")
    call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))
    caplog.clear()

    get_logger().info("between invocations")

    [record] = caplog.records
    assert not hasattr(record, "jobId") and not hasattr(record, "requestId")


def test_the_json_formatter_writes_lambdas_keys_and_the_context():
    record_holder: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_holder.append(record)

    logger = get_logger()
    handler = Keep()
    logger.addHandler(handler)
    try:
        with log_context(requestId="r-1", jobId="j-1", task="upscale", model="stable-fast-upscale"):
            logger.warning("stored %s\nINFO forged line", "x")
    finally:
        logger.removeHandler(handler)

    line = JsonFormatter().format(record_holder[0])
    assert "\n" not in line
    document = json.loads(line)
    assert document["level"] == "WARNING" and document["logger"] == "imagegen"
    assert document["message"] == "stored x\\nINFO forged line"  # control characters escaped
    assert (document["requestId"], document["jobId"], document["task"]) == ("r-1", "j-1", "upscale")
    assert document["timestamp"].endswith("Z")


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_prompts_are_logged_only_at_debug(aws, caplog, level):
    caplog.set_level(getattr(logging, level), logger="imagegen")

    call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a secret fox"}))

    logged = " ".join(record.getMessage() for record in caplog.records)
    assert ("a secret fox" in logged) == (level == "DEBUG")


# Lambda's application log levels, least to most severe
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
_LAMBDA_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def kept_by_lambda(line: str, function_level: str) -> bool:
    """Lambda's log-level filter for one stdout line of a function with JSON logging: "If the
    "level" value field is invalid or missing, Lambda will assign the log output the level INFO",
    and so without a valid RFC 3339 "timestamp"; a line below the function's level is dropped."""
    from datetime import datetime

    level = "INFO"
    try:
        document = json.loads(line)
        datetime.fromisoformat(str(document["timestamp"]).replace("Z", "+00:00"))
        if document["level"] in _LAMBDA_LEVELS:
            level = document["level"]
    except (ValueError, KeyError, TypeError):
        pass
    return _LAMBDA_LEVELS.index(level) >= _LAMBDA_LEVELS.index(function_level)


@pytest.mark.parametrize("function_level", ["DEBUG", "INFO", "WARN", "ERROR"])
def test_metric_lines_pass_lambdas_log_level_filter_at_every_level(aws, capsys, monkeypatch, function_level):
    """At WARN or ERROR a metric line without a level would be dropped, and the alarms on the
    service's metrics would go blank."""
    from infra.defaults import LOG_LEVELS

    assert set(LOG_LEVELS) == {"DEBUG", "INFO", "WARN", "ERROR"}, "every level a deployment may choose"
    # Lambda sets AWS_LAMBDA_LOG_LEVEL to the function's application log level.
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", function_level)

    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 200
    lines = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert lines and all(kept_by_lambda(line, function_level) for line in lines)
    assert totals(emf_lines("\n".join(lines)), "nova-canvas", "text-to-image")[metrics.IMAGES_GENERATED] == 1


def test_the_filter_this_test_models_drops_a_bare_metric_line_at_warn():
    bare = json.dumps({"_aws": {}, "ImagesGenerated": 1})
    assert kept_by_lambda(bare, "INFO") and not kept_by_lambda(bare, "WARN")
