"""Content credentials end to end against `make run`'s stack: what it stores is signed through its
moto KMS key with the chain of this run's local CA, whose certificate .local/stack.json names
(`trustAnchor`), and reads back as c2pa-python's Reader and POST /v1/verify judge it."""

from __future__ import annotations

import base64
import io
import json
import subprocess

import c2pa


def read_store(data: bytes, mime: str, anchors: str) -> dict:
    # verify_trust with the run's CA as the only anchor: the c2pa SDK's trust settings
    # (https://github.com/contentauth/c2pa-python/blob/main/docs/context-settings.md), the same check
    # as `c2patool --trust_anchors`.
    settings = {"verify": {"verify_trust": True, "remote_manifest_fetch": False}, "trust": {"trust_anchors": anchors}}
    with c2pa.Context.from_dict(settings) as context, c2pa.Reader(mime, io.BytesIO(data), None, context) as reader:
        return json.loads(reader.json())


def test_the_stored_image_carries_a_manifest_the_reader_trusts_under_the_runs_ca(stack):
    body = {"model": "nova-canvas", "prompt": "a lighthouse at dusk"}
    status, answer = stack.call("POST", "/v1/text-to-image", body)
    assert status == 200, answer
    bucket, key = answer["images"][0]["s3Uri"].removeprefix("s3://").split("/", 1)
    stored = stack.s3().get_object(Bucket=bucket, Key=key)["Body"].read()

    store = read_store(stored, "image/png", stack.info["trustAnchor"])

    # Trusted: intact, and the signing certificate chains to the anchor (C2PA 2.2 §14.3.6,
    # https://spec.c2pa.org/specifications/specifications/2.2/specs/C2PA_Specification.html#_validation_states).
    assert store["validation_state"] == "Trusted", store.get("validation_results")
    manifest = store["manifests"][store["active_manifest"]]
    [job] = [a["data"] for a in manifest["assertions"] if a["label"] == "org.serverless-imagegen.job"]
    assert (job["jobId"], job["model"]) == (answer["id"], "nova-canvas")
    assert manifest["signature_info"]["common_name"] == "serverless-imagegen local stack"
    # Another run's CA (or none) is not this one: the same image is Valid only.
    assert read_store(stored, "image/png", _another_ca())["validation_state"] == "Valid"


def test_verify_answers_valid_and_trusted_with_the_model_name(stack, tmp_path):
    status, answer = stack.call(
        "POST", "/v1/text-to-image", {"model": "nova-canvas", "prompt": "a fox", "responseFormat": "base64"}
    )
    assert status == 200, answer
    image = answer["images"][0]["base64"]

    status, verdict = stack.call("POST", "/v1/verify", {"image": image})

    assert status == 200, verdict
    assert (verdict["valid"], verdict["trusted"], verdict["reasons"]) == (True, True, [])
    assert (verdict["model"], verdict["jobId"], verdict["aiGenerated"]) == ("nova-canvas", answer["id"], True)
    # The same file as curl uploads it (a multipart form, which the gateway passes base64-encoded).
    (tmp_path / "fox.png").write_bytes(base64.b64decode(image))
    curl = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-H", f"x-api-key: {stack.info['apiKey']}",
         "-F", f"image=@{tmp_path / 'fox.png'}", stack.info["api"] + "/verify"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stdout + curl.stderr
    assert json.loads(curl.stdout) == verdict


def _another_ca() -> str:
    from tools.provenance_cert import chain_pem, make_ca, subject

    return chain_pem([make_ca(subject("another CA"))[1]])
