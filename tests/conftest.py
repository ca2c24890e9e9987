from __future__ import annotations

import fcntl
import gc

import browser_setup
import iam_report
import pytest
from imaging import png_b64
from stacks import ACCOUNT, DEPLOYED, REGION, VARIANT, Synth, synthesize

# Which tests share a worker in a parallel run (`make test`).
pytest_plugins = ["parallel"]

# A test process keeps a large heap for its whole life (the collected tests, botocore's and moto's
# models, the CDK app): collecting garbage after every 700 allocations walks it again and again,
# ~10 % of the handler tests' time. After every 10,000, cycles are still freed, a little later.
gc.set_threshold(10_000, 10, 10)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--iam-unused", action="store_true", help="list the IAM grants no handler test used (default: their count)"
    )


# --- summary lines: the IAM audit's (from each worker of a parallel run), the browser's --------


@pytest.hookimpl(optionalhook=True)  # xdist's; the controller hears from each finished worker
def pytest_testnodedown(node, error) -> None:
    iam_report.collect(node.config, getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    iam_report.summarize(terminalreporter, config)
    # -q lists no skip reasons: without a browser, one line says how to install it.
    skipped = [report.longrepr[2] for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple)]  # fmt: skip
    line = browser_setup.summary(skipped)
    if line:
        terminalreporter.write_line(line, yellow=True)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def image512() -> str:
    return png_b64(512, 512)


@pytest.fixture(scope="session")
def layer() -> None:
    """The payload layer in .build/layer, built before any synth needs it. Workers and the CDK
    CLI's own synth share that cache; a lock lets one build it while the others wait, instead of
    several pip runs filling the same staging folder (a cached layer takes the lock only briefly)."""
    from infra.layer import CACHE_DIR, build_layer

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR.parent / "layer.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_layer()


@pytest.fixture(scope="session")
def synth(tmp_path_factory, layer) -> Synth:
    """The stack as `python app.py` builds it with cdk.json's defaults (no account, no region)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory, layer) -> Synth:
    """IAM auth, a Bedrock region, a subset of models, a successor id and an inference profile, CORS."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), VARIANT)


@pytest.fixture(scope="session")
def deployed(tmp_path_factory, layer) -> Synth:
    """cdk.json's defaults for a concrete account and region, as `cdk deploy` synthesizes them,
    with every model enabled (the seed models too, as for an operator with extended access):
    the handler tests run against the same account, region and models."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), DEPLOYED, account=ACCOUNT, region=REGION)
