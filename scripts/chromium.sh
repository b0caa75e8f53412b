#!/usr/bin/env bash
# Browser tests drive Debian's chromium (Playwright never downloads a browser here).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q chromium >/dev/null
}
command -v chromium >/dev/null 2>&1 || { echo "chromium could not be installed" >&2; exit 1; }
