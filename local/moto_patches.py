"""Where moto differs from AWS in a way the service relies on, moto made to answer as AWS does.

- KMS ``Sign`` with ``MessageType=DIGEST``: AWS signs the given SHA-256 digest as it is; moto
  5.2 ignores the message type and hashes it again (``moto/kms/models.py``: "The MessageType-
  parameter DIGEST is not yet implemented"), so no verifier accepts the signature. Content
  credentials are signed that way (core/provenance.py), in the local stack and the tests alike.
- KMS ``Sign`` with a disabled key: AWS refuses it with ``DisabledException``
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html#API_Sign_Errors); moto 5.2
  signs anyway, so a deployment whose key was disabled would look healthy here.

Applied to this process's moto (the local stack's moto server runs in it; the tests' mock_aws).
"""

from __future__ import annotations

import threading

_DIGEST = threading.local()


def kms_sign_as_aws() -> None:
    """Make moto's KMS Sign answer as AWS does (both points above; idempotent)."""
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from moto.core.exceptions import JsonRESTError
    from moto.kms import responses
    from moto.kms.utils import ECDSAPrivateKey

    if getattr(responses.KmsResponse.sign, "honours_digest", False):
        return
    respond, sign = responses.KmsResponse.sign, ECDSAPrivateKey.sign

    def respond_to_sign(self: responses.KmsResponse) -> str:
        key_id = self._get_param("KeyId")
        if key_id and not self.kms_backend.describe_key(key_id).enabled:
            raise JsonRESTError("DisabledException", f"{key_id} is disabled.")
        _DIGEST.active = self._get_param("MessageType") == "DIGEST"
        try:
            return respond(self)
        finally:
            _DIGEST.active = False

    def sign_digest(self: ECDSAPrivateKey, message: bytes, signing_algorithm: str) -> bytes:
        if not getattr(_DIGEST, "active", False):
            return sign(self, message, signing_algorithm)
        algorithm = self._ECDSAPrivateKey__hash_algorithm(signing_algorithm)
        if len(message) != algorithm.digest_size:
            raise ValueError(f"a {signing_algorithm} digest is {algorithm.digest_size} bytes")
        return self.private_key.sign(message, ec.ECDSA(utils.Prehashed(algorithm)))

    respond_to_sign.honours_digest = True  # type: ignore[attr-defined]
    responses.KmsResponse.sign = respond_to_sign
    ECDSAPrivateKey.sign = sign_digest
