#!/usr/bin/env bash
# Install what tests/test_connection_ui.py needs: Debian's chromium (/usr/bin/chromium) and the
# Python playwright package (driver only: it never downloads a browser here) in the venv given as
# $1, else $RIFFUSION_VENV, else .venv. Idempotent, and a no-op taking well under a second when
# both are present. Never runs `playwright install`. A relative venv path is relative to the
# repository root, as in scripts/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-${RIFFUSION_VENV:-.venv}}"
playwright_spec="${PLAYWRIGHT_SPEC:-playwright>=1.45,<2}"

if [ ! -x "$venv/bin/python" ]; then
    echo "install_browser.sh: no Python at $venv/bin/python (run scripts/bootstrap.sh first)" >&2
    exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
    bash scripts/apt_install.sh install_browser.sh chromium fonts-liberation
fi

if ! "$venv/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install_browser.sh: installing the playwright Python package into $venv"
    if [ -x "$venv/bin/uv" ]; then
        "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "$playwright_spec"
    elif command -v uv >/dev/null 2>&1; then
        uv pip install --quiet --python "$venv/bin/python" "$playwright_spec"
    else
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$playwright_spec"
    fi
fi
