#!/usr/bin/env bash
# Our engine beside llama.cpp measured on THIS machine in the same minutes (issue 3's comparison without quoting
# another machine's figures): llama.cpp's own libllama, the prebuilt CPU build node-llama-cpp publishes on npm
# (@node-llama-cpp/linux-x64 or linux-arm64, pinned below; ggml picks its best CPU variant at run time), driven by
# eng/llamacpp/llamacpp_bench.c the way llama-bench measures: ppN = N random tokens in one batch, tgN = N single-token
# decodes, each from an empty cache, one warm-up run, then repetitions. Our side is `mlxbench-engine bench`, same
# tests. The two alternate per round so neighbours on a shared machine hit both alike; the table gives medians of
# all samples, ours / llama.cpp here, and the quoted llama-bench figure of issue 3 for reference. Targets as in
# issue 3: >= 0.80 on prompts, >= 1.00 on generation. Never run from eng/test.sh.
#
#   eng/bench-vs-llamacpp.sh                                  every shape and type of issue 3, 2 rounds x 3 reps
#   BENCH_SHAPES=stories110M BENCH_TYPES="Q8_0" BENCH_ROUNDS=3 eng/bench-vs-llamacpp.sh
#
# Output: the table on stdout and in artifacts/bench-vs-llamacpp/summary.md; raw samples beside it. Models are
# generated into artifacts/bench-models/ (TinyLlama F32 is 4.4 GB).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
models="$repo/artifacts/bench-models"
out="$repo/artifacts/bench-vs-llamacpp"
lc="$repo/artifacts/llamacpp"
shapes="${BENCH_SHAPES:-stories15M stories110M tinyllama-1.1B}"
types="${BENCH_TYPES:-F32 Q8_0 Q4_0}"
rounds="${BENCH_ROUNDS:-2}"
reps="${BENCH_REPS:-3}"
threads="${BENCH_THREADS:-2}"
nlc_version="3.22.1"
mkdir -p "$models" "$out"

# llama.cpp: the package's shared libraries only (no Node.js code of it runs), unpacked once.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) nlc_pkg="@node-llama-cpp/linux-x64"; nlc_bins="linux-x64" ;;
  Linux-aarch64) nlc_pkg="@node-llama-cpp/linux-arm64"; nlc_bins="linux-arm64" ;;
  *) echo "bench-vs-llamacpp: no prebuilt llama.cpp for $(uname -s) $(uname -m) in node-llama-cpp's packages" >&2; exit 2 ;;
esac
if [ ! -f "$lc/lib/libllama.so" ]; then
  command -v npm >/dev/null || { echo "bench-vs-llamacpp: npm is needed to fetch $nlc_pkg@$nlc_version" >&2; exit 2; }
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$nlc_pkg@$nlc_version" > /dev/null && tar xzf ./*.tgz)
  rm -rf "$lc/lib.partial"; mkdir -p "$lc/lib.partial"
  cp "$tmp/package/bins/$nlc_bins/"*.so "$tmp/package/bins/$nlc_bins/_nlcBuildMetadata.json" "$lc/lib.partial/"
  (cd "$lc/lib.partial" && ln -sf "$(ls libllama.v*.so | head -1)" libllama.so && ln -sf "$(ls libggml.v*.so | head -1)" libggml.so)
  rm -rf "$lc/lib"; mv "$lc/lib.partial" "$lc/lib"
fi
cc -O2 -Wall -o "$lc/llamacpp_bench" "$repo/eng/llamacpp/llamacpp_bench.c" -ldl
llamacpp() { LD_LIBRARY_PATH="$lc/lib" "$lc/llamacpp_bench" "$lc/lib" "$@"; }

. "$repo/eng/bench-engine.sh"
build_bench_engine "$out"

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.2f", (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
baseline="$(grep -v '^#' "$repo/eng/llamacpp/llama-bench-de3ff81.tsv")"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; ours: $("$engine" info | sed -n 's/.*\(kernels=[a-z0-9]*\).*/\1/p'); llama.cpp: $nlc_pkg@$nlc_version ($(sed -n 's/.*"release":"\([^"]*\)".*/\1/p' "$lc/lib/_nlcBuildMetadata.json"))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
table="| shape | type | test | llama.cpp here t/s | ours t/s | ours / llama.cpp here | target | llama-bench quoted t/s |
| --- | --- | --- | ---: | ---: | ---: | --- | ---: |"
for shape in $shapes; do
  for type in $types; do
    model="$models/$shape-$type.gguf"
    [ -f "$model" ] || "$engine" gen-model --shape "$shape" --type "$type" -o "$model" >&2
    pp=512; [ "$shape" = "tinyllama-1.1B" ] && pp=0   # issue 3 has no TinyLlama prompt rows
    raw="$out/$shape-$type.txt"; : > "$raw"
    for r in $(seq 1 "$rounds"); do
      "$engine" bench -m "$model" -p "$pp" -n 128 -t "$threads" -r "$reps" -o json --quiet --json-out "$out/ours.json" > /dev/null
      sed -n 's/.*"test": "\([a-z0-9]*\)".*"samples_ts": \[\([^]]*\)\].*/ours \1 \2/p' "$out/ours.json" | tr -d ',' >> "$raw"
      llamacpp "$model" "$threads" "$pp" 128 "$reps" > "$out/llamacpp.out"
      grep -E '^(pp|tg)[0-9]+ ' "$out/llamacpp.out" | sed 's/^/llama.cpp /' >> "$raw"
    done
    for test in $( [ "$pp" -gt 0 ] && echo "pp$pp"; echo tg128 ); do
      ours="$(awk -v t="$test" '$1=="ours" && $2==t {for (i=3;i<=NF;i++) printf "%s ", $i}' "$raw" | median)"
      theirs="$(awk -v t="$test" '$1=="llama.cpp" && $2==t {for (i=3;i<=NF;i++) printf "%s ", $i}' "$raw" | median)"
      ratio="$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')"
      need="0.80"; [[ "$test" == tg* ]] && need="1.00"
      verdict="$(awk -v r="$ratio" -v n="$need" 'BEGIN {print (r + 0 >= n + 0) ? "met (>= " n ")" : "MISSED (>= " n ")"}')"
      quoted="$(echo "$baseline" | awk -F'\t' -v s="$shape" -v t="$type" -v x="$test" '$1==s && $2==t && $3==x {print $4}')"
      table="$table
| $shape | $type | $test | $theirs | $ours | $ratio | $verdict | ${quoted:--} |"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "llama.cpp $(sed -n 's/^system_info //p' "$out/llamacpp.out")"
echo "$table" | tee "$out/summary.md"
