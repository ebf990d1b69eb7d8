#!/usr/bin/env bash
# Packs MlxBench.Sdk into a local feed. Usage: eng/pack-local.sh <feed-dir> [version-suffix]
# A suffix gives the package a version no NuGet cache has seen, so consumers never get a stale copy.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
feed="${1:?usage: eng/pack-local.sh <feed-dir> [version-suffix]}"
suffix="${2:-}"
args=(pack "$repo/src/MlxBench.Sdk/MlxBench.Sdk.csproj" -c Release -o "$feed" -nr:false -v:q -nologo)
[[ -n "$suffix" ]] && args+=("-p:VersionSuffix=$suffix")
dotnet "${args[@]}"
