#!/usr/bin/env bash
# The playground's browser tests drive Debian's headless Chromium through chromedriver
# (tests/e2e/test_playground.py). `make test` calls this first: it installs both with apt-get
# where it may (as root; in CI also through passwordless sudo) and otherwise changes nothing,
# so that the browser tests skip with one line saying how to install them (under CI=true they
# fail instead: tests/browser_setup.py).
set -uo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif [ "${CI:-}" = "true" ] && sudo -n true 2>/dev/null; then
  # A CI runner's user (GitHub's, say) may install; a developer is never asked for a password.
  sudo="sudo -n"
else
  exit 0
fi

echo "Installing chromium and chromium-driver for the browser tests (apt-get)"
if ! { $sudo apt-get update -qq &&
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
  # Without them the browser tests skip (or, under CI=true, fail) and say so; the rest still run.
  echo "Could not install chromium and chromium-driver" >&2
fi
exit 0
