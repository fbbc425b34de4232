#!/usr/bin/env sh
# Debian's Chromium for the web UI's browser tests (tests/test_app.py drives it with Playwright;
# Playwright's own browser download does not work on the project's machines). Skips if present.
set -e
[ -x /usr/bin/chromium ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq chromium >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }
