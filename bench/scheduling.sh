#!/usr/bin/env bash
# Scheduling benchmark: availability-engine slot searches per second on one core (taskset -c 0):
# one host (Mon-Fri 09:00-17:00 Europe/Berlin, 200 busy events in a month, 5-minute buffers,
# 4 h minimum notice) over a two-week window with 30-minute meetings on a 15-minute grid, then
# 5 such hosts (five European zones) intersected. Target: 10,000 searches/s for one host.
# Numbers only; nothing asserts. A "search" lists every free slot of the window.
#
#   bench/scheduling.sh                 # release build; SECONDS_EACH=3 EVENTS=200 to tune
#   BUILD=debug bench/scheduling.sh     # the debug build (slower; for a quick check)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" util-linux
ensure_swift

SECONDS_EACH="${SECONDS_EACH:-3}"
EVENTS="${EVENTS:-200}"
BUILD="${BUILD:-release}"
if [[ "$BUILD" == "release" ]]; then
    scratch="${SCRATCH_PATH:-$root/.build}"
    swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
    swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
else
    swift build --product astralisd >/dev/null
    swift build --product astralisd-extract >/dev/null
    bin="$(swift build --show-bin-path)/astralisd"
fi

echo "==> slot searches on one core (taskset -c 0), ${SECONDS_EACH}s each, $BUILD build"
taskset -c 0 "$bin" scheduling bench --seconds "$SECONDS_EACH" --events "$EVENTS" --target 10000
