"""The hot path's cost against its floor: `make bench`.

A sync text-to-image request through the real handler, with Bedrock and S3 answered at
botocore's ``before-send`` hook (after the real clients serialized and signed each request; they
parse the answers), compared with the floor: the bare work of turning Bedrock's answer into
images, in the same process: the real client's InvokeModel (serialized, signed, parsed), then
``json.loads`` and ``b64decode`` of the same bytes. The first request's floor adds what any
function pays once: ``import boto3`` and its three clients. Everything else the handler does
(validation, the S3 writes with their checksums, presigned URLs, the manifest, the answer) is
its excess over the floor. Each line prints the ratio handler / floor (best of several runs,
the two sides interleaved, so that the machine's noise weighs on both alike) and its goal.

Then what content credentials (core/provenance.py) cost: the same request with provenance=sign
(an ECC_NIST_P256 key in moto's KMS, a chain from a throwaway CA in moto's Secrets Manager, read
as the deployment reads them) against provenance=off, per image, with the share of the KMS Sign
callbacks (moto in-process: AWS adds its network round trip) and the rest (c2pa); the first
signed request in a fresh interpreter against the first unsigned one; ``import c2pa`` alone; the
layers' unzipped sizes as last built (.build/); and which functions carry the c2pa layer.

Not a timed test: the ratios depend on the machine, and `make bench` prints them to compare
(tests/functions/test_cold_start.py holds generous bounds on the same ratios; ``--json`` prints
those ratios only).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PATH = [str(ROOT / "functions" / "handlers"), str(ROOT / "functions")]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "functions" / "handlers")]

from imagegen import samples  # noqa: E402 (the layer package, found through the path above)

OUTPUT_BUCKET = "bench-outputs"
REGION = "us-west-2"
MODEL_ID = "amazon.nova-canvas-v1:0"
# The images' side in pixels (BENCH_SIDE=512 make bench: smaller images, more weight on overheads).
SIDE = int(os.environ.get("BENCH_SIDE", "1024"))
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "IMAGEGEN_OUTPUT_BUCKET": OUTPUT_BUCKET,
    "IMAGEGEN_INPUT_BUCKET": "bench-inputs",
    "IMAGEGEN_BEDROCK_REGION": REGION,
    "IMAGEGEN_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:123456789012:stateMachine:bench",
}
GOALS = {"first request": 1.25, "warm, 1 image, url": 1.5, "warm, 4 images, url": 1.5, "warm, 1 image, base64": 1.5}
# Left to moto's stub by ours: content credentials' KMS key and certificate chain (start_signing).
MOTO_SERVICES = ("kms", "secretsmanager")
# What the payload layer installs (infra/layer.py LAYER_PACKAGES; importing infra/ starts the CDK).
PAYLOAD_PACKAGES = ("pydantic", "pillow", "aws-lambda-powertools")
C2PA_PACKAGE = "c2pa-python"


# --- the stand-in for AWS ------------------------------------------------------------------


def bedrock_answer(count: int) -> bytes:
    images = [base64.b64encode(samples.noise(SIDE, SIDE, seed)).decode("ascii") for seed in range(count)]
    return json.dumps({"images": images, "error": None}).encode()


class Raw(io.BytesIO):
    def stream(self, **kwargs: Any):
        yield self.getvalue()


def install_stub(answers: dict[int, bytes]) -> None:
    """Answer Bedrock's InvokeModel and S3's PutObject for every client made from now on (KMS and
    Secrets Manager are left to moto, once ``start_signing`` has started it)."""
    import botocore.handlers
    from botocore.awsrequest import AWSResponse

    def send(request: Any, **kwargs: Any) -> AWSResponse | None:
        if for_moto(request.url):
            return None  # moto's stub answers these (start_signing)
        # Read the body as the HTTP layer sends it: a streamed one (an aws-chunked S3 upload
        # with its checksum trailer) does its work only when read.
        if hasattr(request.body, "read"):
            while request.body.read(1 << 20):
                pass
        if "/model/" in request.url:
            count = json.loads(request.body)["imageGenerationConfig"].get("numberOfImages", 1)
            body, headers = answers[count], {"content-type": "application/json"}
        else:
            body, headers = b"", {"ETag": '"bench"'}
        return AWSResponse(request.url, 200, headers, Raw(body))

    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", send))


def for_moto(url: str) -> bool:
    return any(f"//{service}." in url for service in MOTO_SERVICES)


# --- the two sides -----------------------------------------------------------------------


def request_body(count: int, response_format: str) -> dict[str, Any]:
    return {"model": "nova-canvas", "prompt": "a lighthouse at dusk", "numberOfImages": count, "width": SIDE,
            "height": SIDE, "mode": "sync", "responseFormat": response_format}  # fmt: skip


class Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def handler_call(count: int, response_format: str) -> dict[str, Any]:
    import text_to_image

    event = {
        "httpMethod": "POST",
        "path": "/v1/text-to-image",
        "headers": {"Host": "bench.execute-api.us-west-2.amazonaws.com"},
        "requestContext": {"domainName": "bench.execute-api.us-west-2.amazonaws.com", "path": "/prod/v1/text-to-image"},
        "body": json.dumps(request_body(count, response_format)),
    }
    response = text_to_image.handler(event, Context())
    assert response["statusCode"] == 200, response["body"][:300]
    return response


_FLOOR_CLIENTS: list[Any] = []


def floor_call(count: int, response_format: str) -> list[bytes]:
    """The bare work: the model's answer as images (the answer's format does not change it)."""
    import boto3

    if not _FLOOR_CLIENTS:
        _FLOOR_CLIENTS.extend(boto3.client(name) for name in ("bedrock-runtime", "s3", "stepfunctions"))
    bedrock = _FLOOR_CLIENTS[0]
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse at dusk"},
            "imageGenerationConfig": {"numberOfImages": count, "width": SIDE, "height": SIDE}}  # fmt: skip
    native = json.loads(bedrock.invoke_model(modelId=MODEL_ID, body=json.dumps(body))["body"].read())
    return [base64.b64decode(image) for image in native["images"]]


# --- content credentials ---------------------------------------------------------------------

_MOCK: list[Any] = []
# ms of each KMS Sign callback c2pa made (the client's call to moto's KMS, the DER to COSE
# conversion), and of each read of the certificate chain (cached: the first request's only).
KMS_MS: list[float] = []
CHAIN_MS: list[float] = []


def _timed(function: Any, into: list[float]) -> Any:
    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args)
        finally:
            into.append((time.perf_counter() - started) * 1000)

    return timed


def start_signing(sign: bool = True) -> None:
    """provenance=sign as the deployment reads it, in moto: an ECC_NIST_P256 key in KMS and a chain
    from a throwaway CA (`make provenance-cert --self-signed`) in a Secrets Manager secret. With
    ``sign`` False the same is set up, and provenance left off (a first request's fair floor)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # local/ and tools/ as packages
    import boto3
    from cryptography.hazmat.primitives import serialization
    from moto import mock_aws

    from core import provenance
    from core.config import Settings
    from local.moto_patches import kms_sign_as_aws
    from tools.provenance_cert import self_signed_chain, subject

    if not _MOCK:
        import botocore.handlers
        from moto.core.models import botocore_stubber

        # botocore calls every before-send handler (the first answer wins): moto's would also
        # answer (and time) every S3 and Bedrock request. It sees only its services' requests.
        def moto_services(request: Any, **kwargs: Any) -> Any:
            return botocore_stubber(request=request, **kwargs) if for_moto(request.url) else None

        handlers = botocore.handlers.BUILTIN_HANDLERS
        handlers[handlers.index(("before-send", botocore_stubber))] = ("before-send", moto_services)
        _MOCK.append(mock_aws())
        _MOCK[0].start()
        kms_sign_as_aws()
        kms_signer = provenance.kms_signer
        provenance.kms_signer = lambda *args: _timed(kms_signer(*args), KMS_MS)
        provenance.certificate_chain = _timed(provenance.certificate_chain, CHAIN_MS)
    # A session of its own: the handler's clients load their service models as in a new container.
    session = boto3.session.Session(region_name=REGION)
    kms = session.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    chain = self_signed_chain(public_key, subject("serverless-imagegen bench", "Imagegen Bench"))
    secret = session.client("secretsmanager").create_secret(Name=f"bench-chain-{key[-12:]}", SecretString=chain)
    os.environ.update({Settings.env_name("signing_key"): key, Settings.env_name("certificate_secret"): secret["ARN"]})
    provenance.forget()
    provenance_mode("sign" if sign else "off")


def provenance_mode(mode: str) -> None:
    from core.config import Settings, settings

    os.environ[Settings.env_name("provenance")] = mode
    settings.cache_clear()


def signing_cost(count: int, runs: int) -> tuple[float, float, float]:
    """Best ms per request of the handler with provenance=sign and with off (interleaved), and the
    best ms its KMS Sign callbacks took in a signed request."""
    modes = ("sign", "off")
    best = {mode: float("inf") for mode in modes}
    kms = float("inf")
    for mode in modes:
        provenance_mode(mode)
        handler_call(count, "url")
    for _ in range(runs):
        for mode in modes:
            provenance_mode(mode)
            KMS_MS.clear()
            started = time.perf_counter()
            handler_call(count, "url")
            best[mode] = min(best[mode], (time.perf_counter() - started) * 1000)
            assert len(KMS_MS) == (count if mode == "sign" else 0), f"{mode}: {len(KMS_MS)} KMS signatures"
            if mode == "sign":
                kms = min(kms, sum(KMS_MS))
    provenance_mode("off")
    return best["sign"], best["off"], kms


def first_signed_request(sign: bool) -> tuple[float, float, float]:
    """ms of the first request in a fresh interpreter, signing or not, after the same set-up
    (moto, the key, the chain): what signing adds to a cold start; and, signing, the ms of its
    KMS Sign callback (with the KMS client's creation) and of reading the chain (with its client)."""
    code = f"""
import sys
import time
sys.path[:0] = {[*LAMBDA_PATH, str(ROOT / "tools")]!r}
import bench
bench.install_stub({{1: bench.bedrock_answer(1)}})
bench.start_signing({sign!r})
stubbed = time.perf_counter()
bench.handler_call(1, "url")
print((time.perf_counter() - stubbed) * 1000, sum(bench.KMS_MS), sum(bench.CHAIN_MS), len(bench.KMS_MS),
      "c2pa" in sys.modules)
"""
    env = {**os.environ, **ENV}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"the first signed request failed:\n{out.stderr[-3000:]}")
    ms, kms, chain, signatures, loaded = out.stdout.strip().splitlines()[-1].split()
    assert (int(signatures), loaded) == ((1, "True") if sign else (0, "False")), out.stdout[-300:]
    return float(ms), float(kms), float(chain)


