#!/usr/bin/env bash
# apt_install.sh WHO PACKAGE...: install Debian packages, as root or through sudo, or say in one line why not.
# Used by install_browser.sh and install_redis.sh; WHO names the caller in its messages.
set -euo pipefail
who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: $* missing and apt-get is not available; install them yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "$who: $* missing; run as root: apt-get install $*" >&2
        exit 1
    fi
fi
echo "$who: installing Debian's $*"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
