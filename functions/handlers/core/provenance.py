"""Content credentials (C2PA) on every image the service stores, and their reading.

The job path calls ``credential`` once a job's images are final (after any format conversion,
before ``jobs.finish`` stores them), so the bytes stored and the bytes answered inline are the
same signed image. Each image gets a C2PA manifest signed ES256 by the deployment's KMS key
through c2pa's callback signer: KMS signs the claim's SHA-256 digest, so the private key never
leaves KMS; the certificate chain (PEM) is read from the Secrets Manager secret the operator
fills (``make provenance-cert``), cached per container for a few minutes.

What a manifest says, and never says:

- actions: ``c2pa.created`` (a generation) or ``c2pa.opened`` + ``c2pa.edited`` (a task that
  changes an input image), with digitalSourceType trainedAlgorithmicMedia and the model (name,
  id) as the software agent; ``c2pa.transcoded`` when the service converted the model's format;
- ingredients: an edit's input image (``parentOf``), every other input image (mask, style,
  reference, condition: ``inputTo``), and a manifest the model embedded itself (Nova Canvas,
  Titan: ``componentOf``), kept with its own signature, never stripped;
- the claim generator ``serverless-imagegen`` with its version; ``org.serverless-imagegen.job``:
  the job id, task, model, model id, seed and when the image was made;
- never the prompt or any other text of the request: a manifest travels with the image wherever
  it is shared, and a prompt may hold personal data.

No timestamp unless ``timestamp_url`` names an RFC 3161 authority: the signing time is then the
job's own claim, not a third party's, and a manifest stops validating as trusted once its
certificate expires.

``provenance``: ``off`` (or unset) signs nothing. ``sign`` signs every image once the secret
holds a chain; until then the images are stored unsigned, with a warning in the answer and the
``ImagesUnsigned`` metric. A deployment with a chain that cannot sign (KMS refused or failed, a
chain that is not the key's) fails the job like a failed write instead of storing an unsigned
image: no image leaves this service without the credentials it is configured to carry.

c2pa-python (a 21 MB native library, in a layer of its own) is imported here only, and only
when an image is signed or read: functions that do neither never load it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from imagegen.errors import InvalidRequestError, PayloadTooLargeError
from imagegen.logs import get_logger

from . import clients, layout, metrics, storage
from .config import SERVICE_NAME, SERVICE_VERSION, Settings, settings

if TYPE_CHECKING:
    from imagegen import BuiltRequest, ParsedResponse

    from .jobs import Job

log = get_logger()

SIGN, OFF = "sign", "off"
MODES = (SIGN, OFF)
# IPTC's digital source type of generative AI output (https://cv.iptc.org/newscodes/digitalsourcetype/).
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_AI_SOURCE_TYPES = (
    TRAINED_ALGORITHMIC_MEDIA,
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
)
# This service's own assertion: which job made the image.
JOB_ASSERTION = "org.serverless-imagegen.job"
# The input field an edit changes (its parent ingredient); any other input image went into the model.
_PARENT_FIELDS = ("image", "images[0]")
_PARENT_LABEL = "parent"
UNSIGNED_WARNING = (
    "stored without content credentials: signing is on, but no certificate chain is configured yet "
    "(make provenance-cert)"
)
# How long a container keeps the chain it read: a chain stored with `make provenance-cert` is
# used within this, without a redeploy.
CHAIN_TTL_SECONDS = 300.0
# The largest image POST /v1/verify reads (inline, or an upload named by its s3:// URI).
VERIFY_MAX_BYTES = 10 * 1024 * 1024
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,")
# The service's own steps are its software agent (a format conversion).
_SERVICE_AGENT = {"name": SERVICE_NAME, "version": SERVICE_VERSION}


class ProvenanceError(storage.StorageError):
    """The images could not be signed: like a failed write, the job does not succeed."""


@dataclass(frozen=True)
class Input:
    """An input image of a request: an ingredient of every image made from it."""

    # The request's field: image, images[1], maskImage, styleImage, ...
    field: str
    data: bytes
    content_type: str


# --- the job path ------------------------------------------------------------------------


def inputs_of(built: BuiltRequest) -> tuple[Input, ...]:
    """The request's input images (resolved), when images are signed; else none."""
    if _mode(settings()) != SIGN:
        return ()
    from imagegen.images import InlineImage
    from imagegen.rules import iter_images

    return tuple(
        Input(path, image.data, image.info.mime_type)
        for path, image in iter_images(built.request)
        if isinstance(image, InlineImage)
    )


