#!/usr/bin/env bash
# The serving client's own ceiling: MlxBench's serving harness (the code mlxbench run-cell runs, with its settings)
# pinned to one core against instant_server, an OpenAI-compatible C server that answers at once with one write per
# response, pinned to the other. Prints requests/s with 1 output token, SSE events/s with 16, and the TTFT bias
# (client first-event stamp minus the server's first-byte stamp, same CLOCK_MONOTONIC), next to the reference
# figures of vLLM's Python client measured the same way (see ../shared/docs/reference/serving-benchmarks.md and
# issue 5). The baseline measured in the same run is wrk against the same server (when wrk is installed): the
# server's ceiling, so the client figures are known not to be the server's.
#
# Usage: eng/bench-serving.sh [--quick] [--no-inline]
#   --quick      fewer requests (about 10 s instead of about a minute)
#   --no-inline  keep .NET's default socket continuations on the thread pool (to see what inlining buys)
# Needs 2 cores, cc and taskset; wrk is optional (apt-get install wrk). Runs at raised priority when allowed (root),
# in a scheduler group of its own, so other work on the machine disturbs it less.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
port="${MLXBENCH_BENCH_PORT:-18090}"
out="$repo/artifacts/bench-serving"
mkdir -p "$out"

[ "$(nproc --all)" -ge 2 ] || { echo "eng/bench-serving.sh: needs 2 cores (client on 0, server on 1)" >&2; exit 1; }
cc -O2 -Wall -o "$out/instant_server" eng/bench/serving/instant_server.c
dotnet build eng/bench/serving/ClientBench -c Release -nr:false -v:q >/dev/null
dotnet build-server shutdown >/dev/null 2>&1 || true

# A scheduler group of our own at the highest weight, when the kernel and our rights allow it.
echo -20 > /proc/self/autogroup 2>/dev/null || true
nice_cmd=(nice -n -20)
"${nice_cmd[@]}" true 2>/dev/null || nice_cmd=()

taskset -c 1 "${nice_cmd[@]}" "$out/instant_server" "$port" 2>"$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break; sleep 0.1; done

if command -v wrk >/dev/null; then
  cat > "$out/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"instant","prompt":[1,2,3],"max_tokens":1,"stream":true,"stream_options":{"include_usage":true}}'
wrk.headers["Content-Type"] = "application/json"
LUA
  wrk_rps=$(taskset -c 0 "${nice_cmd[@]}" wrk -t1 -c64 -d5s -s "$out/post.lua" "http://127.0.0.1:$port/v1/completions" | awk '/Requests\/sec/ {print $2}')
  echo "baseline: wrk (1 thread, 64 connections, 1 output token) against the same server: ${wrk_rps} req/s"
else
  echo "baseline: wrk is not installed (apt-get install wrk), so the server's own ceiling is not measured in this run"
fi

taskset -c 0 "${nice_cmd[@]}" dotnet artifacts/bin/ClientBench/release/ClientBench.dll "http://127.0.0.1:$port/v1" "$@" \
  | tee "$out/client.log" | grep -v -E '^(serving|summary|progress):'
