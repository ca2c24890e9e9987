"""Peak memory of one request, for the worst inputs of every kind of route: decompression bombs
(PNG, WebP, JPEG, GIF; as image, mask, reference, style and condition image; inline, in a form
and by s3:// reference) and the largest images the models accept.

Each request runs in a fresh interpreter (memory_probe.py) after a warm-up, and its cost is
the rise of the process's resident high-water mark: Pillow's pixels are allocated in C, where
tracemalloc does not look. A deployed function has 1,024 MB for one request at a time.

The bound of a request to a model: a 64 MiB baseline (Python objects, botocore, moto),
plus four decoded copies of the largest image the model accepts (RGBA, 4 bytes a pixel: a
check decodes, converts, and a mask is converted back to PNG), plus eight copies of the bytes
sent (a file is held as bytes, base64, JSON and the InvokeModel body). Before the bounds were
enforced, the 12000x12000 PNG sent as image and mask took 1.44 GB and the WebP canvas bomb
2.2 GB; a bound derived from what the model accepts leaves no room for either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bombs import largest_input_pixels
from memory_probe import CASES

from imagegen.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("memory_probe.py")
BASELINE_BYTES = 64 * 1024 * 1024
DECODED_COPIES = 4
SENT_COPIES = 8
# Two probes at a time: a 2-core CI machine stays responsive, and a probe's own high-water mark
# does not depend on its neighbour.
CONCURRENT_PROBES = 2


def bound(model: str, sent_bytes: int) -> int:
    decoded = 4 * largest_input_pixels(MODELS[model])
    return BASELINE_BYTES + DECODED_COPIES * decoded + SENT_COPIES * sent_bytes


def _probe(case: str) -> dict:
    paths = [ROOT / "tests", ROOT / "tests" / "functions", ROOT / "functions", ROOT / "functions" / "handlers", ROOT]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONWARNINGS": "ignore"}
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    result = subprocess.run(
        [sys.executable, str(PROBE), case], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"case"')]
    assert result.returncode == 0 and lines, (
        f"{case}: the probe failed\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def peaks() -> dict[str, dict]:
    with ThreadPoolExecutor(CONCURRENT_PROBES) as pool:
        return dict(zip(CASES, pool.map(_probe, CASES), strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_the_worst_inputs_of_each_route_stay_within_the_models_memory_bound(peaks, case):
    measured, expected = peaks[case], CASES[case]
    limit = bound(expected.model, measured["sent_bytes"])

    assert measured["peak_growth_bytes"] <= limit, (
        f"{case}: peak grew by {measured['peak_growth_bytes'] / 2**20:,.0f} MiB, over the bound of "
        f"{limit / 2**20:,.0f} MiB for {expected.model} ({measured['status']}: {measured['error']})"
    )
    if expected.field is None:
        assert measured["status"] == 200, measured
    else:
        # Refused as a client error naming the image's field (OpenAI's routes: its parameter).
        assert measured["status"] in (400, 413), measured
        error = measured["error"]
        named = error.get("param") or error["details"][0]["field"]
        assert named == expected.field, measured
