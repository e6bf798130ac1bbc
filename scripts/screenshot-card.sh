#!/usr/bin/env bash
# Renders a model card page in headless Chromium (Debian package `chromium`)
# and writes a PNG screenshot, to check what a reviewer sees.
#
#   bash scripts/screenshot-card.sh runs/quickstart/release/MODEL_CARD.html [OUT.png] [HEIGHT]
#
# The page is self-contained, so Chromium runs with the network off.
set -euo pipefail

html="${1:?usage: screenshot-card.sh MODEL_CARD.html [OUT.png] [HEIGHT]}"
out="${2:-${html%.html}.png}"
height="${3:-6000}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "chromium not found: apt-get install chromium" >&2
    exit 66
fi
abs="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --window-size=1200,"$height" --screenshot="$out" "file://$abs" 2>/dev/null
echo "$out"
