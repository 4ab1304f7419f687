#!/usr/bin/env bash
# Debian's headless Chromium for the dashboard browser test (tests/dashboard/test_browser.py).
# Idempotent: does nothing when a chromium binary is already on the machine. Needs root (or sudo) to install.
set -euo pipefail

find_chromium() {
  for c in "${FITLAKE_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$c" && -x "$c" ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if existing=$(find_chromium); then
  echo "chromium: $existing"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: apt-get not found; install Chromium yourself and set FITLAKE_CHROMIUM to its binary." >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "chromium.sh: run as root (or install sudo) to apt-get install chromium." >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# Ubuntu's `chromium` package is a snap shim; Debian's is a real binary. Try `chromium`, then `chromium-browser`.
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
  || $SUDO apt-get install -y -qq --no-install-recommends chromium-browser >/dev/null

if existing=$(find_chromium) && "$existing" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
  echo "chromium: $existing ($("$existing" --version 2>/dev/null))"
else
  echo "chromium.sh: chromium was installed but does not run headless (on Ubuntu, the apt package is a snap shim;" \
    "use a Debian image or set FITLAKE_CHROMIUM)." >&2
  exit 1
fi