def keep(job_id: str, inputs: Sequence[Input]) -> list[dict[str, str]]:
    """An async job's input images, stored beside its model requests (``jobs/<id>/inputs/``, which
    expire with them) for the publish step; what to record of them in the job."""
    bucket = settings().output_bucket
    kept = []
    for index, item in enumerate(inputs):
        key = f"{layout.JOBS}{job_id}/inputs/{index}.{layout.EXTENSIONS[item.content_type]}"
        storage.put_bytes(bucket, key, item.data, item.content_type)
        kept.append({"field": item.field, "s3Uri": layout.s3_uri(bucket, key), "contentType": item.content_type})
    return kept


def kept(job: Job) -> tuple[Input, ...]:
    """The input images ``keep`` stored for ``job`` (none when it kept none)."""
    found = []
    for record in job.inputs:
        data = storage.get_bytes(*layout.split_s3_uri(record["s3Uri"]))
        if data is None:
            raise ProvenanceError(f"job {job.id}: its input {record['s3Uri']} has expired; it cannot be credited")
        found.append(Input(record["field"], data, record["contentType"]))
    return tuple(found)


def credential(
    job: Job, parsed: ParsedResponse, inputs: Sequence[Input] = (), made: ParsedResponse | None = None
) -> ParsedResponse:
    """``parsed`` with each image signed, ready to be stored (the one entry point of the job path).

    ``inputs``: the request's input images (``inputs_of``, ``kept``). ``made``: the model's own
    images when the service converted their format, whose embedded manifests are kept.
    """
    config = settings()
    if _mode(config) != SIGN:
        return parsed
    if not config.certificate_secret or not config.signing_key:
        names = ", ".join(Settings.env_name(name) for name in ("signing_key", "certificate_secret"))
        raise ProvenanceError(f"signing is on but the deployment names no key and chain ({names})")
    chain = certificate_chain(config.certificate_secret)
    if chain is None:
        log.warning("job %s: %d image(s) stored unsigned: no certificate chain configured", job.id, len(parsed.images))
        metrics.emit(job.task, job.model, {metrics.IMAGES_UNSIGNED: len(parsed.images)})
        return replace(parsed, warnings=[*parsed.warnings, UNSIGNED_WARNING])
    started = time.monotonic()
    signing = _Signing(config, chain)
    images, notes = [], []
    for index, (data, mime) in enumerate(zip(parsed.images, parsed.mime_types, strict=True)):
        original = made.images[index] if made is not None else data
        original_mime = made.mime_types[index] if made is not None else mime
        signed, note = signing.sign(job, index, parsed.seeds[index], data, mime, inputs, (original, original_mime))
        images.append(signed)
        notes += [note] if note and note not in notes else []
    log.info("job %s: %d image(s) signed in %d ms", job.id, len(images), round((time.monotonic() - started) * 1000))
    # The model's base64 is of the images before.
    return replace(parsed, images=images, encoded=[], warnings=[*parsed.warnings, *notes])


def _mode(config: Settings) -> str:
    if config.provenance not in MODES:
        name = Settings.env_name("provenance")
        raise RuntimeError(f"environment variable {name}={config.provenance!r}: must be one of {', '.join(MODES)}")
    return config.provenance


# --- the certificate chain -----------------------------------------------------------------

_CHAINS: dict[str, tuple[float, str | None]] = {}


def certificate_chain(secret: str) -> str | None:
    """The chain (PEM, the signing certificate first) in the secret ``secret`` (its ARN); None
    while it holds none. Read once per container and ``CHAIN_TTL_SECONDS``."""
    cached = _CHAINS.get(secret)
    if cached is not None and time.monotonic() - cached[0] < CHAIN_TTL_SECONDS:
        return cached[1]
    try:
        answer = clients.secretsmanager().get_secret_value(SecretId=secret)
    except (ClientError, BotoCoreError) as exc:
        log.warning("reading the certificate chain %s failed: %s", secret, exc)
        raise ProvenanceError(f"the certificate chain could not be read ({_code(exc)})") from None
    certificates = _PEM_CERTIFICATE.findall(answer.get("SecretString") or "")
    chain = "\n".join(certificates) + "\n" if certificates else None
    _CHAINS[secret] = (time.monotonic(), chain)
    return chain


def forget() -> None:
    """Read the chain again on next use (tests, and the local stack after issuing one)."""
    _CHAINS.clear()


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "error")
    return type(exc).__name__


# --- signing -----------------------------------------------------------------------------


