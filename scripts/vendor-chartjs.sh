#!/usr/bin/env bash
# Vendors Chart.js (the console's chart library) from the npm registry into
# crates/rapport-server/assets/vendor: the UMD build and its licence. The server embeds the
# file (no CDN: the console works without internet). Run it to update; commit the result.
#
#   scripts/vendor-chartjs.sh [VERSION]     (default: the version in assets/vendor/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=crates/rapport-server/assets/vendor
version="${1:-$(sed -n 's/^Chart.js version: //p' "$vendor/README.md")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$version" >/dev/null && tar xzf chart.js-*.tgz)
cp "$work/package/dist/chart.umd.min.js" "$vendor/chart.umd.min.js"
cp "$work/package/LICENSE.md" "$vendor/chart.js-LICENSE.md"
actual="$(node -p "require('$work/package/package.json').version")"
sed -i "s/^Chart.js version: .*/Chart.js version: $actual/" "$vendor/README.md"
sha256sum "$vendor/chart.umd.min.js"
echo "vendored Chart.js $actual"
