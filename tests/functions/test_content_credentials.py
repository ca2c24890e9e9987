"""C2PA content credentials on every stored image: sync, async (publish), trigger and OpenAI routes,
signed through KMS with the deployment's chain, read back as a verifier reads them."""

from __future__ import annotations

import base64
import importlib
import io
import json

import boto3
import pytest
from harness import INPUT_BUCKET, OUTPUT_BUCKET, REGION, api_event, call
from imaging import b64, mask_b64, png_bytes
from signing import SIGNER, actions, has_manifest, job_assertion, read_store

from core import metrics, provenance
from core.config import SERVICE_NAME, SERVICE_VERSION

text_to_image = importlib.import_module("text_to_image").handler
inpainting = importlib.import_module("inpainting").handler
upscale = importlib.import_module("upscale").handler
publish = importlib.import_module("publish").handler
trigger = importlib.import_module("trigger").handler
images_generations = importlib.import_module("images_generations").handler
images_edits = importlib.import_module("images_edits").handler

AI = provenance.TRAINED_ALGORITHMIC_MEDIA


def stored(aws, view: dict, index: int = 0) -> bytes:
    _, key = view["images"][index]["s3Uri"].split(f"s3://{OUTPUT_BUCKET}/")
    return aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)["Body"].read()


def ingredients(manifest: dict) -> dict[str, str]:
    return {item["title"]: item["relationship"] for item in manifest.get("ingredients", [])}


# --- what every image carries ----------------------------------------------------------------


def test_a_generated_image_is_stored_with_a_trusted_created_manifest_naming_model_job_and_service(aws, signing):
    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a lighthouse at dusk"}))

    assert status == 200, view
    manifest = signing.check(stored(aws, view))
    [created] = actions(manifest)
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == AI
    assert created["softwareAgent"] == {"name": "nova-canvas", "version": "amazon.nova-canvas-v1:0"}
    made = job_assertion(manifest)
    assert made["jobId"] == view["id"] and made["model"] == "nova-canvas" and made["task"] == "text-to-image"
    assert made["modelId"] == "amazon.nova-canvas-v1:0" and made["seed"] == view["images"][0]["seed"]
    generator = manifest["claim_generator_info"][0]
    assert (generator["name"], generator["version"]) == (SERVICE_NAME, SERVICE_VERSION)
    assert manifest["signature_info"]["common_name"] == SIGNER
    # A manifest travels with the image: no request text goes into it.
    assert "lighthouse" not in json.dumps(manifest)
    assert not [warning for warning in view["warnings"] if "credentials" in warning]


def test_inline_images_are_the_stored_signed_bytes(aws, signing):
    body = {"prompt": "a lighthouse", "numberOfImages": 2, "responseFormat": "base64"}

    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", body))

    assert status == 200, view
    for index, image in enumerate(view["images"]):
        inline = base64.b64decode(image["base64"])
        assert inline == stored(aws, view, index)
        assert job_assertion(signing.check(inline))["image"] == index


def test_an_edit_opens_its_input_as_parent_and_lists_the_mask_as_an_input(aws, signing):
    body = {"image": b64(png_bytes(512, 512)), "maskImage": mask_b64(512, 512), "prompt": "new windows"}

    status, view, _ = call(inpainting, api_event("/v1/inpainting", body))

    assert status == 200, view
    manifest = signing.check(stored(aws, view))
    assert [action["action"] for action in actions(manifest)] == ["c2pa.opened", "c2pa.edited"]
    assert actions(manifest)[1]["digitalSourceType"] == AI
    assert ingredients(manifest) == {"image": "parentOf", "maskImage": "inputTo"}


def test_an_async_edit_is_signed_by_publish_with_its_uploaded_input_as_parent(aws, signing):
    from test_async_jobs import publish_event, run_model_like_the_state_machine

    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/in.png", Body=png_bytes(256, 256))
    body = {"model": "stable-fast-upscale", "image": f"s3://{INPUT_BUCKET}/uploads/in.png", "mode": "async"}

    status, started, _ = call(upscale, api_event("/v1/upscale", body))
    assert status == 202, started
    run_model_like_the_state_machine(aws, started["id"])
    assert publish(publish_event(started["id"]), None)["status"] == "SUCCEEDED"

    view = aws.json(f"outputs/{started['id']}/manifest.json")
    manifest = signing.check(stored(aws, view))
    assert ingredients(manifest) == {"image": "parentOf"}
    [parent] = manifest["ingredients"]
    assert parent["format"] == "image/png"
    assert job_assertion(manifest)["jobId"] == started["id"]


def test_a_triggered_job_stores_signed_images(aws, signing):
    from test_triggers import batch, manifest_of, s3_record

    key = "triggers/background-removal/shot.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}

    view = manifest_of(aws, key)
    manifest = signing.check(stored(aws, view))
    assert [action["action"] for action in actions(manifest)] == ["c2pa.opened", "c2pa.edited"]
    assert ingredients(manifest) == {"image": "parentOf"}


