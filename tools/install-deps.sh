#!/bin/sh
# Installs the Debian packages that building, testing and the demo need.
# As root it runs apt-get; otherwise it prints the exact apt-get line to run.
# Usage: tools/install-deps.sh [build|test|bench]
set -eu
what=${1:-build}
pkgs="build-essential pkg-config libpq-dev libsqlite3-dev libyaml-dev libssl-dev libjansson-dev libmicrohttpd-dev"
case "$what" in
test) pkgs="$pkgs libcmocka-dev sqlite3 jq postgresql postgresql-client openssl curl prometheus chromium" ;;
bench) pkgs="$pkgs sqlite3 jq time postgresql postgresql-client pgcopydb" ;;
fuzz) pkgs="$pkgs clang" ;;
esac
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "missing packages; run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