def raw_signature(der: bytes, size: int = 32) -> bytes:
    """An ECDSA signature as KMS returns it (DER: ``SEQUENCE {r INTEGER, s INTEGER}``) as COSE
    carries it: ``r || s``, each ``size`` bytes (RFC 9053 §2.1; 32 for P-256)."""

    def element(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
        if len(data) < pos + 2 or data[pos] != tag:
            raise ValueError("not a DER ECDSA signature")
        length, pos = data[pos + 1], pos + 2
        if length & 0x80:
            count = length & 0x7F
            length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
        if len(data) < pos + length:
            raise ValueError("not a DER ECDSA signature")
        return data[pos : pos + length], pos + length

    body, end = element(der, 0, 0x30)
    r, pos = element(body, 0, 0x02)
    s, pos = element(body, pos, 0x02)
    if end != len(der) or pos != len(body):
        raise ValueError("not a DER ECDSA signature")
    return b"".join(int.from_bytes(value, "big").to_bytes(size, "big") for value in (r, s))


def kms_signer(key_id: str, failures: list[Exception]) -> Callable[[bytes], bytes]:
    """c2pa's signing callback: the COSE Sig_structure it hands over, signed by KMS as a SHA-256
    digest (``MessageType=DIGEST``: no 4 KB message limit, and the claim never leaves the
    function). A failure is kept in ``failures``: c2pa reports only that the callback failed."""

    def sign(claim: bytes) -> bytes:
        try:
            answer = clients.kms().sign(
                KeyId=key_id,
                Message=hashlib.sha256(claim).digest(),
                MessageType="DIGEST",
                SigningAlgorithm="ECDSA_SHA_256",
            )
            return raw_signature(answer["Signature"])
        except Exception as exc:
            failures.append(exc)
            raise

    return sign


def _builder_settings() -> dict[str, Any]:
    # No thumbnail: the asset is the image itself, and making one would decode every image's pixels.
    return {"builder": {"thumbnail": {"enabled": False}}, "verify": _NO_FETCHING}


# A manifest may name a remote manifest or an OCSP responder: neither is ever fetched.
_NO_FETCHING = {"remote_manifest_fetch": False, "ocsp_fetch": False}


class _Signing:
    """One job's signing: its chain, KMS key and timestamp authority."""

    def __init__(self, config: Settings, chain: str) -> None:
        self.key_id = config.signing_key
        self.chain = chain
        self.timestamp_url = config.timestamp_url or None

    def sign(
        self,
        job: Job,
        index: int,
        seed: int | None,
        data: bytes,
        mime: str,
        inputs: Sequence[Input],
        original: tuple[bytes, str],
    ) -> tuple[bytes, str | None]:
        """The image with its manifest; and a warning, when the model's own manifest is not kept."""
        import c2pa

        parent = next((item for item in inputs if item.field in _PARENT_FIELDS), None)
        converted = original[0] is not data
        embedded, note = _embedded_manifest(c2pa, *original)
        definition = _definition(job, index, seed, mime, edit=parent is not None, converted=converted)
        failures: list[Exception] = []
        out = io.BytesIO()
        try:
            with (
                c2pa.Context.from_dict(_builder_settings()) as context,
                c2pa.Signer.from_callback(
                    kms_signer(self.key_id, failures), c2pa.C2paSigningAlg.ES256, self.chain, self.timestamp_url
                ) as signer,
                c2pa.Builder(definition, context=context) as builder,
            ):
                for item in inputs:
                    relationship = "parentOf" if item is parent else "inputTo"
                    ingredient = {"title": item.field, "relationship": relationship}
                    if item is parent:
                        ingredient["label"] = _PARENT_LABEL
                    builder.add_ingredient(ingredient, item.content_type, io.BytesIO(item.data))
                if embedded:
                    title = f"{job.model} output ({job.model_id})"
                    builder.add_ingredient(
                        {"title": title, "relationship": "componentOf"}, original[1], io.BytesIO(original[0])
                    )
                builder.sign(signer, mime, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            cause = failures[-1] if failures else exc
            log.warning("job %s: signing image %d failed: %s: %s", job.id, index, type(cause).__name__, cause)
            what = f"KMS {_code(cause)}" if failures else str(exc)
            raise ProvenanceError(f"the images could not be signed ({what})") from None
        return out.getvalue(), note


def _embedded_manifest(c2pa: Any, data: bytes, mime: str) -> tuple[bool, str | None]:
    """Whether the model embedded a manifest of its own, to keep as an ingredient."""
    try:
        with c2pa.Context.from_dict({"verify": _NO_FETCHING}) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
    except c2pa.C2paError as exc:
        log.warning("the model's own manifest could not be read: %s", exc)
        return False, "the model's own content credentials could not be read and are not kept"
    if reader is None:
        return False, None
    reader.close()
    return True, None


def _definition(job: Job, index: int, seed: int | None, mime: str, *, edit: bool, converted: bool) -> dict[str, Any]:
    agent = {"name": job.model, "version": job.model_id}
    made = {"digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent,
            "description": f"{job.task} by {job.model}"}  # fmt: skip
    if edit:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [_PARENT_LABEL]}},
            {"action": "c2pa.edited", **made},
        ]
    else:
        actions = [{"action": "c2pa.created", **made}]
    if converted:
        actions.append(
            {"action": "c2pa.transcoded", "softwareAgent": _SERVICE_AGENT, "description": f"converted to {mime}"}
        )
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    made_by = {"jobId": job.id, "task": job.task, "model": job.model, "modelId": job.model_id, "image": index,
               "seed": seed, "created": created}  # fmt: skip
    return {
        "claim_generator_info": [_SERVICE_AGENT],
        "title": f"{job.id}-{index}.{layout.EXTENSIONS[mime]}",
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {"label": JOB_ASSERTION, "data": made_by},
        ],
    }