def test_the_openai_routes_answer_and_store_signed_images(aws, signing):
    body = {"model": "gpt-image-1", "prompt": "a fox", "size": "1024x1024"}

    status, answer, _ = call(images_generations, api_event("/v1/images/generations", body))

    assert status == 200, answer
    image = base64.b64decode(answer["data"][0]["b64_json"])
    manifest = signing.check(image)
    assert job_assertion(manifest)["jobId"] == answer["job_id"]
    assert aws.keys(prefix=f"outputs/{answer['job_id']}/") == [
        f"outputs/{answer['job_id']}/0.png",
        f"outputs/{answer['job_id']}/manifest.json",
    ]


def test_a_format_the_service_converts_to_is_signed_as_transcoded(aws, signing):
    body = {"model": "gpt-image-1", "prompt": "a fox", "output_format": "webp"}

    status, answer, _ = call(images_generations, api_event("/v1/images/generations", body))

    assert status == 200, answer
    manifest = signing.check(base64.b64decode(answer["data"][0]["b64_json"]), "image/webp")
    assert [action["action"] for action in actions(manifest)] == ["c2pa.created", "c2pa.transcoded"]


def test_jpeg_outputs_are_signed_too(aws, signing):
    body = {"model": "stable-image-core", "prompt": "a fox", "outputFormat": "jpeg"}

    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", body))

    assert status == 200, view
    assert view["images"][0]["contentType"] == "image/jpeg"
    signing.check(stored(aws, view), "image/jpeg")


# --- a manifest the model wrote itself ----------------------------------------------------------


def model_signed_png(monkeypatch) -> bytes:
    """A PNG with a manifest of another signer, as Nova Canvas and Titan embed their own."""
    import c2pa
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tools.provenance_cert import chain_pem, issue, make_ca, subject

    ca_key, ca = make_ca(subject("Model Provider Root", "Model Provider"))
    key = ec.generate_private_key(ec.SECP256R1())
    chain = chain_pem([issue(key.public_key(), subject("Model Provider", "Model Provider"), ca_key, ca), ca])
    manifest = {
        "claim_generator_info": [{"name": "Model Provider", "version": "1"}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created",
                                                                         "digitalSourceType": AI}]}}],
    }  # fmt: skip
    out = io.BytesIO()
    with (
        c2pa.Signer.from_callback(lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())), c2pa.C2paSigningAlg.ES256,
                                  chain) as signer,
        c2pa.Builder(manifest) as builder,
    ):  # fmt: skip
        builder.sign(signer, "image/png", io.BytesIO(png_bytes(64, 64)), out)
    return out.getvalue()


def test_a_manifest_the_model_embedded_is_kept_as_an_ingredient_not_stripped(aws, signing, monkeypatch):
    model_output = model_signed_png(monkeypatch)
    aws.bedrock.respond(lambda model_id, body: (200, {"images": [b64(model_output)], "error": None}))

    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 200, view
    image = stored(aws, view)
    manifest = signing.check(image)  # the model's manifest validates as an ingredient too
    assert actions(manifest)[0]["action"] == "c2pa.created"
    assert ingredients(manifest) == {"nova-canvas output (amazon.nova-canvas-v1:0)": "componentOf"}
    store = read_store(image, "image/png")
    model_manifest = store["manifests"][manifest["ingredients"][0]["active_manifest"]]
    assert model_manifest["signature_info"]["common_name"] == "Model Provider"


# --- when it does not sign ------------------------------------------------------------------------


def test_with_provenance_off_images_carry_no_manifest_and_c2pa_is_not_needed(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_PROVENANCE", "off")
    aws.reconfigure()

    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 200, view
    assert not has_manifest(stored(aws, view))
    assert not [warning for warning in view["warnings"] if "credentials" in warning]


def test_signing_on_without_a_chain_stores_unsigned_images_saying_so(aws, signing, capsys):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(SecretId=signing.secret_arn, SecretString="no certificate chain yet: make provenance-cert")
    provenance.forget()

    status, view, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox", "numberOfImages": 2}))

    assert status == 200, view
    assert not has_manifest(stored(aws, view))
    assert provenance.UNSIGNED_WARNING in view["warnings"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get(metrics.IMAGES_UNSIGNED) == 2 for line in lines)


@pytest.mark.usefixtures("no_retry_sleep")
def test_a_key_kms_refuses_fails_the_job_and_stores_no_unsigned_image(aws, signing):
    boto3.client("kms", region_name=REGION).disable_key(KeyId=signing.key_arn.rsplit("/", 1)[1])

    status, body, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "a fox"}))

    assert status == 502, body
    assert "could not be signed (KMS DisabledException)" in body["error"]["message"]
    job = body["error"]["message"].split()[1].rstrip(":")
    assert aws.keys(prefix=f"outputs/{job}/") == [f"outputs/{job}/manifest.json"]
    assert aws.json(f"outputs/{job}/manifest.json")["status"] == "FAILED"


def test_kms_ecdsa_signatures_become_cose_r_and_s():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = ec.generate_private_key(ec.SECP256R1())
    for index in range(200):  # short r and s (a leading zero byte dropped) come up among these
        der = key.sign(bytes([index]), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = provenance.raw_signature(der)
        assert len(raw) == 64 and raw == r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(ValueError):
        provenance.raw_signature(b"\x30\x02\x02\x00")
