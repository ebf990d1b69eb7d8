#!/usr/bin/env bash
# End to end through the packed SDK: a .benchproj with a Harness="serving" suite (a 2-level sweep) against an
# OpenAI-compatible endpoint that is already running (instant_server, started here), dotnet build -t:Bench;Publish,
# then checks the envelope has one result per metric and level and that a parquet shard was published.
# A second Bench must be up to date. Usage: eng/e2e-serving.sh   (needs cc, curl, python3)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
work="$(mktemp -d /tmp/mlxbench-e2e-serving.XXXXXX)"
port="${MLXBENCH_E2E_PORT:-18094}"
version="0.1.0-e2eserving$(date +%H%M%S)"
cc -O2 -o "$work/instant_server" "$repo/eng/bench/serving/instant_server.c"
"$work/instant_server" "$port" 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true; dotnet build-server shutdown >/dev/null 2>&1 || true' EXIT
"$repo/eng/pack-local.sh" "$work/feed" "${version#0.1.0-}" >/dev/null

mkdir -p "$work/project" && cd "$work/project"
cat > global.json <<JSON
{ "sdk": { "version": "10.0.401", "rollForward": "latestFeature" }, "msbuild-sdks": { "MlxBench.Sdk": "$version" } }
JSON
cat > nuget.config <<XML
<configuration><packageSources><clear /><add key="local" value="$work/feed" /></packageSources></configuration>
XML
cat > models.benchproj <<XML
<Project Sdk="MlxBench.Sdk">
  <ItemGroup>
    <BenchEndpoint Include="instant" BaseUrl="http://127.0.0.1:$port/v1" />
    <BenchModel Include="instant" Endpoint="instant" />
    <BenchSuite Include="throughput" Harness="serving" Concurrency="1;4" Requests="500" InputTokens="16" OutputTokens="16" />
  </ItemGroup>
</Project>
XML
dotnet build models.benchproj -t:Bench -nr:false -p:BenchGitSha=0123456 | tee "$work/bench.log" | grep -E "summary:|ran|failed|error" || true
dotnet build models.benchproj -t:Bench -nr:false -p:BenchGitSha=0123456 | grep -q "1 up to date" || { echo "e2e-serving: the second Bench was not up to date" >&2; exit 1; }
dotnet build models.benchproj -t:Publish -nr:false -p:BenchGitSha=0123456 | grep -E "added|present"
envelope="$(find obj/bench -name envelope.json | head -1)"
python3 - "$envelope" <<'PY'
import json, sys, collections
results = json.load(open(sys.argv[1]))["results"]
levels = collections.Counter(r["tags"]["level"] for r in results)
assert set(levels) == {"concurrency=1,rate=inf", "concurrency=4,rate=inf"}, levels
for level in levels:
    metrics = [r["metric"] for r in results if r["tags"]["level"] == level]
    assert len(metrics) == len(set(metrics)), "one result per metric and level"
    assert "ttft_p99_ms" in metrics and "throughput_requests_per_s" in metrics
print(f"e2e-serving: envelope has {len(results)} results over {len(levels)} levels")
PY
ls dataset/data/*.parquet
cd / && rm -rf "$work"
echo "e2e-serving: passed"
