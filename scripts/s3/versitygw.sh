#!/usr/bin/env bash
# versitygw, a production S3 gateway (Apache-2.0), for the tests: built once from the Go
# module proxy with `go install` and cached, like the Kafka jars.
#   versitygw.sh build   build unless cached (idempotent), then print the binary's path
#   versitygw.sh path    print the path the binary has once built (built or not)
# Env: VERSITYGW_CACHE (default ~/.cache/ingestd-versitygw; CI may point it at an empty folder),
#      VERSITYGW_VERSION (default v1.8.0).
set -euo pipefail

CACHE="${VERSITYGW_CACHE:-$HOME/.cache/ingestd-versitygw}"
VERSION="${VERSITYGW_VERSION:-v1.8.0}"
BIN="$CACHE/$VERSION/versitygw"

die() { echo "versitygw.sh: $*" >&2; exit 1; }

build() {
  if [[ -x "$BIN" ]]; then echo "$BIN"; return 0; fi
  command -v go >/dev/null || die "go not found (needed once to build versitygw $VERSION)"
  # Built into a scratch folder and moved in whole: an interrupted build leaves no binary
  # that looks complete, and two builds at once do not mix.
  mkdir -p "$CACHE"
  TMP="$(mktemp -d "$CACHE/.build.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  echo "versitygw.sh: building versitygw $VERSION (a few minutes, once)" >&2
  GOBIN="$TMP" CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2 \
    || die "go install github.com/versity/versitygw/cmd/versitygw@$VERSION failed"
  mkdir -p "$(dirname "$BIN")"
  mv -f "$TMP/versitygw" "$BIN"
  echo "$BIN"
}

case "${1:-}" in
  build) build ;;
  path) echo "$BIN" ;;
  *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
