#!/bin/sh
# Builds a position-independent static libbpf into build/libbpf/ (libbpf.a + headers).
#
# Source: the libbpf release bundled in the libbpf-sys crate, pinned (version and sha256)
# in native/deps/libbpf-src/Cargo.lock and obtained with `cargo fetch --locked` from
# crates.io. Nothing else is downloaded; nothing third-party is committed.
# Why not Debian's libbpf-dev: its libbpf.a is not built with -fPIC, so it cannot go into
# a Node addon (a shared object); see native/README.md.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
OUT="$ROOT/build/libbpf"
MANIFEST="$ROOT/native/deps/libbpf-src/Cargo.toml"
LOCK="$ROOT/native/deps/libbpf-src/Cargo.lock"
VERSION=$(awk '/^name = "libbpf-sys"/{getline; gsub(/"/,"",$3); print $3}' "$LOCK")
SHA256=$(awk '/^name = "libbpf-sys"/{getline; getline; getline; gsub(/"/,"",$3); print $3}' "$LOCK")
STAMP="$OUT/.stamp-$VERSION"

if [ -f "$STAMP" ] && [ -f "$OUT/lib/libbpf.a" ]; then exit 0; fi

command -v cargo >/dev/null 2>&1 || { echo "build-libbpf: cargo is needed to fetch libbpf $VERSION from crates.io (Rust ≥ 1.68 from rustup; Debian 12's cargo is too old)" >&2; exit 1; }
cargo fetch --locked --manifest-path "$MANIFEST" >&2
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
CRATE=$(ls "$CARGO_HOME"/registry/cache/*/"libbpf-sys-$VERSION.crate" 2>/dev/null | head -n1)
[ -n "$CRATE" ] || { echo "build-libbpf: libbpf-sys-$VERSION.crate not found under $CARGO_HOME/registry/cache" >&2; exit 1; }
GOT=$(sha256sum "$CRATE" | cut -d' ' -f1)
[ "$GOT" = "$SHA256" ] || { echo "build-libbpf: checksum mismatch for $CRATE: $GOT != $SHA256" >&2; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT/src"
tar -xzf "$CRATE" -C "$OUT/src" --strip-components=1 "libbpf-sys-$VERSION/libbpf"
SRC="$OUT/src/libbpf/src"
make -s -C "$SRC" BUILD_STATIC_ONLY=1 OBJDIR="$OUT/obj" DESTDIR="$OUT" PREFIX= LIBDIR=/lib \
  EXTRA_CFLAGS="-fPIC -O2 -g" -j"$(nproc)" install >&2
# uapi headers matching this libbpf (bpf.h etc.) for the native addon and BPF programs.
mkdir -p "$OUT/include/uapi" && cp -r "$OUT/src/libbpf/include/uapi/linux" "$OUT/include/uapi/"
touch "$STAMP"
echo "build-libbpf: libbpf $VERSION -> $OUT" >&2
