#!/usr/bin/env bash
# Installs the pinned Azurite into .tools/ (once) and, with "start", runs it in the
# background with data kept under .azurite/ so state survives restarts.
# Usage: scripts/azurite.sh install | start | stop | status
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.35.0
TOOLS=.tools/azurite
ENTRY=$TOOLS/node_modules/azurite/dist/src/azurite.js
PIDFILE=.azurite/azurite.pid

install() {
  if [ -f "$ENTRY" ] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$TOOLS/node_modules/azurite/package.json"; then
    return
  fi
  command -v node >/dev/null || { echo "node is required (Node 20+) to run Azurite" >&2; exit 1; }
  echo "installing azurite@$AZURITE_VERSION into $TOOLS" >&2
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  if running; then echo "azurite already running (pid $(cat $PIDFILE))" >&2; return; fi
  mkdir -p .azurite
  # Start node on the entry point directly: killing an npx wrapper would leave Azurite running.
  nohup node "$ENTRY" --silent --disableTelemetry --skipApiVersionCheck --loose \
    --location .azurite --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
    > .azurite/azurite.log 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/10001) 2>/dev/null; then
      echo "azurite running (pid $(cat $PIDFILE)), data in .azurite/" >&2; return
    fi
    sleep 0.1
  done
  echo "azurite did not start; see .azurite/azurite.log" >&2; exit 1
}

stop() {
  if running; then kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; echo "azurite stopped" >&2; fi
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo running; else echo stopped; fi ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
