#!/bin/sh
# The container image's build stage: builds libbpf, the BPF objects the agent loads, the native addon and
# the TypeScript in a source tree, then stages exactly what the runtime image holds into OUT:
#
#   OUT/bin/sonde.js  OUT/dist/src/…  OUT/package.json  OUT/node_modules/ (production dependencies only)
#   OUT/native/build/Release/sonde_native.node  OUT/build/bpf/<probe>.bpf.o
#
# Usage (from the source tree): deploy/docker/build.sh OUT
#   LIBBPF_CRATE=/path/libbpf-sys-<v>.crate   use a crate fetched elsewhere instead of running cargo
#   NODEDIR=/usr/local                        node headers for node-gyp (default: next to the node binary)
# Needs: node 20 + npm, clang, llvm, bpftool, libelf-dev, zlib1g-dev, make, gcc, g++, python3, pkg-config.
# The host tests run this same script in a throwaway copy of the repository (test/e2e/deploy-image.test.ts).
set -eu
OUT=${1:?usage: deploy/docker/build.sh OUT}
SRC=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$SRC"
NODEDIR=${NODEDIR:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")}
[ -f "$NODEDIR/include/node/node_api.h" ] || { echo "build.sh: no node headers under $NODEDIR/include/node (set NODEDIR)" >&2; exit 1; }

# dev dependencies (typescript, node-gyp) for the build; lifecycle scripts off (prepare would run tsc early)
[ -d node_modules ] || npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
sh native/scripts/build-libbpf.sh
make -s -C bpf probes
node_modules/.bin/node-gyp rebuild --directory=native --nodedir="$NODEDIR" --loglevel=warn >/dev/null
node_modules/.bin/tsc -p tsconfig.json

rm -rf "$OUT"
mkdir -p "$OUT/dist" "$OUT/native/build/Release" "$OUT/build/bpf"
cp -R bin "$OUT/bin"
cp -R dist/src "$OUT/dist/src"
cp package.json package-lock.json "$OUT/"
cp native/build/Release/sonde_native.node "$OUT/native/build/Release/"
for p in $(make -s -C bpf print-probes); do cp "build/bpf/$p.bpf.o" "$OUT/build/bpf/"; done
# source maps are not needed at run time
find "$OUT/dist" -name '*.map' -delete
(cd "$OUT" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && rm -f package-lock.json)
node deploy/docker/prune.mjs "$OUT/node_modules"
echo "build.sh: runtime tree in $OUT ($(du -sh "$OUT" | cut -f1))"
