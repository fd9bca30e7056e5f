#!/usr/bin/env bash
# Sets up a fresh machine for the whole test suite (scripts/setup.sh --test) and runs it: lint, unit,
# component, conformance and end-to-end tests (real kernel, real servers). Arguments filter test files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
npm run --silent lint
exec node scripts/run-tests.mjs "$@"
