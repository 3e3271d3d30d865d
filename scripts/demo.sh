#!/usr/bin/env bash
# The main job: set everything up, then run the synthetic multi-camera demo through the real node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/hamst3r demo "$@"
