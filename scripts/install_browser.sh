#!/usr/bin/env bash
# Install what tests/test_connection_ui.py needs: Debian's chromium (/usr/bin/chromium) and the
# Python playwright package (driver only: it never downloads a browser here; scripts/bootstrap.sh
# installs it from the lock file) in the venv given as $1, else $RIFFUSION_VENV, else .venv.
# Idempotent, and a no-op taking well under a second when both are present. Never runs
# `playwright install`. A relative venv path is relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-${RIFFUSION_VENV:-.venv}}"

if [ ! -x "$venv/bin/python" ]; then
    echo "install_browser.sh: no Python at $venv/bin/python (run scripts/bootstrap.sh first)" >&2
    exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
    bash scripts/apt_install.sh install_browser.sh chromium fonts-liberation
fi

if ! "$venv/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install_browser.sh: no playwright in $venv: run scripts/bootstrap.sh, which installs it from the lock file" >&2
    exit 1
fi
