"""Peak memory of one request through a handler, measured in a fresh interpreter.

``python memory_probe.py CASE`` sets up AWS as the ``aws`` fixture does (moto for S3 and Step
Functions, the fake behind Bedrock), warms the route up with a small valid request (so imports
and clients are not counted), then sends the case's request and prints one JSON line: the
answer's status and error, and by how much the process's resident high-water mark rose above
its resident size just before the call. Pillow allocates outside Python's allocator, so
tracemalloc would not see a decoded bomb; the kernel's high-water mark does. (The IAM audit of
the handler tests is not repeated here: the same routes are audited there, and a synth per
probe would cost more than the requests measured.)
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bombs
from harness import INPUT_BUCKET, OUTPUT_BUCKET, REGION, STATE_MACHINE_NAME, api_event, call, form_event
from imaging import mask_b64, png_b64, png_bytes
from PIL import Image

# --- what the server is sent -----------------------------------------------------------------


def png_file(data: bytes) -> tuple[str, bytes, str]:
    return ("image.png", data, "image/png")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rgba_png(width: int, height: int, transparent_square: bool = False, pad_to: int = 0) -> bytes:
    """An opaque RGBA PNG (a transparent square in the middle for OpenAI's masks), padded with an
    ancillary chunk to ``pad_to`` bytes: as many pixels and bytes as a model takes, cheaply made."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGBA")
    if transparent_square:
        image.paste((0, 0, 0, 0), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return _padded(buffer.getvalue(), pad_to)


def mask_png(width: int, height: int, pad_to: int = 0) -> bytes:
    """The contract's mask (black square to edit on white), padded like ``rgba_png``."""
    return _padded(base64.b64decode(mask_b64(width, height)), pad_to)


def webp_mask(width: int, height: int) -> bytes:
    """The contract's mask as lossless WebP: Pillow decodes WebP through libwebp's animation
    decoder, which holds two canvases of its own besides Pillow's image."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste((0, 0, 0), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=True, quality=0, method=0)
    return buffer.getvalue()


def _padded(png: bytes, size: int) -> bytes:
    """``png`` with a private ancillary chunk of random bytes before IEND, ``size`` bytes in all."""
    import struct
    import zlib

    room = size - len(png) - 12
    if room <= 0:
        return png
    payload = os.urandom(room)
    chunk = struct.pack(">I", room) + b"prVt" + payload + struct.pack(">I", zlib.crc32(b"prVt" + payload))
    return png[:-12] + chunk + png[-12:]


@dataclass(frozen=True)
class Case:
    handler: str  # the handler module
    # The model that serves the request: the bound is derived from the largest input it accepts.
    model: str
    # The field a refusal names (OpenAI's parameter on its routes); None: the request is served.
    field: str | None
    event: Callable[[Any], dict[str, Any]]
    warm_up: Callable[[Any], dict[str, Any]]


_NOVA_EDIT = {"model": "nova-canvas", "image": png_b64(512, 512), "maskImage": mask_b64(512, 512), "prompt": "x"}
_STABILITY_EDIT = {**_NOVA_EDIT, "model": "stable-image-inpaint"}
# Two files in a form within Lambda's 6 MB event (base64 in the event: 6 MB / 4 * 3 / 2).
_FORM_SHARE = 2_300_000
_SIDE = bombs.BOMB_SIDE


def _edit(**fields: Callable[[], Any]) -> Callable[[Any], dict[str, Any]]:
    """An OpenAI edits form; each field's value is made when the case runs."""
    return lambda aws: form_event("/v1/images/edits", {name: make() for name, make in fields.items()})


def _file(make: Callable[[], bytes]) -> Callable[[], tuple[str, bytes, str]]:
    return lambda: png_file(make())


def _text(value: str) -> Callable[[], str]:
    return lambda: value


def _warm_edit(aws: Any) -> dict[str, Any]:
    mask = rgba_png(512, 512, transparent_square=True)
    return form_event(
        "/v1/images/edits", {"image": png_file(png_bytes(512, 512)), "mask": png_file(mask), "prompt": "x"}
    )


def _native(path: str, base: dict[str, Any], **images: Callable[[], bytes]) -> Callable[[Any], dict[str, Any]]:
    """A task request: ``base`` with the images made when the case runs (``images0`` is ``images[0]``)."""

    def event(aws: Any) -> dict[str, Any]:
        made = {name: b64(make()) for name, make in images.items()}
        if "images0" in made:
            made["images"] = [made.pop("images0")]
        return api_event(path, {**base, **made})

    return event


def _warm(path: str, body: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    return lambda aws: api_event(path, body)


def _s3_bomb(aws: Any) -> dict[str, Any]:
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/bomb.png", Body=bombs.png_bomb())
    return api_event(
        "/v1/background-removal", {"model": "nova-canvas", "image": f"s3://{INPUT_BUCKET}/uploads/bomb.png"}
    )


def _s3_largest(model: str, side: int) -> Callable[[Any], dict[str, Any]]:
    """A synchronous inpainting request whose image and mask are s3:// references to files of
    ``side`` x ``side`` pixels, as many bytes as fit in one InvokeModel body (25 MB, base64)."""

    def event(aws: Any) -> dict[str, Any]:
        from imagegen.registry import MODELS

        limit = min(MODELS[model].max_input_bytes, 9_000_000)
        aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/image.png", Body=rgba_png(side, side, pad_to=limit))
        aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/mask.png", Body=mask_png(side, side, pad_to=limit))
        refs = {"image": f"s3://{INPUT_BUCKET}/uploads/image.png", "maskImage": f"s3://{INPUT_BUCKET}/uploads/mask.png"}
        return api_event("/v1/inpainting", {"model": model, "prompt": "x", "mode": "sync", **refs})

    return event


_T2I = {"model": "nova-canvas", "prompt": "x"}
_COLORS = {**_T2I, "colors": ["#ff0000"]}
_STYLE = {"model": "stable-style-transfer", "image": png_b64(512, 512)}
_ERASE = {"model": "stable-image-erase-object", "image": png_b64(512, 512)}
_SD3 = {"model": "sd3-5-large", "prompt": "x"}

CASES: dict[str, Case] = {
    # The reported case: one 12000x12000 RGBA PNG (560 KB, 576 MB decoded) as both image and mask.
    "openai-edits/png bomb as image and mask": Case(
        "images_edits",
        "nova-canvas",
        "image",
        _edit(image=_file(bombs.png_bomb), mask=_file(bombs.png_bomb), prompt=_text("x")),
        _warm_edit,
    ),
    "openai-edits/png bomb behind a small first IHDR as mask": Case(
        "images_edits",
        "nova-canvas",
        "mask",
        _edit(
            image=_file(lambda: png_bytes(512, 512)),
            mask=_file(lambda: bombs.png_with_second_ihdr(512, 512)),
            prompt=_text("x"),
        ),
        _warm_edit,
    ),
    "openai-edits/webp bomb as image": Case(
        "images_edits",
        "sd3-5-large",
        "image",
        _edit(image=_file(bombs.webp_bomb), prompt=_text("x"), model=_text("sd3-5-large")),
        _warm_edit,
    ),
    "openai-variations/gif bomb as image": Case(
        "images_variations",
        "nova-canvas",
        "image",
        lambda aws: form_event("/v1/images/variations", {"image": png_file(bombs.gif_bomb())}),
        lambda aws: form_event("/v1/images/variations", {"image": png_file(png_bytes(512, 512))}),
    ),
    "inpainting/png bomb as image and maskImage": Case(
        "inpainting",
        "nova-canvas",
        "image",
        _native("/v1/inpainting", _NOVA_EDIT, image=bombs.png_bomb, maskImage=bombs.png_bomb),
        _warm("/v1/inpainting", _NOVA_EDIT),
    ),
    "inpainting/png bomb behind a small first IHDR as image": Case(
        "inpainting",
        "nova-canvas",
        "image",
        _native("/v1/inpainting", _NOVA_EDIT, image=lambda: bombs.png_with_second_ihdr(512, 512)),
        _warm("/v1/inpainting", _NOVA_EDIT),
    ),
    "erase-object/webp bomb as maskImage": Case(
        "erase_object",
        "stable-image-erase-object",
        "maskImage",
        _native("/v1/erase-object", _ERASE, maskImage=bombs.webp_bomb),
        _warm("/v1/erase-object", {**_ERASE, "maskImage": mask_b64(512, 512)}),
    ),
    "style-transfer/png bomb as styleImage": Case(
        "style_transfer",
        "stable-style-transfer",
        "styleImage",
        _native("/v1/style-transfer", _STYLE, styleImage=bombs.png_bomb),
        _warm("/v1/style-transfer", {**_STYLE, "styleImage": png_b64(512, 512)}),
    ),
    "color-guided/png bomb as referenceImage": Case(
        "color_guided",
        "nova-canvas",
        "referenceImage",
        _native("/v1/color-guided", _COLORS, referenceImage=bombs.png_bomb),
        _warm("/v1/color-guided", {**_COLORS, "referenceImage": png_b64(512, 512)}),
    ),
    "text-to-image/jpeg bomb as conditionImage": Case(
        "text_to_image",
        "nova-canvas",
        "conditionImage",
        _native("/v1/text-to-image", _T2I, conditionImage=bombs.jpeg_bomb),
        _warm("/v1/text-to-image", {**_T2I, "conditionImage": png_b64(512, 512)}),
    ),
    "inpainting/jpeg with a hidden frame header as maskImage": Case(
        "inpainting",
        "nova-canvas",
        "maskImage",
        _native("/v1/inpainting", _NOVA_EDIT, maskImage=lambda: bombs.jpeg_with_hidden_sof(512, 512)),
        _warm("/v1/inpainting", _NOVA_EDIT),
    ),
    "image-variation/webp bomb as images[0]": Case(
        "image_variation",
        "sd3-5-large",
        "images[0]",
        _native("/v1/image-variation", _SD3, images0=bombs.webp_bomb),
        _warm("/v1/image-variation", {**_SD3, "images": [png_b64(512, 512)]}),
    ),
    "background-removal/png bomb by s3:// reference": Case(
        "background_removal",
        "nova-canvas",
        "image",
        _s3_bomb,
        _warm("/v1/background-removal", {"model": "nova-canvas", "image": png_b64(512, 512)}),
    ),
    # The largest inputs the models accept, in pixels and in bytes (a form within Lambda's 6 MB,
    # s3:// references as large as InvokeModel takes): these are decoded (alpha, opacity, masks).
    "openai-edits/largest nova-canvas image and mask": Case(
        "images_edits",
        "nova-canvas",
        None,
        _edit(
            image=_file(lambda: rgba_png(2047, 2047, pad_to=_FORM_SHARE)),
            mask=_file(lambda: rgba_png(2047, 2047, transparent_square=True, pad_to=_FORM_SHARE)),
            prompt=_text("x"),
        ),
        _warm_edit,
    ),
    "openai-edits/largest stable-image-inpaint image and mask": Case(
        "images_edits",
        "stable-image-inpaint",
        None,
        _edit(
            image=_file(lambda: rgba_png(3072, 3072, pad_to=_FORM_SHARE)),
            mask=_file(lambda: rgba_png(3072, 3072, transparent_square=True, pad_to=_FORM_SHARE)),
            prompt=_text("x"),
            model=_text("stable-image-inpaint"),
        ),
        _warm_edit,
    ),
    "erase-object/largest stable-image-erase-object maskImage as WebP": Case(
        "erase_object",
        "stable-image-erase-object",
        None,
        _native(
            "/v1/erase-object",
            {**_ERASE, "mode": "sync"},
            image=lambda: rgba_png(3072, 3072),
            maskImage=lambda: webp_mask(3072, 3072),
        ),
        _warm("/v1/erase-object", {**_ERASE, "maskImage": mask_b64(512, 512)}),
    ),
    "inpainting/largest nova-canvas image and maskImage by s3:// reference": Case(
        "inpainting", "nova-canvas", None, _s3_largest("nova-canvas", 2047), _warm("/v1/inpainting", _NOVA_EDIT)
    ),
    "inpainting/largest stable-image-inpaint image and maskImage by s3:// reference": Case(
        "inpainting",
        "stable-image-inpaint",
        None,
        _s3_largest("stable-image-inpaint", 3072),
        _warm("/v1/inpainting", _STABILITY_EDIT),
    ),
}


# --- measuring -------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_high_water_mark() -> bool:
    """Linux resets VmHWM to the current RSS on ``5`` (since 4.0); without it the measure is
    only more conservative (an earlier peak counts against the call)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _high_water_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def measure(handler: Callable[..., Any], event: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
    """The handler's answer and the peak resident growth (bytes) while it ran."""
    gc.collect()
    _reset_high_water_mark()
    before = _status_kb("VmRSS")
    status, body, _headers = call(handler, event)
    return status, body, (_high_water_kb() - before) * 1024


# --- the AWS of the handler tests, without pytest ----------------------------------------------


def _aws() -> Any:
    import boto3
    from fake_bedrock import FakeBedrock
    from harness import Aws
    from stacks import SEED_DEFAULTS

    from core import clients

    state_machine = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (OUTPUT_BUCKET, INPUT_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps(state_machine),
        roleArn="arn:aws:iam::123456789012:role/imagegen-jobs",
    )
    os.environ["IMAGEGEN_STATE_MACHINE_ARN"] = machine["stateMachineArn"]
    os.environ["IMAGEGEN_DEFAULT_MODELS"] = json.dumps(SEED_DEFAULTS)
    clients.reset()
    fake = FakeBedrock()
    fake.install(clients.bedrock())
    fake.install(clients.bedrock(long=True))
    return Aws(s3, sfn, machine["stateMachineArn"], fake)


ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9",
    "IMAGEGEN_OUTPUT_BUCKET": OUTPUT_BUCKET,
    "IMAGEGEN_INPUT_BUCKET": INPUT_BUCKET,
    "IMAGEGEN_BEDROCK_REGION": REGION,
}


def main(name: str) -> None:
    import importlib

    from moto import mock_aws

    case = CASES[name]
    os.environ.update(ENVIRONMENT)
    for variable in ("IMAGEGEN_MODEL_IDS", "IMAGEGEN_MODELS", "IMAGEGEN_PRESIGN_TTL_SECONDS", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    handler = importlib.import_module(case.handler).handler
    with mock_aws():
        aws = _aws()
        warm_status, warm_body, _ = call(handler, case.warm_up(aws))
        assert warm_status == 200, warm_body
        event = case.event(aws)
        sent = len(event["body"] or "") + _stored_inputs(aws)
        status, body, growth = measure(handler, event)
    error = body.get("error") if isinstance(body, dict) else None
    print(json.dumps({"case": name, "status": status, "error": error, "sent_bytes": sent, "peak_growth_bytes": growth}))


def _stored_inputs(aws: Any) -> int:
    """The bytes of the inputs a request refers to by s3:// (the warm-up stores none)."""
    listed = aws.s3.list_objects_v2(Bucket=INPUT_BUCKET).get("Contents", [])
    return sum(item["Size"] for item in listed)


if __name__ == "__main__":
    main(sys.argv[1])
