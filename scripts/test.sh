#!/usr/bin/env bash
# Set everything up, then run the whole test suite (ROS tests included, for real).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$PWD/.cache/anny}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
