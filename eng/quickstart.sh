#!/usr/bin/env bash
# From a fresh clone to a report: sets the machine up (eng/setup.sh), packs MlxBench.Sdk from this checkout
# (only when its sources changed), seeds the HuggingFace cache with stories260K from ../shared/models when present
# (offline machines), then builds samples/quickstart: Bench (native engine server, serving and eval suites),
# Publish (samples/quickstart/dataset) and Report. A second run reuses every cell.
# Usage: eng/quickstart.sh [extra dotnet build arguments]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
trap 'dotnet build-server shutdown >/dev/null 2>&1 || true' EXIT

eng/setup.sh

# The SDK, packed as 0.1.0-local into artifacts/feed; samples/NuGet.config resolves it from there into a private
# package folder, which is emptied on every repack so the new package is the one used.
feed="$repo/artifacts/feed"
stamp="$feed/.sources.sha256"
sources=$(find src Sdk native schema.json global.json Directory.Build.props Directory.Packages.props eng/Versions.props \
            -type f -not -path '*/bin/*' -not -path '*/obj/*' -not -path 'native/build*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ] || ! ls "$feed"/MlxBench.Sdk.0.1.0-local.nupkg >/dev/null 2>&1; then
  echo "quickstart: packing MlxBench.Sdk (takes a minute or two the first time)"
  rm -rf "$feed" "$repo/artifacts/samples-packages/mlxbench.sdk"
  eng/pack-local.sh "$feed" local
  echo "$sources" > "$stamp"
fi

shared="${MLXBENCH_SHARED:-$repo/../shared}"
if [ -f "$shared/models/stories260K.gguf" ]; then
  eng/seed-hf-cache.sh "$shared/models/stories260K.gguf" ggml-org/models tinyllamas/stories260K.gguf >/dev/null
fi

dotnet build samples/quickstart/quickstart.benchproj "-t:Bench;Publish;Report" -nr:false -tl:off "$@"
echo
echo "quickstart: the report is $repo/samples/quickstart/bin/bench-report.html"
