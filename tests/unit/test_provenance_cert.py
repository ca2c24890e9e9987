"""`make provenance-cert` (tools/provenance_cert.py): the certificate the stack signs content
credentials with.

KMS and Secrets Manager are moto's, with KMS Sign answering ``MessageType=DIGEST`` as AWS does
(local/moto_patches.py); CloudFormation's DescribeStacks is botocore's Stubber, which checks the
request and the canned answer against the service model
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
No network, no AWS account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from local.moto_patches import kms_sign_as_aws
from tools import provenance_cert

REGION = "eu-west-1"
STACK = "ImageGen"
PLACEHOLDER = "no certificate chain yet: make provenance-cert"
SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


@dataclass
class Deployed:
    """The deployed stack's signing key and chain secret, and the session the tool is given."""

    key_arn: str
    secret_arn: str
    public_key: Any
    cloudformation: Stubber
    session: Any

    def outputs(self, **outputs: str) -> None:
        """DescribeStacks answers once, with these outputs."""
        stack = {
            "StackName": STACK,
            "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        self.cloudformation.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})

    def stack_as_deployed(self) -> None:
        self.outputs(SigningKeyArn=self.key_arn, CertificateSecretArn=self.secret_arn)

    def secret(self) -> str:
        return boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=self.secret_arn)[
            "SecretString"
        ]


class _Session:
    """A boto3 session whose CloudFormation client is the stubbed one."""

    def __init__(self, cloudformation: Any) -> None:
        self.cloudformation = cloudformation

    def client(self, name: str) -> Any:
        return self.cloudformation if name == "cloudformation" else boto3.client(name, region_name=REGION)


@pytest.fixture
def deployed(monkeypatch) -> Iterator[Deployed]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    with mock_aws():
        kms_sign_as_aws()
        kms = boto3.client("kms", region_name=REGION)
        # As infra/provenance.py makes them: an ECC_NIST_P256 signing key, a secret the operator fills.
        key_arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=key_arn)["PublicKey"])
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secret_arn = secrets.create_secret(Name="imagegen-chain", SecretString=PLACEHOLDER)["ARN"]
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with Stubber(cloudformation) as stubber:
            yield Deployed(key_arn, secret_arn, public_key, stubber, _Session(cloudformation))
            stubber.assert_no_pending_responses()


def run(deployed: Deployed, tmp_path: Path, *args: str) -> int:
    return provenance_cert.main(["--stack", STACK, "--out", str(tmp_path), *args], session=deployed.session)


def chain_for_another_key(tmp_path: Path) -> Path:
    """A well-formed chain from a CA, but for a key that is not the stack's."""
    ca_key, ca = provenance_cert.make_ca(provenance_cert.subject("Some CA", "Some Org"))
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    leaf = provenance_cert.issue(other, provenance_cert.subject("someone else"), ca_key, ca)
    path = tmp_path / "other.pem"
    path.write_text(provenance_cert.chain_pem([leaf, ca]))
    return path


# --- the default: a CSR signed through KMS ---------------------------------------------------------


