#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test (handler/e2e/monitor_test.go)
# when it is missing. Needs root (CI runs as root); elsewhere it says what to do and
# leaves the decision to the test (which fails under CI=true and skips locally).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is not installed and this is not root: install it (apt-get install chromium) to run the dashboard browser test" >&2
  exit 0
fi
echo "installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2 # recommends bring fonts for readable screenshots