def import_c2pa(runs: int) -> tuple[float, float, float, list[tuple[str, float]]]:
    """``import c2pa``: best ms of ``runs`` in a fresh interpreter, and in one that has just answered
    a handler's first request (what a signing function pays: the handler has loaded part of what
    c2pa imports); and, from one run of ``python -X importtime``, its cumulative ms and its largest
    direct imports (name, ms)."""
    timed = "started = time.perf_counter()\nimport c2pa\nprint((time.perf_counter() - started) * 1000)"
    fresh = f"import time\n{timed}"
    handler = f"""
import sys
import time
sys.path[:0] = {[*LAMBDA_PATH, str(ROOT / "tools")]!r}
import bench
bench.install_stub({{1: bench.bedrock_answer(1)}})
bench.handler_call(1, "url")
{timed}
"""
    env = {**os.environ, **ENV}
    best = [float("inf"), float("inf")]
    for _ in range(runs):
        for index, code in enumerate((fresh, handler)):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            best[index] = min(best[index], float(out.stdout.strip().splitlines()[-1]))
    trace = subprocess.run([sys.executable, "-X", "importtime", "-c", "import c2pa"], capture_output=True, text=True,
                           check=True).stderr  # fmt: skip
    entries = []  # (depth, name, cumulative µs), children before their parent
    for line in trace.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            entries.append(((len(name) - len(name.lstrip()) - 1) // 2, name.strip(), int(parts[1])))
    root = max(index for index, entry in enumerate(entries) if entry[:2] == (0, "c2pa"))
    start = max([index + 1 for index, entry in enumerate(entries[:root]) if entry[0] == 0], default=0)
    children = sorted((entry for entry in entries[start:root] if entry[0] == 1), key=lambda entry: -entry[2])
    return best[0], best[1], entries[root][2] / 1000, [(name, us / 1000) for _, name, us in children[:2]]


def pins(packages: tuple[str, ...]) -> list[str]:
    """``name==version`` of ``packages`` in requirements.txt."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name in packages and "==" in line:
            found[name] = f"{name}=={line.split('==')[1].split()[0]}"
    return [found[name] for name in packages]


def built_layer(cache: Path, requirements: list[str]) -> tuple[Path, int] | None:
    """The newest complete layer build in ``cache`` holding exactly these pins (by its dist-info
    folders), and its unzipped size in bytes; None when none is built (`make synth` builds it)."""
    wanted = {pin.replace("-", "_").lower().replace("==", "-") + ".dist-info" for pin in requirements}
    builds = []
    for folder in cache.glob("*"):
        if (folder / ".complete").exists() and wanted <= {p.name.lower() for p in (folder / "python").glob("*")}:
            builds.append(folder)
    if not builds:
        return None
    newest = max(builds, key=lambda folder: folder.stat().st_mtime)
    return newest, sum(path.stat().st_size for path in newest.rglob("*") if path.is_file())


def credentials_lines(runs: int) -> list[str]:
    """What content credentials cost: per signed image, at a cold start, in the layers."""
    from core.routes import ROUTES, WORKERS
    from core.topology import PROVENANCE_FUNCTIONS

    lines = []
    firsts = [(first_signed_request(True), first_signed_request(False)) for _ in range(runs)]
    import_ms, after_handler_ms, traced_ms, children = import_c2pa(runs)
    start_signing()
    rows = []
    with contextlib.redirect_stdout(open(os.devnull, "w")):  # the handler's EMF lines
        for count in (1, 4):
            rows.append((count, *signing_cost(count, runs)))
    lines.append(f"{'content credentials':24}{'signed':>10}{'off':>10}{'per image':>11}{'KMS Sign':>10}{'c2pa':>9}")
    for count, signed_ms, off_ms, kms_ms in rows:
        label = f"warm, {count} image{'s' if count > 1 else ''}, url"
        per_image = (signed_ms - off_ms) / count
        lines.append(f"{label:24}{signed_ms:8.1f}ms{off_ms:8.1f}ms{per_image:+9.1f}ms"
                     f"{kms_ms / count:8.1f}ms{per_image - kms_ms / count:7.1f}ms")  # fmt: skip
    # The signed run that was fastest, with its own parts.
    signed_first, kms_first, chain_first = min(run[0] for run in firsts)
    off_first = min(run[1][0] for run in firsts)
    extra = signed_first - off_first
    lines.append(f"{'first request':24}{signed_first:8.1f}ms{off_first:8.1f}ms{extra:+9.1f}ms"
                 f"{kms_first:8.1f}ms{extra - kms_first - chain_first:7.1f}ms  + reading the chain {chain_first:.1f}ms "
                 "(KMS, Secrets Manager: with their clients' creation)")  # fmt: skip
    lines.append("  KMS Sign here: moto in this process (client, ECDSA, DER to COSE); AWS adds a network round trip")
    traced = ", ".join(f"{name} {ms:.1f}ms" for name, ms in children)
    lines.append(f"import c2pa: {import_ms:.1f}ms in a fresh interpreter, {after_handler_ms:.1f}ms after a "
                 f"handler's first request (best of {runs}); -X importtime: c2pa {traced_ms:.1f}ms, "
                 f"of which {traced}")  # fmt: skip
    sizes = []
    for name, cache, requirements in (
        ("c2pa", ROOT / ".build" / "c2pa-layer", pins((C2PA_PACKAGE,))),
        ("payload", ROOT / ".build" / "layer", pins(PAYLOAD_PACKAGES)),
    ):
        built = built_layer(cache, requirements)
        where = f"{built[1] / 1e6:.1f} MB ({built[0].relative_to(ROOT)})" if built else "not built (make synth)"
        sizes.append((name, built))
        lines.append(f"{name} layer, unzipped: {where}; {', '.join(requirements)}")
    if all(built for _, built in sizes):
        total = sum(built[1] for _, built in sizes if built)
        lines.append(f"  a function with both: {total / 1e6:.1f} MB of Lambda's 250 MB (layers and code, unzipped)")
    kinds = {route.module: route.kind for route in ROUTES} | {worker: worker for worker in WORKERS}
    with_layer = sorted(module for module, kind in kinds.items() if kind in PROVENANCE_FUNCTIONS)
    lines.append(f"with the c2pa layer ({', '.join(PROVENANCE_FUNCTIONS)}): {len(with_layer)} functions, "
                 f"{', '.join(with_layer)}")  # fmt: skip
    lines.append(f"without it: {', '.join(sorted(set(kinds) - set(with_layer)))}")
    return lines


# --- measuring ---------------------------------------------------------------------------


def first_request(side: str, runs: int) -> float:
    """ms from the first import to the first answer, in a fresh interpreter (best of ``runs``)."""
    code = f"""
import sys
import time
sys.path[:0] = {[*LAMBDA_PATH, str(ROOT / "tools")]!r}
import bench
bench.install_stub({{1: bench.bedrock_answer(1)}})
stubbed = time.perf_counter()
bench.{side}_call(1, "url")
print((time.perf_counter() - stubbed) * 1000)
"""
    timings = []
    for _ in range(runs):
        env = {**os.environ, **ENV}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        timings.append(float(out.stdout.strip().splitlines()[-1]))
    return min(timings)


def warm(count: int, response_format: str, runs: int) -> tuple[float, float, int, int]:
    """Best ms per request of the handler and of the floor, their runs interleaved so that the
    machine's state weighs on both alike, then the peak bytes one request of each allocates."""
    sides = (handler_call, floor_call)
    best = [float("inf"), float("inf")]
    for side in sides:
        side(count, response_format)
    for _ in range(runs):
        for index, side in enumerate(sides):
            started = time.perf_counter()
            side(count, response_format)
            best[index] = min(best[index], (time.perf_counter() - started) * 1000)
    peaks = []
    for side in sides:
        tracemalloc.start()
        side(count, response_format)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best[0], best[1], peaks[0], peaks[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the hot path against its floor")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print {label: ratio} as JSON (for the tests)")
    parser.add_argument("--no-credentials", action="store_true", help="leave out what content credentials cost")
    args = parser.parse_args(argv)
    from core.topology import PROCESS_ENVIRONMENT

    if any(os.environ.get(name) != value for name, value in PROCESS_ENVIRONMENT.items()):
        # Both sides run in a process set up as the functions' are (glibc reads these at start).
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PROCESS_ENVIRONMENT})
    os.environ.update(ENV)
    sys.path[:0] = LAMBDA_PATH
    install_stub({count: bedrock_answer(count) for count in (1, 4)})

    rows = []
    # Interleaved, as the warm runs are: the machine's state weighs on both sides alike.
    firsts = [(first_request("handler", 1), first_request("floor", 1)) for _ in range(args.runs)]
    rows.append(("first request", min(run[0] for run in firsts), min(run[1] for run in firsts), None, None))
    for label, count, response_format in (
        ("warm, 1 image, url", 1, "url"),
        ("warm, 4 images, url", 4, "url"),
        ("warm, 1 image, base64", 1, "base64"),
    ):
        with contextlib.redirect_stdout(open(os.devnull, "w")):  # the handler's EMF lines
            handler_ms, floor_ms, handler_peak, floor_peak = warm(count, response_format, args.runs)
        rows.append((label, handler_ms, floor_ms, handler_peak, floor_peak))

    if args.json:
        print(json.dumps({label: handler_ms / floor_ms for label, handler_ms, floor_ms, _, _ in rows}))
        return 0
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{SIDE}x{SIDE} PNGs of {len(samples.noise(SIDE, SIDE, 0)) / 1e6:.1f} MB; best of {args.runs}")  # fmt: skip
    print(f"{'':24}{'handler':>10}{'floor':>10}{'ratio':>8}{'goal':>7}{'peak memory':>14}")
    for label, handler_ms, floor_ms, handler_peak, floor_peak in rows:
        ratio = handler_ms / floor_ms
        memory = f"{handler_peak / floor_peak:.1f}x" if handler_peak else ""
        mark = "ok" if ratio <= GOALS[label] else "over the goal"
        print(f"{label:24}{handler_ms:8.1f}ms{floor_ms:8.1f}ms{ratio:7.2f}x{GOALS[label]:6.2f}x{memory:>12}  {mark}")
    if not args.no_credentials:
        print(*credentials_lines(args.runs), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
