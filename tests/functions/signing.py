"""Content credentials in the handler tests: the stack's KMS key and certificate chain, made in
moto as the deployed stack has them (infra/provenance.py), and the checks a verifier makes.

Import the fixtures into a test module: ``from signing import signing, test_ca  # noqa: F401``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from harness import REGION
from iam_audit import CERTIFICATE_SECRET, SIGNING_KEY_ID
from stacks import ACCOUNT

from core import provenance
from core.config import Settings
from local.moto_patches import kms_sign_as_aws
from tools.provenance_cert import chain_pem, issue, make_ca, subject

SIGNING_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{SIGNING_KEY_ID}"
SIGNER = "serverless-imagegen test signer"
ORGANIZATION = "Imagegen Tests"


@dataclass(frozen=True)
class Authority:
    key: Any
    certificate: Any

    @property
    def pem(self) -> str:
        return chain_pem([self.certificate])


@pytest.fixture(scope="session")
def test_ca() -> Authority:
    """One CA for the session; each test's KMS key gets a certificate from it."""
    return Authority(*make_ca(subject("serverless-imagegen test CA", ORGANIZATION)))


@dataclass
class Signing:
    ca: Authority
    key_arn: str
    secret_arn: str
    chain: str

    def reader_store(self, data: bytes, mime: str = "image/png") -> dict[str, Any]:
        """The manifest store as c2pa-python's Reader reads it, trusting the test CA."""
        return read_store(data, mime, self.ca.pem)

    def check(self, data: bytes, mime: str = "image/png") -> dict[str, Any]:
        """``c2patool --trust_anchors ca.pem FILE``, judged as its report is: the manifest store is
        Trusted, and no validation failure, of the active manifest or of any ingredient, is left.
        Returns the active manifest."""
        store = self.reader_store(data, mime)
        results = store.get("validation_results") or {}
        failures = [entry["code"] for entry in (results.get("activeManifest") or {}).get("failure", [])]
        for delta in results.get("ingredientDeltas") or []:
            failures += [entry["code"] for entry in (delta.get("validationDeltas") or {}).get("failure", [])]
        assert store.get("validation_state") == "Trusted", (store.get("validation_state"), failures)
        assert failures == [], failures
        return store["manifests"][store["active_manifest"]]


def read_store(data: bytes, mime: str, anchors: str | None = None) -> dict[str, Any]:
    import c2pa

    settings: dict[str, Any] = {"verify": {"verify_trust": True, "remote_manifest_fetch": False}}
    if anchors:
        settings["trust"] = {"trust_anchors": anchors}
    with c2pa.Context.from_dict(settings) as context, c2pa.Reader(mime, io.BytesIO(data), None, context) as reader:
        return json.loads(reader.json())


def has_manifest(data: bytes, mime: str = "image/png") -> bool:
    import c2pa

    reader = c2pa.Reader.try_create(mime, io.BytesIO(data))
    if reader is None:
        return False
    reader.close()
    return True


def actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for assertion in manifest["assertions"]
        if assertion["label"].startswith("c2pa.actions")
        for action in assertion["data"]["actions"]
    ]


def job_assertion(manifest: dict[str, Any]) -> dict[str, Any]:
    [found] = [a["data"] for a in manifest["assertions"] if a["label"] == provenance.JOB_ASSERTION]
    return found


def make_signing_key(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, Any]:
    """The stack's signing key in moto, under the id the IAM audit knows it by: (client, ARN, public key)."""
    import moto.kms.models
    from cryptography.hazmat.primitives import serialization

    kms_sign_as_aws()
    monkeypatch.setattr(moto.kms.models, "generate_key_id", lambda multi_region=False: SIGNING_KEY_ID)
    kms = boto3.client("kms", region_name=REGION)
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    return kms, arn, public_key


@pytest.fixture
def signing(aws, monkeypatch: pytest.MonkeyPatch, test_ca: Authority) -> Iterator[Signing]:
    """provenance=sign with a chain stored, as after `make provenance-cert`."""
    _, key_arn, public_key = make_signing_key(monkeypatch)
    leaf = issue(public_key, subject(SIGNER, ORGANIZATION), test_ca.key, test_ca.certificate)
    chain = chain_pem([leaf, test_ca.certificate])
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secret_arn = secrets.create_secret(Name=CERTIFICATE_SECRET, SecretString=chain)["ARN"]
    for name, value in {"provenance": "sign", "signing_key": key_arn, "certificate_secret": secret_arn}.items():
        monkeypatch.setenv(Settings.env_name(name), value)
    provenance.forget()
    aws.reconfigure()
    yield Signing(test_ca, key_arn, secret_arn, chain)
    provenance.forget()
