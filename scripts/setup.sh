#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for Sonde: apt packages, npm ci, and every build step.
#   scripts/setup.sh          what `sonde run` needs (build tools, BPF objects, native addon, TypeScript)
#   scripts/setup.sh --test   also every server and tool the test suite starts (scripts/apt-packages-*.txt)
# Idempotent: packages already installed and up-to-date builds are skipped. Needs root (apt, BPF).
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchains installed outside apt on this machine kind: rustup's cargo (fetches the libbpf sources) and Go
# (builds the OpenTelemetry Collector the exporter tests talk to).
for d in "$HOME/.cargo/bin" /usr/local/go/bin; do [ -d "$d" ] && PATH="$d:$PATH"; done
export PATH

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

lists=(scripts/apt-packages.txt)
if [ "$want_tests" = 1 ]; then
  for f in scripts/apt-packages-*.txt; do [ -e "$f" ] && lists+=("$f"); done
fi

missing=()
for pkg in $(grep -hv '^\s*#' "${lists[@]}" | awk 'NF {print $1}' | sort -u); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${#missing[@]} apt package(s): ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "setup: apt packages are missing and this is not root; rerun with sudo" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's policy-rc.d keeps services from starting on install; the tests start their own instances.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if grep -q '"build:bpf"' package.json; then npm run --silent build:bpf; fi
if grep -q '"build:native"' package.json; then npm run --silent build:native; fi
npm run --silent build
echo "setup: ready"
