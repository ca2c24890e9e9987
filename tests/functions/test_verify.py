"""POST /v1/verify: what an image's content credentials (C2PA) say, and whether they hold, as the
deployment that signed them judges them (its own CA trusted, any other signer valid at most).

The verdicts are c2pa's validation states (C2PA 2.2 §14.3,
https://spec.c2pa.org/specifications/specifications/2.2/specs/C2PA_Specification.html#_validation_states):
Invalid, Valid (well-formed, signature and hashes hold) and Trusted (Valid, and the signing
certificate chains to a trust anchor); c2pa-python's Reader reports them as ``validation_state``,
trusting the anchors its settings name
(https://github.com/contentauth/c2pa-python/blob/main/docs/context-settings.md).
"""

from __future__ import annotations

import base64
import importlib
import struct
import zlib

import pytest
from harness import INPUT_BUCKET, OUTPUT_BUCKET, api_event, call, form_event
from imaging import b64, mask_b64, png_bytes
from signing import SIGNER

from core.config import SERVICE_NAME, SERVICE_VERSION

verify = importlib.import_module("verify").handler
text_to_image = importlib.import_module("text_to_image").handler
inpainting = importlib.import_module("inpainting").handler


def check(body: dict) -> tuple[int, dict]:
    status, answer, _ = call(verify, api_event("/v1/verify", body))
    return status, answer


def generated(body: dict | None = None, handler=text_to_image, path: str = "/v1/text-to-image") -> tuple[dict, bytes]:
    """A job's answer and its first image, as the caller got it inline."""
    body = {**(body or {"prompt": "a lighthouse"}), "responseFormat": "base64"}
    status, view, _ = call(handler, api_event(path, body))
    assert status == 200, view
    return view, base64.b64decode(view["images"][0]["base64"])


def fields_of(answer: dict) -> list[str]:
    return [detail["field"] for detail in answer["error"]["details"]]


