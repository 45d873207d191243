#!/usr/bin/env bash
# Install what tests/test_celery.py needs beside the venv: Debian's redis-server (the Celery broker the test
# starts and stops itself). Idempotent: a no-op when redis-server is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    bash scripts/apt_install.sh install_redis.sh redis-server
fi