def test_the_default_run_writes_a_csr_for_the_kms_key_signed_by_it_with_the_subject_asked(deployed, tmp_path, capsys):
    deployed.stack_as_deployed()

    status = run(deployed, tmp_path, "--common-name", "Acme images", "--organization", "Acme", "--country", "DE")

    assert status == 0, capsys.readouterr().err
    request = x509.load_pem_x509_csr((tmp_path / "signing.csr").read_bytes())
    # The request names the KMS key, and its signature verifies with that key's public key
    # (independently of the tool's own check): KMS signed the request's digest.
    assert request.public_key().public_bytes(*SPKI) == deployed.public_key.public_bytes(*SPKI)
    deployed.public_key.verify(request.signature, request.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA256()))
    assert request.signature_hash_algorithm.name == "sha256"
    names = {attribute.oid: attribute.value for attribute in request.subject}
    assert names == {NameOID.COMMON_NAME: "Acme images", NameOID.ORGANIZATION_NAME: "Acme", NameOID.COUNTRY_NAME: "DE"}
    # What C2PA asks of a signing certificate, requested (C2PA 2.2 §14.5.1, certificate profile:
    # https://spec.c2pa.org/specifications/specifications/2.2/specs/C2PA_Specification.html#_certificate_profile).
    usage = request.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    ekus = {eku.dotted_string for eku in request.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    assert provenance_cert.DOCUMENT_SIGNING in ekus
    # A CSR alone stores nothing: the secret still waits for the CA's chain.
    assert deployed.secret() == PLACEHOLDER
    assert "--chain" in capsys.readouterr().out


def test_a_csr_whose_kms_signature_does_not_verify_is_refused_not_written(deployed, tmp_path, capsys, monkeypatch):
    from moto.kms.utils import ECDSAPrivateKey

    deployed.stack_as_deployed()

    # What moto does unpatched, and a KMS asked without MessageType=DIGEST would: the digest is
    # hashed again before signing, so the signature is not over the request.
    def sign_hashing_again(self: ECDSAPrivateKey, message: bytes, signing_algorithm: str) -> bytes:
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))

    monkeypatch.setattr(ECDSAPrivateKey, "sign", sign_hashing_again)

    assert run(deployed, tmp_path) == 1

    assert "does not verify with the key's public key" in capsys.readouterr().err
    assert not (tmp_path / "signing.csr").exists()


# --- --self-signed: a trial chain, stored ----------------------------------------------------------


def test_self_signed_stores_a_chain_whose_leaf_is_the_kms_keys(deployed, tmp_path, capsys):
    deployed.stack_as_deployed()

    status = run(deployed, tmp_path, "--self-signed", "--organization", "Acme")

    assert status == 0, capsys.readouterr().err
    stored = deployed.secret()
    assert stored == (tmp_path / "chain.pem").read_text()
    leaf, ca = x509.load_pem_x509_certificates(stored.encode())
    assert leaf.public_key().public_bytes(*SPKI) == deployed.public_key.public_bytes(*SPKI)
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme"
    assert "trusted by no verifier" in capsys.readouterr().out


# --- --chain FILE: what a CA returned --------------------------------------------------------------


def test_a_chain_for_the_kms_key_is_stored(deployed, tmp_path, capsys):
    deployed.stack_as_deployed()
    ca_key, ca = provenance_cert.make_ca(provenance_cert.subject("Acme CA", "Acme"))
    leaf = provenance_cert.issue(deployed.public_key, provenance_cert.subject("Acme images"), ca_key, ca)
    (tmp_path / "issued.pem").write_text(provenance_cert.chain_pem([leaf, ca]))

    assert run(deployed, tmp_path, "--chain", str(tmp_path / "issued.pem")) == 0, capsys.readouterr().err

    assert deployed.secret() == provenance_cert.chain_pem([leaf, ca])


def test_a_chain_for_a_different_key_is_refused_and_nothing_is_stored(deployed, tmp_path, capsys):
    deployed.stack_as_deployed()

    status = run(deployed, tmp_path, "--chain", str(chain_for_another_key(tmp_path)))

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("provenance-cert: ")
    assert "not for the stack's signing key" in err
    assert deployed.secret() == PLACEHOLDER


# --- the stack ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outputs", "named"),
    [({"SigningKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/x"}, "CertificateSecretArn"), ({}, "SigningKeyArn")],
)
def test_missing_stack_outputs_exit_1_naming_the_output(deployed, tmp_path, capsys, outputs, named):
    deployed.outputs(**outputs)

    assert run(deployed, tmp_path, "--self-signed") == 1

    err = capsys.readouterr().err
    assert named in err and "provenance=sign" in err
    assert deployed.secret() == PLACEHOLDER


def test_a_stack_that_does_not_exist_exits_1_naming_it(deployed, tmp_path, capsys):
    deployed.cloudformation.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
        expected_params={"StackName": STACK},
    )

    assert run(deployed, tmp_path) == 1

    assert f"stack {STACK}: ValidationError: Stack with id {STACK} does not exist" in capsys.readouterr().err
