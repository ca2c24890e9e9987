"""The browser the playground's tests drive: Debian's headless Chromium through chromedriver.

`make test` installs both where it can (tools/ensure_browser.sh: as root, with apt-get). Where it
cannot, the browser tests skip and the run ends with one line saying how to install them; under
``CI=true`` a missing browser fails them instead, so that CI never passes without them.
"""

from __future__ import annotations

import os
import shutil

import pytest

PROGRAMS = ("chromium", "chromedriver")
INSTALL = "sudo apt-get install chromium chromium-driver (make test does it when run as root)"
# Every skip's reason starts so: the summary line counts them (tests/conftest.py).
SKIPPED = "no browser for the playground's tests"


def require() -> tuple[str, str]:
    """Chromium's and chromedriver's paths on $PATH; else skip the test, or fail it under CI=true."""
    found = {program: shutil.which(program) for program in PROGRAMS}
    missing = [program for program, where in found.items() if where is None]
    if not missing:
        return found["chromium"], found["chromedriver"]
    reason = f"{SKIPPED} ({' and '.join(missing)} not found): {INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true runs them", pytrace=False)
    pytest.skip(reason)


def summary(skipped_reasons: list[str]) -> str | None:
    """The one line for the browser tests that skipped, if any did."""
    reasons = [reason[reason.index(SKIPPED) :] for reason in skipped_reasons if SKIPPED in reason]
    return f"{len(reasons)} skipped, {reasons[0]}" if reasons else None
