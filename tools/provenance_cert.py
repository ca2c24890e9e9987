"""The certificate the stack signs content credentials with: `make provenance-cert ARGS="..."`.

    .venv/bin/python tools/provenance_cert.py [--stack ImageGen] [--region R] [--profile P] [--out DIR]
        [--common-name CN] [--organization O] [--country CC] [--self-signed | --chain FILE]

With the deployer's credentials it reads the deployed stack's ``SigningKeyArn`` and
``CertificateSecretArn`` outputs, then:

- by default, writes a certificate signing request (CSR) for the signing key to DIR/signing.csr,
  signed through KMS (kms:Sign; the private key never leaves KMS, so this tool cannot sign any
  other way). Send it to a certificate authority that issues C2PA signing certificates (key usage
  digitalSignature; extended key usage documentSigning or emailProtection, as the CSR asks);
- ``--chain FILE``: stores the chain the CA returned (PEM: the signing certificate first, then
  the intermediates) in the secret, after checking that it is the key's and fits C2PA's profile;
- ``--self-signed``, for trials: a throwaway CA issues the certificate (its key is discarded:
  run it again for a new chain) and the chain is stored in the secret. Content credentials signed
  with it validate, but no verifier trusts that CA: not for production.

The functions read the secret every few minutes: signing starts without a redeploy.
Exit status: 0 done, 1 an AWS or chain error (said on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STACK = "ImageGen"
KEY_OUTPUT, SECRET_OUTPUT = "SigningKeyArn", "CertificateSecretArn"
# id-kp-documentSigning (RFC 9336) and id-kp-emailProtection: the extended key usages a C2PA
# validator takes for a signing certificate without a configured list of its own.
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
SIGNING_DAYS = 365
CA_DAYS = 5 * 365


class Failed(Exception):
    """What went wrong, in full (exit status 1)."""


@dataclass(frozen=True)
class Stack:
    key_id: str
    secret_arn: str


# --- certificates ------------------------------------------------------------------------------


def subject(common_name: str, organization: str = "", country: str = "") -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    parts = [(NameOID.COUNTRY_NAME, country), (NameOID.ORGANIZATION_NAME, organization),
             (NameOID.COMMON_NAME, common_name)]  # fmt: skip
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value])


def _signing_extensions(builder: Any, public_key: Any) -> Any:
    """What C2PA asks of a signing certificate: digitalSignature (critical), an EKU it takes
    (never anyExtendedKeyUsage), not a CA."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ObjectIdentifier(DOCUMENT_SIGNING), ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def make_ca(name: Any, days: int = CA_DAYS) -> tuple[Any, Any]:
    """A self-signed P-256 certificate authority: (its private key, its certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def issue(public_key: Any, name: Any, ca_key: Any, ca_certificate: Any, days: int = SIGNING_DAYS) -> Any:
    """A C2PA signing certificate for ``public_key`` (the KMS key's), issued by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=days), ca_certificate.not_valid_after_utc))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    return _signing_extensions(builder, public_key).sign(ca_key, hashes.SHA256())


def chain_pem(certificates: Sequence[Any]) -> str:
    from cryptography.hazmat.primitives import serialization

    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certificates)


def self_signed_chain(public_key: Any, name: Any) -> str:
    """For trials: a throwaway CA (its key goes out of scope here) and the certificate it issues."""
    organization = ", ".join(attribute.value for attribute in name if attribute.oid.dotted_string == "2.5.4.10")
    ca_key, ca = make_ca(subject(f"{organization or 'serverless-imagegen'} C2PA trial CA", organization))
    return chain_pem([issue(public_key, name, ca_key, ca), ca])


def check_chain(pem: str, public_key: Any) -> list[Any]:
    """The chain's certificates, once it is shown to be the key's, current, and fit to sign C2PA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as error:
        raise Failed(f"the chain is not PEM certificates: {error}") from None
    leaf = certificates[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != public_key.public_bytes(*spki):
        raise Failed("the chain's first certificate is not for the stack's signing key (the CSR's)")
    now = datetime.now(UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise Failed(
            f"the signing certificate is not valid now ({leaf.not_valid_before_utc} to {leaf.not_valid_after_utc})"
        )
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value if _has(leaf, x509.KeyUsage) else None
    if usage is None or not usage.digital_signature:
        raise Failed("the signing certificate lacks key usage digitalSignature, which C2PA requires")
    ekus = (
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if _has(leaf, x509.ExtendedKeyUsage)
        else []
    )
    dotted = {eku.dotted_string for eku in ekus}
    if not dotted & {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string}:
        raise Failed("the signing certificate's extended key usage has neither documentSigning nor emailProtection")
    for child, parent in itertools.pairwise(certificates):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError) as error:
            raise Failed(f"{child.subject.rfc4514_string()} is not issued by the next certificate: {error}") from None
    if len(certificates) == 1:
        print("note: the chain holds the signing certificate alone; add its intermediates", file=sys.stderr)
    return certificates


def _has(certificate: Any, kind: Any) -> bool:
    from cryptography import x509

    try:
        certificate.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return False
    return True


# --- KMS --------------------------------------------------------------------------------------


def kms_public_key(kms: Any, key_id: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    answer = kms.get_public_key(KeyId=key_id)
    if answer.get("KeySpec") not in (None, "ECC_NIST_P256"):
        raise Failed(f"{key_id} is a {answer['KeySpec']} key; content credentials are signed ES256 (ECC_NIST_P256)")
    return serialization.load_der_public_key(answer["PublicKey"])


def signing_request(kms: Any, key_id: str, name: Any) -> Any:
    """A CSR for the KMS key, signed by it. cryptography signs only with a key it holds: the
    request is built around a throwaway key of the same curve, its public key swapped for the
    KMS key's (equal in length, so no length in the DER changes), and the result signed by KMS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public_key = kms_public_key(kms, key_id)
    throwaway = ec.generate_private_key(ec.SECP256R1())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    placeholder = _signing_extensions(x509.CertificateSigningRequestBuilder().subject_name(name), public_key).sign(
        throwaway, hashes.SHA256()
    )
    old, new = throwaway.public_key().public_bytes(*spki), public_key.public_bytes(*spki)
    tbs = placeholder.tbs_certrequest_bytes
    if len(old) != len(new) or tbs.count(old) != 1:
        raise Failed("the request could not be built for the KMS key")
    tbs = tbs.replace(old, new)
    signature = kms.sign(
        KeyId=key_id, Message=hashlib.sha256(tbs).digest(), MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    _, algorithm, _ = _children(placeholder.public_bytes(serialization.Encoding.DER))
    request = x509.load_der_x509_csr(_tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature)))
    if not request.is_signature_valid:
        raise Failed("KMS's signature of the request does not verify with the key's public key")
    return request


