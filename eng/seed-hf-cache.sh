#!/usr/bin/env bash
# Puts a local file into the HuggingFace cache as if it had been downloaded, so an offline machine resolves
# `<BenchModel Include="<repo>" File="<path>" />` without the Hub:
#   $HF_HUB_CACHE (or $HF_HOME/hub, or ~/.cache/huggingface/hub)/models--<owner>--<name>/
#     blobs/<sha256>                        the bytes (LFS files are stored under their SHA-256)
#     snapshots/<revision>/<path>           a relative link to the blob
#     refs/main                             <revision>
# <revision> is the 40-hex SHA-1 of the file's bytes: stable, and never mistaken for the Hub's real commit.
# Usage: eng/seed-hf-cache.sh <file> <owner/name> <path-in-repo>     (idempotent)
set -euo pipefail
file="${1:?usage: eng/seed-hf-cache.sh <file> <owner/name> <path-in-repo>}"
repo="${2:?owner/name}"
path="${3:?path in the repository}"
[ -f "$file" ] || { echo "eng/seed-hf-cache.sh: $file does not exist" >&2; exit 1; }
cache="${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"
dir="$cache/models--${repo//\//--}"
sha256="$(sha256sum "$file" | cut -d' ' -f1)"
revision="$(sha1sum "$file" | cut -d' ' -f1)"
mkdir -p "$dir/blobs" "$dir/refs" "$dir/snapshots/$revision/$(dirname "$path")"
if [ ! -f "$dir/blobs/$sha256" ]; then
  cp "$file" "$dir/blobs/.$sha256.tmp" && mv "$dir/blobs/.$sha256.tmp" "$dir/blobs/$sha256"
fi
link="$dir/snapshots/$revision/$path"
depth=$(( $(tr -cd '/' <<< "$path" | wc -c) + 2 ))
target="$(printf '../%.0s' $(seq "$depth"))blobs/$sha256"
ln -sfn "$target" "$link"
[ "$(cat "$dir/refs/main" 2>/dev/null)" = "$revision" ] || printf '%s' "$revision" > "$dir/refs/main"
echo "$repo/$path -> $link"