# --- reading: POST /v1/verify --------------------------------------------------------------


def summary(data: bytes, mime: str, config: Settings | None = None) -> dict[str, Any]:
    """What an image's content credentials say, and whether they hold: never an error for an
    image without a manifest or with a broken one (``valid`` false, and why)."""
    import c2pa

    config = config or settings()
    answer: dict[str, Any] = {"valid": False, "trusted": False, "manifest": False, "state": None, "reasons": [],
                              "signer": None, "aiGenerated": False, "model": None, "modelId": None, "jobId": None,
                              "task": None, "created": None, "timestamped": False, "claimGenerator": None,
                              "actions": [], "ingredients": []}  # fmt: skip
    try:
        with c2pa.Context.from_dict(_reader_settings(config)) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
            if reader is None:
                answer["reasons"] = ["the image carries no C2PA manifest (content credentials)"]
                return answer
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        answer |= {"manifest": True, "state": "Invalid", "reasons": [f"the manifest could not be read: {exc}"]}
        return answer
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) or {}
    state = store.get("validation_state")
    results = store.get("validation_results") or {}
    reasons = [_reason(entry) for entry in (results.get("activeManifest") or {}).get("failure", [])]
    for delta in results.get("ingredientDeltas") or []:
        failures = (delta.get("validationDeltas") or {}).get("failure", [])
        reasons += [f"ingredient: {_reason(entry)}" for entry in failures]
    own = next((a["data"] for a in active.get("assertions", []) if a.get("label") == JOB_ASSERTION), {})
    actions = _actions(active)
    signature = active.get("signature_info") or {}
    generator = (active.get("claim_generator_info") or [{}])[0]
    answer |= {
        "valid": state in ("Valid", "Trusted"),
        "trusted": state == "Trusted",
        "manifest": True,
        "state": state,
        "reasons": reasons,
        "signer": _signer(signature),
        "aiGenerated": _ai_generated(active, manifests, set()),
        "model": own.get("model") or _agent(actions),
        "modelId": own.get("modelId"),
        "jobId": own.get("jobId"),
        "task": own.get("task"),
        "created": own.get("created") or signature.get("time"),
        "timestamped": bool(signature.get("time")),
        "claimGenerator": " ".join(str(generator[k]) for k in ("name", "version") if generator.get(k)) or None,
        "actions": [action.get("action") for action in actions],
        "ingredients": [_ingredient(item, manifests) for item in active.get("ingredients", [])],
    }
    return answer


def _reader_settings(config: Settings) -> dict[str, Any]:
    """Trust this deployment's own CA (the chain's certificates past the signing one); any other
    signer is valid at most, named in the answer for the caller to judge."""
    found: dict[str, Any] = {"verify": {**_NO_FETCHING, "verify_trust": True}}
    chain = None
    if _mode(config) == SIGN and config.certificate_secret:
        try:
            chain = certificate_chain(config.certificate_secret)
        except ProvenanceError as exc:
            log.warning("verifying without this deployment's trust anchor: %s", exc)
    authorities = _PEM_CERTIFICATE.findall(chain or "")[1:]
    if authorities:
        found["trust"] = {"trust_anchors": "\n".join(authorities) + "\n"}
    return found


def _reason(entry: dict[str, Any]) -> str:
    return f"{entry.get('code', 'failure')}: {entry.get('explanation', '')}".rstrip(": ")


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for assertion in manifest.get("assertions", [])
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for action in (assertion.get("data") or {}).get("actions", [])
    ]


