#!/usr/bin/env bash
# Benchmark: a no-op `dotnet build -t:Bench` on a 50-cell matrix (5 models x 10 command suites, all up to date)
# against two baselines measured in the same run: `dotnet build` of an empty MSBuild project (the named baseline),
# and of an empty .benchproj (which adds resolving MlxBench.Sdk from NuGet, a cost every custom SDK pays).
# Usage: eng/bench-noop.sh [repetitions]   (default 7; prints medians and the ratio; target: ratio < 2)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
reps="${1:-7}"
work="$(mktemp -d /tmp/mlxb-noop.XXXXXX)"
trap 'rm -rf "$work"; dotnet build-server shutdown >/dev/null 2>&1 || true' EXIT
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

version_suffix="noop.$(date +%s)"
"$repo/eng/pack-local.sh" "$work/feed" "$version_suffix" >/dev/null
version="$(basename "$work"/feed/MlxBench.Sdk.*.nupkg .nupkg)"; version="${version#MlxBench.Sdk.}"

setup() { # $1 = folder
  mkdir -p "$1"
  cat > "$1/global.json" <<JSON
{ "sdk": { "version": "10.0.401", "rollForward": "latestFeature" }, "msbuild-sdks": { "MlxBench.Sdk": "$version" } }
JSON
  cat > "$1/NuGet.config" <<XML
<configuration><config><add key="globalPackagesFolder" value="$work/packages" /></config>
<packageSources><clear /><add key="local" value="$work/feed" /></packageSources></configuration>
XML
  echo '<Project />' > "$1/Directory.Build.props"; echo '<Project />' > "$1/Directory.Build.targets"
}

setup "$work/matrix"
{
  echo '<Project Sdk="MlxBench.Sdk"><PropertyGroup><BenchGitSha>0000001</BenchGitSha></PropertyGroup><ItemGroup>'
  for m in 1 2 3 4 5; do echo "  <BenchModel Include=\"org/model-$m\" />"; done
  for s in throughput ttft tool-calling code-accuracy framework-eval capability-comparison coding reasoning knowledge evalplus; do
    echo "  <BenchSuite Include=\"$s\" Harness=\"command\" Converter=\"vllm\" Command=\"printf '{&quot;duration&quot;: 1, &quot;request_throughput&quot;: 2}' &gt; \$MLXBENCH_OUTPUT\" />"
  done
  echo '</ItemGroup></Project>'
} > "$work/matrix/matrix.benchproj"

setup "$work/empty"
echo '<Project><Target Name="Build" /></Project>' > "$work/empty/empty.proj"
echo '<Project Sdk="MlxBench.Sdk" />' > "$work/empty/empty.benchproj"

dotnet build "$work/matrix/matrix.benchproj" -t:Bench -nr:false -v:q -nologo >/dev/null   # fills the cache: 50 cells ran
dotnet build "$work/empty/empty.proj" -nr:false -v:q -nologo >/dev/null
dotnet build "$work/empty/empty.benchproj" -nr:false -v:q -nologo >/dev/null

time_ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

bench=() empty=() emptysdk=()
for ((i = 0; i < reps; i++)); do  # interleaved, so drift on a shared machine hits both sides alike
  bench+=("$(time_ms dotnet build "$work/matrix/matrix.benchproj" -t:Bench -nr:false -v:q -nologo)")
  empty+=("$(time_ms dotnet build "$work/empty/empty.proj" -nr:false -v:q -nologo)")
  emptysdk+=("$(time_ms dotnet build "$work/empty/empty.benchproj" -nr:false -v:q -nologo)")
done
grep -q "0 ran, 50 up to date" < <(dotnet build "$work/matrix/matrix.benchproj" -t:Bench -nr:false -v:n -nologo) \
  || { echo "the matrix was not up to date: the benchmark is invalid" >&2; exit 1; }

b=$(printf '%s\n' "${bench[@]}" | median); e=$(printf '%s\n' "${empty[@]}" | median); es=$(printf '%s\n' "${emptysdk[@]}" | median)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "no-op Bench, 50 cells (median of $reps): ${b} ms   [${bench[*]}]"
echo "empty project build   (median of $reps): ${e} ms   [${empty[*]}]"
echo "empty .benchproj build (median of $reps): ${es} ms   [${emptysdk[*]}]"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$b" -v e="$e" -v es="$es" 'BEGIN { printf "ratio no-op Bench / empty project build: %.2fx (target < 2x); / empty .benchproj build: %.2fx\n", b / e, b / es }'
