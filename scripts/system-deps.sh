#!/usr/bin/env bash
# Install the system packages ingestd's tests/demo need (Debian/Ubuntu).
#
#   scripts/system-deps.sh               # ffmpeg + postgresql + java/maven (Kafka broker)
#   scripts/system-deps.sh --no-postgres # ffmpeg only (demo)
#
# Idempotent and silent when everything is already present. Runs
# `apt-get update` only when something actually has to be installed.
set -euo pipefail

want_postgres=1
for arg in "$@"; do
    case "$arg" in
        --no-postgres) want_postgres=0 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "system-deps.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

have_initdb() {
    local f
    for f in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$f" ] && return 0
    done
    return 1
}

missing=()
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if [ "$want_postgres" = 1 ] && ! have_initdb; then
    missing+=(postgresql)
fi
# The test broker runs Kafka's jars from Maven Central on a JVM.
if [ "$want_postgres" = 1 ]; then
    command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    {
        echo "system-deps.sh: missing system packages: ${missing[*]}"
        echo "Install them as root, e.g.:"
        echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    } >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps.sh: apt-get not found; please install manually: ${missing[*]}" >&2
    exit 1
fi

echo "system-deps.sh: installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps this fast; the postgresql package still pulls
# in the server binaries (postgresql-NN) and creates the `postgres` user.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Sanity check.
command -v ffprobe >/dev/null 2>&1 || { echo "system-deps.sh: ffprobe still missing" >&2; exit 1; }
if [ "$want_postgres" = 1 ] && ! have_initdb; then
    echo "system-deps.sh: initdb still missing after installing postgresql" >&2
    exit 1
fi
echo "system-deps.sh: done."