def _agent(actions: list[dict[str, Any]]) -> str | None:
    for action in actions:
        agent = action.get("softwareAgent")
        if action.get("digitalSourceType") in _AI_SOURCE_TYPES and isinstance(agent, dict):
            return agent.get("name")
    return None


def _ai_generated(manifest: dict[str, Any], manifests: dict[str, Any], seen: set[str]) -> bool:
    """Whether an action of the manifest, or of its ingredients' manifests, made AI content."""
    if any(action.get("digitalSourceType") in _AI_SOURCE_TYPES for action in _actions(manifest)):
        return True
    for item in manifest.get("ingredients", []):
        label = item.get("active_manifest")
        if label in manifests and label not in seen:
            seen.add(label)
            if _ai_generated(manifests[label], manifests, seen):
                return True
    return False


def _signer(signature: dict[str, Any]) -> dict[str, Any] | None:
    if not signature:
        return None
    return {"name": signature.get("common_name"), "organization": signature.get("issuer"),
            "serialNumber": signature.get("cert_serial_number"), "algorithm": signature.get("alg")}  # fmt: skip


def _ingredient(item: dict[str, Any], manifests: dict[str, Any]) -> dict[str, Any]:
    own = manifests.get(item.get("active_manifest")) or {}
    return {
        "title": item.get("title"),
        "relationship": item.get("relationship"),
        "format": item.get("format"),
        "manifest": bool(own),
        "signer": _signer(own.get("signature_info") or {}),
        "aiGenerated": _ai_generated(own, manifests, set()) if own else False,
    }


def verify(body: Any) -> dict[str, Any]:
    """POST /v1/verify ``{"image"}`` (base64, a data: URL, or an upload's s3:// URI): ``summary``."""
    if not isinstance(body, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    unknown = sorted(set(body) - {"image"})
    if unknown:
        raise InvalidRequestError.from_details(
            [{"field": name or "body", "message": f"unknown field {name!r}"} for name in unknown]
        )
    return _verified(_image_bytes(body.get("image")))


def verify_form(body: bytes, content_type: str) -> dict[str, Any]:
    """POST /v1/verify as a multipart form (``curl -F image=@photo.png``): its ``image`` file."""
    from .multipart import parse_form

    parts = parse_form(body, content_type, max_parts=8)
    unknown = [part.name for part in parts if part.name != "image"]
    if unknown:
        raise InvalidRequestError.from_details(
            [{"field": name or "body", "message": f"unknown field {name!r}"} for name in unknown]
        )
    if not parts:
        raise InvalidRequestError.for_field("image", "an image file is required")
    data = parts[0].data
    if len(data) > VERIFY_MAX_BYTES:
        message = f"the image is over {VERIFY_MAX_BYTES:,} bytes"
        raise PayloadTooLargeError(f"image: {message}", [{"field": "image", "message": message}])
    return _verified(data)


def _verified(data: bytes) -> dict[str, Any]:
    from imagegen.images import MIME_TYPES, sniff_format

    kind = sniff_format(data)
    if kind is None:
        raise InvalidRequestError.for_field("image", "must be a PNG, JPEG or WebP image")
    return summary(data, MIME_TYPES[kind])


def _image_bytes(value: Any) -> bytes:
    """The image a verify request names. Only its format is checked here (its bytes are what is
    verified: a tampered image is answered, not refused)."""
    if not isinstance(value, str) or not value:
        raise InvalidRequestError.for_field("image", "a base64 image or an s3:// URI of an upload is required")
    if value.startswith("s3://"):
        from imagegen.images import ImageFormatError, S3Image, parse_image_value

        try:
            ref = parse_image_value(value, VERIFY_MAX_BYTES)
        except ImageFormatError as exc:
            raise InvalidRequestError.for_field("image", str(exc)) from None
        bucket = settings().input_bucket
        if not isinstance(ref, S3Image) or ref.bucket != bucket:
            message = f"must be an upload in the input bucket s3://{bucket}/ (POST /v1/uploads)"
            raise InvalidRequestError.for_field("image", message)
        return storage.fetch_inputs([("image", ref)], VERIFY_MAX_BYTES)[ref.uri]
    text = "".join(_DATA_URL.sub("", value, count=1).split())
    if len(text) * 3 // 4 > VERIFY_MAX_BYTES:
        message = f"the image is over {VERIFY_MAX_BYTES:,} bytes"
        raise PayloadTooLargeError(f"image: {message}", [{"field": "image", "message": message}])
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError.for_field("image", "is not valid base64 (or an s3:// URI)") from None
