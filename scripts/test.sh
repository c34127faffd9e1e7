#!/usr/bin/env bash
# Set up, make sure Chromium is there for the browser tests, run every test (slow ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f .ci/install-browser ]; then
  bash .ci/install-browser
fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