def png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk of a PNG."""
    found, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        found.append((pos, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return found


def tampered(data: bytes) -> bytes:
    """The image with one byte of its pixel data (the first IDAT chunk) changed, its chunk CRC
    fixed: a PNG any decoder still opens, whose pixels are not those that were signed."""
    offset = next(pos for pos, kind in png_chunks(data) if kind == b"IDAT")
    (length,) = struct.unpack(">I", data[offset : offset + 4])
    body = bytearray(data[offset + 8 : offset + 8 + length])
    body[length // 2] ^= 0xFF
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return data[: offset + 8] + bytes(body) + crc + data[offset + 12 + length :]


# --- images this deployment signed ----------------------------------------------------------------


@pytest.mark.usefixtures("signing")
def test_an_own_output_verifies_valid_and_trusted_naming_model_job_and_service(aws):
    view, image = generated()

    status, answer = check({"image": b64(image)})

    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["manifest"], answer["state"]) == (True, True, True, "Trusted")
    assert answer["reasons"] == []
    assert answer["aiGenerated"] is True
    assert (answer["model"], answer["modelId"]) == ("nova-canvas", "amazon.nova-canvas-v1:0")
    assert (answer["jobId"], answer["task"]) == (view["id"], "text-to-image")
    assert answer["claimGenerator"] == f"{SERVICE_NAME} {SERVICE_VERSION}"
    assert answer["signer"]["name"] == SIGNER and answer["signer"]["algorithm"].lower() == "es256"
    assert answer["actions"] == ["c2pa.created"]
    assert answer["created"] and answer["timestamped"] is False  # no timestamp authority configured
    assert answer["ingredients"] == []


@pytest.mark.usefixtures("signing")
def test_a_data_url_is_read_as_its_base64(aws):
    _, image = generated()

    status, answer = check({"image": "data:image/png;base64," + b64(image)})

    assert status == 200 and answer["trusted"] is True, answer


@pytest.mark.usefixtures("signing")
def test_an_edit_lists_its_input_as_the_parent_ingredient(aws):
    body = {"image": b64(png_bytes(512, 512)), "maskImage": mask_b64(512, 512), "prompt": "new windows"}
    _, image = generated(body, inpainting, "/v1/inpainting")

    status, answer = check({"image": b64(image)})

    assert status == 200 and answer["trusted"] is True, answer
    assert answer["actions"] == ["c2pa.opened", "c2pa.edited"]
    relationships = {item["title"]: item["relationship"] for item in answer["ingredients"]}
    assert relationships == {"image": "parentOf", "maskImage": "inputTo"}
    [parent] = [item for item in answer["ingredients"] if item["relationship"] == "parentOf"]
    # The input was a plain PNG: an ingredient without credentials of its own, not AI-made.
    assert (parent["format"], parent["manifest"], parent["aiGenerated"]) == ("image/png", False, False)


@pytest.mark.usefixtures("signing")
def test_an_upload_named_by_its_s3_uri_is_verified(aws):
    _, image = generated()
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/shared.png", Body=image)

    status, answer = check({"image": f"s3://{INPUT_BUCKET}/uploads/shared.png"})

    assert status == 200 and answer["trusted"] is True, answer


@pytest.mark.usefixtures("signing")
def test_an_image_sent_as_a_form_file_is_verified_as_its_base64_is(aws):
    view, image = generated()

    # As `curl -F image=@fox.png $API/verify` sends it.
    status, answer, _ = call(verify, form_event("/v1/verify", {"image": ("fox.png", image, "image/png")}))

    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["jobId"]) == (True, True, view["id"])
    assert answer == check({"image": b64(image)})[1]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "image"),
        ({"image": ("x.png", b"not an image", "image/png")}, "image"),
        ({"image": ("x.png", png_bytes(8, 8), "image/png"), "note": "hi"}, "note"),
    ],
)
def test_a_form_without_an_image_file_or_with_other_fields_is_a_400_naming_the_field(aws, fields, named):
    status, answer, _ = call(verify, form_event("/v1/verify", fields))

    assert status == 400, answer
    assert fields_of(answer) == [named]


# --- images whose credentials do not hold, or that have none -----------------------------------------


@pytest.mark.usefixtures("signing")
def test_a_tampered_image_is_answered_invalid_with_the_hash_mismatch_as_reason(aws):
    _, image = generated()

    status, answer = check({"image": b64(tampered(image))})

    # The manifest's hard binding (c2pa.hash.data) covers every byte outside the manifest itself; a
    # changed byte is assertion.dataHash.mismatch (C2PA 2.2 §15.12 and §18.5,
    # https://spec.c2pa.org/specifications/specifications/2.2/specs/C2PA_Specification.html#_validate_the_assets_content).
    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["manifest"], answer["state"]) == (False, False, True, "Invalid")
    assert any(reason.startswith("assertion.dataHash.mismatch") for reason in answer["reasons"]), answer["reasons"]
    # What the manifest claims is still shown, for the caller to see what was altered.
    assert answer["model"] == "nova-canvas"


@pytest.mark.usefixtures("signing")
def test_an_image_without_a_manifest_is_an_answer_not_an_error(aws):
    status, answer = check({"image": b64(png_bytes(64, 64))})

    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["manifest"]) == (False, False, False)
    assert answer["aiGenerated"] is False
    assert answer["state"] is None and answer["signer"] is None and answer["model"] is None
    assert answer["reasons"] == ["the image carries no C2PA manifest (content credentials)"]


@pytest.mark.usefixtures("signing")
def test_a_signer_under_a_ca_this_deployment_does_not_trust_is_valid_but_not_trusted(aws):
    from test_content_credentials import model_signed_png

    status, answer = check({"image": b64(model_signed_png(None))})

    # Valid: intact and correctly signed; not Trusted: its CA is not a trust anchor here (C2PA 2.2
    # §14.3.5 and §14.3.6), and c2pa names it signingCredential.untrusted.
    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["state"]) == (True, False, "Valid")
    assert [reason.split(":")[0] for reason in answer["reasons"]] == ["signingCredential.untrusted"]
    assert answer["signer"]["name"] == "Model Provider"
    assert answer["aiGenerated"] is True  # its own action says trainedAlgorithmicMedia
    assert answer["jobId"] is None and answer["model"] is None


@pytest.mark.usefixtures("signing")
def test_with_signing_off_an_own_output_of_before_is_valid_but_no_longer_trusted(aws, monkeypatch):
    _, image = generated()
    monkeypatch.setenv("IMAGEGEN_PROVENANCE", "off")
    aws.reconfigure()

    status, answer = check({"image": b64(image)})

    # Off, the deployment reads no chain, so it has no trust anchor to judge by.
    assert status == 200, answer
    assert (answer["valid"], answer["trusted"], answer["state"]) == (True, False, "Valid")
    assert answer["model"] == "nova-canvas"


# --- requests it refuses -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["not base64!", "aGVsbG8", "", None, 12])
def test_an_image_that_is_not_base64_or_an_s3_uri_is_a_400_naming_image(aws, value):
    status, answer = check({"image": value})

    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request" and fields_of(answer) == ["image"]


def test_decoded_bytes_that_are_no_image_are_a_400_naming_image(aws):
    status, answer = check({"image": b64(b"just some text, not an image")})

    assert status == 400, answer
    assert fields_of(answer) == ["image"]


def test_an_unknown_field_is_a_400_naming_it(aws):
    status, answer = check({"image": b64(png_bytes(8, 8)), "trustAnchors": "-----BEGIN CERTIFICATE-----"})

    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request" and fields_of(answer) == ["trustAnchors"]


@pytest.mark.usefixtures("signing")
def test_an_s3_uri_outside_the_input_bucket_is_a_400_naming_image(aws):
    view, _ = generated()

    status, answer = check({"image": view["images"][0]["s3Uri"]})

    assert view["images"][0]["s3Uri"].startswith(f"s3://{OUTPUT_BUCKET}/")
    assert status == 400, answer
    assert fields_of(answer) == ["image"] and INPUT_BUCKET in answer["error"]["message"]


def test_a_missing_upload_is_a_400_naming_image(aws):
    status, answer = check({"image": f"s3://{INPUT_BUCKET}/uploads/never-uploaded.png"})

    assert status == 400, answer
    assert fields_of(answer) == ["image"]
