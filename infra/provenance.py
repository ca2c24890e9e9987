"""Content credentials (C2PA): the KMS key that signs every stored image, the secret that holds
its certificate chain, and the c2pa-python layer of the functions that write or verify images.

The key is an asymmetric ECC_NIST_P256 key (ES256): the functions send KMS the claim's digest and
get its signature; the private key never leaves KMS. Its certificate is the operator's: `make
provenance-cert` makes the CSR (signed through KMS) or a trial chain, and stores the chain in the
secret, which the functions read every few minutes (core/provenance.py). Until then images are
stored unsigned, each answer saying so.

The layer is built without Docker like the payload layer (infra/layer.py): pip fetches the pinned
manylinux aarch64 wheel (no dependencies: the bindings need none at run time) into a folder keyed
by what goes in; the Rust static library the wheel also ships (~31 MB, for linking, never loaded)
is left out.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from aws_cdk import Acknowledgment, AssetHashType, RemovalPolicy, SecretValue, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from core.provenance import SIGN

from . import ROOT
from .defaults import ARCHITECTURE, RUNTIME
from .layer import CACHE_DIR, PYTHON_VERSION

PACKAGE = "c2pa-python"
# The manylinux_2_28 wheel: Lambda's python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs it.
PLATFORM = "manylinux_2_28_aarch64"
LAYER_CACHE = CACHE_DIR.parent / "c2pa-layer"
# Linking artefacts of the wheel, never loaded at run time.
_UNUSED = ("*.rlib", "*.d")
# What the secret holds until the operator stores a chain: no certificate, so nothing is signed.
PLACEHOLDER = "no certificate chain yet: make provenance-cert"


def c2pa_requirement() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == PACKAGE:
            return line.strip()
    raise RuntimeError(f"requirements.txt does not pin {PACKAGE}")


def build_c2pa_layer(cache_dir: Path = LAYER_CACHE) -> tuple[Path, str]:
    """The layer folder (``python/c2pa``) and its hash; built once per pin."""
    pin = c2pa_requirement()
    digest = hashlib.sha256("\0".join((pin, PLATFORM, PYTHON_VERSION, *_UNUSED)).encode()).hexdigest()[:20]
    target = cache_dir / digest
    if (target / ".complete").exists():
        return target, digest
    # Staged per process, then renamed: two synths at once never share a half-built folder.
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", suffix=".partial", dir=cache_dir))
    site = staging / "python"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--target", str(site), "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:", "--platform", PLATFORM, pin,
        ],
        check=True,
    )  # fmt: skip
    for pattern in ("__pycache__", *_UNUSED):
        for path in list(site.rglob(pattern)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (staging / ".complete").write_text(digest)
    if target.exists() and not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another process finished the same build first
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / ".complete").exists():
            raise
    return target, digest


class Provenance(Construct):
    """The c2pa layer always (POST /v1/verify reads credentials either way); with ``mode`` sign,
    the signing key and the chain's secret too."""

    def __init__(self, scope: Construct, id: str, *, mode: str, timestamp_url: str = "") -> None:
        super().__init__(scope, id)
        self.mode = mode
        self.timestamp_url = timestamp_url
        folder, digest = build_c2pa_layer()
        self.layer = lambda_.LayerVersion(
            self,
            "C2paLayer",
            code=lambda_.Code.from_asset(
                str(folder), asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM, exclude=[".complete"]
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"{c2pa_requirement()}: C2PA content credentials (python3.12, arm64)",
        )
        self.signing_key: kms.Key | None = None
        self.certificate_secret: secretsmanager.Secret | None = None
        if mode != SIGN:
            return
        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description="serverless-imagegen: signs the content credentials (C2PA, ES256) of every stored image",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            policy=_key_policy(),
            # A certificate is issued for this key: deleting the stack must not take it along.
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.signing_key).acknowledge(
            Acknowledgment(
                id="AwsSolutions-KMS5",
                reason="KMS rotates symmetric keys only; this asymmetric signing key is replaced with a new "
                "certificate (make provenance-cert) when its certificate is renewed",
            )
        )
        self.certificate_secret = secretsmanager.Secret(
            self,
            "CertificateChain",
            description="serverless-imagegen: the PEM certificate chain of the signing key (make provenance-cert)",
            # Deploys never change this value, so they never overwrite the operator's chain.
            secret_string_value=SecretValue.unsafe_plain_text(PLACEHOLDER),
        )
        Validations.of(self.certificate_secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="the secret holds public certificates, issued by a CA for the KMS key; it changes when the "
                "certificate is renewed (make provenance-cert), not on a schedule",
            )
        )

    def settings(self) -> dict[str, str]:
        """The runtime settings (core.config.Settings fields) of content credentials."""
        if self.signing_key is None or self.certificate_secret is None:
            return {"provenance": self.mode}
        return {
            "provenance": self.mode,
            "signing_key": self.signing_key.key_arn,
            "certificate_secret": self.certificate_secret.secret_arn,
            "timestamp_url": self.timestamp_url,
        }

    def attach(self, function: lambda_.Function, *, signs: bool) -> None:
        """Give ``function`` the layer, and what it needs to read (and, ``signs``, to sign) credentials."""
        function.add_layers(self.layer)
        if self.certificate_secret is not None:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[self.certificate_secret.secret_arn]
                )
            )
        if signs and self.signing_key is not None:
            function.add_to_role_policy(iam.PolicyStatement(actions=["kms:Sign"], resources=[self.signing_key.key_arn]))


_ADMINISTRATION = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]  # fmt: skip


def _key_policy() -> iam.PolicyDocument:
    """The account administers the key and may let IAM principals sign with it (the functions'
    roles, which IAM allows exactly kms:Sign; the operator's, for the CSR); nothing else, and
    nobody outside the account."""
    account = iam.AccountRootPrincipal()
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(sid="Administration", principals=[account], actions=_ADMINISTRATION, resources=["*"]),
            iam.PolicyStatement(sid="SigningThroughIam", principals=[account], actions=["kms:Sign"], resources=["*"]),
        ]
    )