def _tlv(tag: int, value: bytes) -> bytes:
    """One DER element (definite length)."""
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    size = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def _children(der: bytes) -> list[bytes]:
    """The elements (whole, tag and length included) inside a DER SEQUENCE."""

    def length_at(pos: int) -> tuple[int, int]:
        first = der[pos]
        if first < 0x80:
            return first, pos + 1
        count = first & 0x7F
        return int.from_bytes(der[pos + 1 : pos + 1 + count], "big"), pos + 1 + count

    size, pos = length_at(1)
    end, children = pos + size, []
    while pos < end:
        length, body = length_at(pos + 1)
        children.append(der[pos : body + length])
        pos = body + length
    return children


# --- the stack ---------------------------------------------------------------------------------


def stack_resources(cloudformation: Any, stack: str) -> Stack:
    try:
        [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as error:
        raise Failed(f"stack {stack}: {_message(error)}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    missing = [name for name in (KEY_OUTPUT, SECRET_OUTPUT) if name not in outputs]
    if missing:
        raise Failed(
            f"stack {stack} has no {' or '.join(missing)} output: deploy it with provenance=sign (cdk.json) first"
        )
    return Stack(outputs[KEY_OUTPUT], outputs[SECRET_OUTPUT])


def store_chain(secrets: Any, secret_arn: str, pem: str) -> None:
    secrets.put_secret_value(SecretId=secret_arn, SecretString=pem)


def _message(error: Exception) -> str:
    details = getattr(error, "response", {}).get("Error", {})
    return f"{details.get('Code')}: {details.get('Message')}" if details else str(error)


def run(args: argparse.Namespace, session: Any, out: Any = None) -> int:
    out = out or sys.stdout  # at call time: sys.stdout may have been replaced since import
    stack = stack_resources(session.client("cloudformation"), args.stack)
    kms, secrets = session.client("kms"), session.client("secretsmanager")
    name = subject(args.common_name, args.organization, args.country)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        public_key = kms_public_key(kms, stack.key_id)
        if args.chain:
            pem = Path(args.chain).read_text()
            certificates = check_chain(pem, public_key)
            store_chain(secrets, stack.secret_arn, chain_pem(certificates))
            print(f"stored the chain of {len(certificates)} certificate(s) in {stack.secret_arn}", file=out)
            return 0
        from cryptography.hazmat.primitives import serialization

        request = signing_request(kms, stack.key_id, name)
        (folder / "signing.csr").write_bytes(request.public_bytes(serialization.Encoding.PEM))
        print(f"wrote {folder / 'signing.csr'} (signed by {stack.key_id})", file=out)
        if args.self_signed:
            pem = self_signed_chain(public_key, name)
            check_chain(pem, public_key)
            (folder / "chain.pem").write_text(pem)
            store_chain(secrets, stack.secret_arn, pem)
            print(f"wrote {folder / 'chain.pem'} and stored it in {stack.secret_arn}", file=out)
            print("a trial chain: its CA is trusted by no verifier; for production send the CSR to a CA", file=out)
        else:
            print("send it to a CA that issues C2PA signing certificates, then store what it returns with:", file=out)
            print("  make provenance-cert ARGS='--chain chain.pem'", file=out)
    except Exception as error:
        if isinstance(error, Failed):
            raise
        raise Failed(_message(error)) from None
    return 0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default {DEFAULT_STACK})")
    parser.add_argument("--region", help="the stack's region (default: AWS_REGION, the profile's)")
    parser.add_argument("--profile", help="the deployer's AWS profile")
    parser.add_argument("--out", default=str(ROOT / ".build" / "provenance"), help="where the CSR (and chain) go")
    parser.add_argument("--common-name", default="serverless-imagegen content credentials", help="the subject's CN")
    parser.add_argument("--organization", default="", help="the subject's O: who signs (verifiers show it)")
    parser.add_argument("--country", default="", help="the subject's C (two letters)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--self-signed", action="store_true", help="a trial chain from a throwaway CA, stored")
    which.add_argument("--chain", metavar="FILE", help="store the chain a CA issued for the CSR")
    args = parser.parse_args(argv)
    if args.country and len(args.country) != 2:
        parser.error("--country takes a two-letter code")
    return args


def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    args = parse(argv)
    if session is None:
        import boto3

        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    try:
        return run(args, session)
    except Failed as error:
        print(f"provenance-cert: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
