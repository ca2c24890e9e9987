"""Content credentials, locally: every image `make run` stores is signed as a deployed stack signs
it (core/provenance.py unchanged: KMS Sign of the claim's digest, the chain read from a secret),
with a KMS key in moto and a chain issued for it by a CA made for this run.

The CA's key is discarded once the chain is issued (tools/provenance_cert.py's trial chain, as
``--self-signed`` makes it): a new run has a new CA. Its certificate is the run's trust anchor:
POST /v1/verify trusts it, and stack.json names it for any other verifier
(``c2patool --trust_anchors``).
"""

from __future__ import annotations

# The signer's name in every local manifest: verifiers show it, so it says where the image came from.
SIGNER = "serverless-imagegen local stack"
ORGANIZATION = "serverless-imagegen local (not for publication)"
CHAIN_SECRET = "imagegen-certificate-chain"


def create_resources() -> dict[str, str]:
    """The signing key (ECC_NIST_P256, as infra/provenance.py makes it) and the chain's secret,
    in the moto server this process runs; and the run's trust anchor (PEM)."""
    import boto3
    from cryptography.x509 import load_pem_x509_certificates

    from local.moto_patches import kms_sign_as_aws
    from tools.provenance_cert import chain_pem, kms_public_key, self_signed_chain, subject

    # The moto server runs in this process: signatures of a digest come out as AWS makes them.
    kms_sign_as_aws()
    kms = boto3.client("kms")
    key = kms.create_key(
        KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="content credentials of the local stack"
    )["KeyMetadata"]["Arn"]
    chain = self_signed_chain(kms_public_key(kms, key), subject(SIGNER, ORGANIZATION))
    secret = boto3.client("secretsmanager").create_secret(Name=CHAIN_SECRET, SecretString=chain)["ARN"]
    anchor = chain_pem(load_pem_x509_certificates(chain.encode())[-1:])
    return {"signing_key": key, "certificate_secret": secret, "trust_anchor": anchor}
