from __future__ import annotations

import pytest
from imaging import png_b64
from stacks import ACCOUNT, DEPLOYED, REGION, VARIANT, Synth, synthesize


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--iam-unused", action="store_true", help="list the IAM grants no handler test used (default: their count)"
    )


@pytest.fixture(scope="session")
def image512() -> str:
    return png_b64(512, 512)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The stack as `python app.py` builds it with cdk.json's defaults (no account, no region)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory) -> Synth:
    """IAM auth, a Bedrock region, a subset of models, a successor id and an inference profile, CORS."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), VARIANT)


@pytest.fixture(scope="session")
def deployed(tmp_path_factory) -> Synth:
    """cdk.json's defaults for a concrete account and region, as `cdk deploy` synthesizes them,
    with every model enabled (the seed models too, as for an operator with extended access):
    the handler tests run against the same account, region and models."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), DEPLOYED, account=ACCOUNT, region=REGION)
