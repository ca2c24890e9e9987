"""`make test` on a machine without Chromium: tools/ensure_browser.sh installs it where it may (as
root, with apt-get), and otherwise the browser tests skip with one line saying how to install
it, except under CI=true, where they fail. Checked without uninstalling anything: the programs
are looked up on a PATH the test chooses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "tools" / "ensure_browser.sh"
INSTALL_HINT = "sudo apt-get install chromium chromium-driver"


def _pytest_without_a_browser(tmp_path: Path, **environment: str) -> subprocess.Popen:
    """The browser tests in a fresh pytest whose PATH holds no program at all."""
    env = {name: value for name, value in os.environ.items() if name != "CI" and not name.startswith("PYTEST_")}
    env.update(PATH=str(tmp_path), **environment)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/e2e/test_playground.py"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_without_a_browser_the_browser_tests_skip_with_one_line_saying_how_to_install_it_or_fail_in_ci(tmp_path):
    # Both at once: each is a pytest of its own, ~1.5 s.
    local, ci = _pytest_without_a_browser(tmp_path), _pytest_without_a_browser(tmp_path, CI="true")
    local_output, ci_output = local.communicate(timeout=120)[0], ci.communicate(timeout=120)[0]

    assert local.returncode == 0, local_output
    [line] = [line for line in local_output.splitlines() if INSTALL_HINT in line]
    count = re.match(
        r"(\d+) skipped, no browser for the playground's tests \(chromium and chromedriver not found\)", line
    )
    assert count, line
    assert local_output.splitlines()[-1].startswith(f"{count[1]} skipped in"), "nothing else ran, nothing failed"

    assert ci.returncode != 0, ci_output
    assert f"{count[1]} errors" in ci_output and "CI=true runs them" in ci_output and "skipped" not in ci_output


# --- tools/ensure_browser.sh, with stand-ins for id, sudo and apt-get that log their calls ------


def _machine(tmp_path: Path, *, uid: int, browser: bool = False, apt_fails: bool = False) -> tuple[Path, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    scripts = {
        "id": f"echo {uid}",
        "apt-get": f'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >> {log}; exit {int(apt_fails)}',
        "sudo": f'[ "$1" = -n ] && shift; echo "sudo $*" >> {log}; exec "$@"',
    }
    if browser:
        scripts |= {"chromium": "true", "chromedriver": "true"}
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for program in ("env", "true"):  # what the script and the stand-ins run for real
        real = next(Path(folder, program) for folder in ("/usr/bin", "/bin") if Path(folder, program).exists())
        (bin_dir / program).symlink_to(real)
    return bin_dir, log


def _ensure(bin_dir: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {"PATH": str(bin_dir), **environment}
    return subprocess.run(["/bin/bash", str(ENSURE)], env=env, capture_output=True, text=True, timeout=60)


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_as_root_a_missing_browser_is_installed_quietly_with_apt_get(tmp_path):
    bin_dir, log = _machine(tmp_path, uid=0)

    run = _ensure(bin_dir)

    assert run.returncode == 0, run.stderr
    assert _calls(log) == [
        "DEBIAN_FRONTEND= apt-get update -qq",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
    ]


def test_an_installed_browser_is_left_alone(tmp_path):
    bin_dir, log = _machine(tmp_path, uid=0, browser=True)

    run = _ensure(bin_dir)

    assert run.returncode == 0 and run.stdout == run.stderr == "" and _calls(log) == []


def test_a_developer_without_root_is_never_asked_for_a_password_and_the_tests_say_what_to_do(tmp_path):
    bin_dir, log = _machine(tmp_path, uid=1000)

    run = _ensure(bin_dir)

    assert run.returncode == 0 and run.stdout == run.stderr == "" and _calls(log) == []


def test_a_ci_runner_installs_through_passwordless_sudo(tmp_path):
    bin_dir, log = _machine(tmp_path, uid=1001)

    run = _ensure(bin_dir, CI="true")

    assert run.returncode == 0, run.stderr
    assert _calls(log) == [
        "sudo true",  # may it? (sudo -n: no password prompt)
        "sudo apt-get update -qq",
        "DEBIAN_FRONTEND= apt-get update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
    ]


def test_an_install_that_fails_leaves_the_tests_to_skip_or_fail(tmp_path):
    bin_dir, log = _machine(tmp_path, uid=0, apt_fails=True)

    run = _ensure(bin_dir)

    assert run.returncode == 0 and "Could not install chromium and chromium-driver" in run.stderr
    assert _calls(log) == ["DEBIAN_FRONTEND= apt-get update -qq"], "nothing installed after a failed update"
