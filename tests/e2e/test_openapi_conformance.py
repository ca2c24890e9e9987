"""Every route against its published OpenAPI document: schemathesis generates valid and invalid
requests from GET /v1/openapi.json and checks what the local stack answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from core.routes import ROUTES

# Valid and invalid bodies per operation: enough to reach every field's checks, bounded to
# about half a minute on two cores.
EXAMPLES_PER_OPERATION = 15
CHECKS = (
    "not_a_server_error",  # nothing a caller sends is a 5xx
    "status_code_conformance",  # every status is documented
    "response_schema_conformance",  # every answer has its documented shape
    "content_type_conformance",
    "negative_data_rejection",  # a body the document calls invalid is refused
)


def test_the_api_answers_as_its_openapi_document_says(stack, tmp_path):
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", stack.info["api"] + "/openapi.json",
        "--header", f"x-api-key: {stack.info['apiKey']}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", "20261123",  # the same requests on every run: a failure reproduces
        # One worker: the local stack renders previews on the same two cores. A connection the
        # loaded loopback server drops is retried; a server that is down stays down and fails.
        "--workers", "1",
        "--request-retries", "2",
        "--max-failures", "5",
        "--request-timeout", "30",
        "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"),
    ]  # fmt: skip

    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    # Every route is in the document and was tested; schemathesis leaves out the document's own
    # URL (test_openai_clients.py fetches it).
    tested = {case.get("name") for case in ElementTree.parse(tmp_path / "junit.xml").iter("testcase")}
    assert tested == {f"{route.method} {route.path}" for route in ROUTES if route.module != "openapi"}
