#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the agent with the default config (./otel-config.yaml).
# Extra arguments go to `sonde run`, e.g. `scripts/run.sh --config my.yaml`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node bin/sonde.js run "$@"
