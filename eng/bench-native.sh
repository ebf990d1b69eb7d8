#!/usr/bin/env bash
# Throughput of the native engine beside llama.cpp's llama-bench, on random-weight models of the named shapes.
#
#   eng/bench-native.sh                      all shapes and types, 2 threads, 5 repetitions
#   BENCH_SHAPES="stories15M" BENCH_TYPES="Q4_0" BENCH_REPS=3 eng/bench-native.sh
#   BENCH_NP=8 ...                           also tg128x8 (8 sequences decoded side by side), beside our tg128
#   BENCH_WAIT_IDLE=120 ...                  before each model, wait up to 120 s for >= 90 % idle CPUs
#
# The baseline is llama.cpp llama-bench (build de3ff81), 2 threads, measured on a 2-core x86-64 Linux machine of the
# same kind (shared/docs/reference/native-engine.md §6, eng/llamacpp/llama-bench-de3ff81.tsv), quoted, not
# re-measured: eng/bench-vs-llamacpp.sh measures llama.cpp on this machine instead. Ratios are ours / llama.cpp
# (> 1: we are faster). Targets: >= 0.8 (within 1.25x) on every row, >= 1.0 on token generation (tg). Run it on a quiet machine: the load average is printed before and
# after. On a machine shared with other work the wall-clock rate mostly measures the neighbours; the last column,
# tokens per CPU-second of the engine's own process, is what its work costs (x threads bounds the idle-machine
# rate). Never run from eng/test.sh.
#
# Output: the table on stdout; raw llama-bench-style JSON per model in artifacts/bench-native/; the table also in
# artifacts/bench-native/summary.md. Generated models are cached in artifacts/bench-models/ (up to ~6 GB).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
models="$repo/artifacts/bench-models"
out="$repo/artifacts/bench-native"
shapes="${BENCH_SHAPES:-stories15M stories110M tinyllama-1.1B}"
types="${BENCH_TYPES:-F32 Q8_0 Q4_0}"
reps="${BENCH_REPS:-5}"
threads="${BENCH_THREADS:-2}"
np="${BENCH_NP:-1}"
wait_idle="${BENCH_WAIT_IDLE:-0}"
mkdir -p "$models" "$out"

# llama.cpp llama-bench, 2 threads: "<shape> <type> <test> <t/s>" lines (eng/bench-vs-llamacpp.sh reads them too).
baseline="$(grep -v '^#' "$repo/eng/llamacpp/llama-bench-de3ff81.tsv" | tr '\t' ' ')"

# Percent idle of all CPUs over the next 2 seconds.
idle_pct() {
  local a b c d e f g h i1 s1
  read -r _ a b c d e f g h _ < /proc/stat; i1=$((d + e)); s1=$((a + b + c + d + e + f + g + h))
  sleep 2
  read -r _ a b c d e f g h _ < /proc/stat
  echo $(( 100 * (d + e - i1) / (a + b + c + d + e + f + g + h - s1 + 1) ))
}
# Waits up to $wait_idle seconds for >= 90 % idle; prints the idle percentage it started at.
wait_for_idle() {
  local t=0 idle
  idle="$(idle_pct)"
  while [ "$idle" -lt 90 ] && [ "$t" -lt "$wait_idle" ]; do idle="$(idle_pct)"; t=$((t + 2)); done
  echo "$idle"
}

. "$repo/eng/bench-engine.sh"
build_bench_engine "$out"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; engine: $("$engine" info | sed -n 's/.*\(kernels=[a-z0-9]*\).*/\1/p')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
table="| shape | type | test | llama.cpp t/s | ours t/s | ours / llama.cpp | target | ours t/s per CPU-second | idle % before |
| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"
for shape in $shapes; do
  for type in $types; do
    model="$models/$shape-$type.gguf"
    [ -f "$model" ] || "$engine" gen-model --shape "$shape" --type "$type" -o "$model" >&2
    tests_pp="512"; [ "$shape" = "tinyllama-1.1B" ] && tests_pp="0"   # the baseline has no TinyLlama pp512 row
    np_list="1"; [ "$np" != "1" ] && np_list="1,$np"
    idle="$(wait_for_idle)"
    "$engine" bench -m "$model" -p "$tests_pp" -n 128 -t "$threads" -np "$np_list" -r "$reps" -o md --quiet \
        --json-out "$out/$shape-$type.json" > "$out/$shape-$type.md"
    while IFS='|' read -r _ _ _ _ _ _ test ts _; do
      test="$(echo "$test" | tr -d ' ')"; [[ "$test" =~ ^(pp|tg)[0-9]+(x[0-9]+)?$ ]] || continue
      ours="$(echo "$ts" | sed 's/^ *//; s/ *$//')"; mean="${ours%% ±*}"
      cpu="$(grep "\"test\": \"$test\"" "$out/$shape-$type.json" | sed -n 's/.*"cpu_ts": \([0-9.]*\).*/\1/p' | head -1)"
      if [[ "$test" =~ ^tg[0-9]+x[0-9]+$ ]]; then  # aggregate of P sequences: beside our own single-stream tg
        single="${test%x*}"; [ "$single" = "$test" ] && continue
        tg1="$(echo "$table" | awk -F'|' -v s="$shape" -v t="$type" -v x="$single" '$2==" "s" " && $3==" "t" " && $4==" "x" " {print $6}' | sed 's/^ *//; s/ ±.*//')"
        ratio="$(awk -v a="$mean" -v b="$tg1" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')"
        table="$table
| $shape | $type | $test | - | $ours | ${ratio}x our $single | aggregate | ${cpu%.*} | $idle |"
        continue
      fi
      ref="$(echo "$baseline" | awk -v s="$shape" -v t="$type" -v x="$test" '$1==s && $2==t && $3==x {print $4}')"
      [ -n "$ref" ] || continue
      ratio="$(awk -v a="$mean" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
      need="0.80"; [[ "$test" == tg* ]] && need="1.00"
      verdict="$(awk -v r="$ratio" -v n="$need" 'BEGIN {print (r + 0 >= n + 0) ? "met (>= " n ")" : "MISSED (>= " n ")"}')"
      table="$table
| $shape | $type | $test | $ref | $ours | $ratio | $verdict | ${cpu%.*} | $idle |"
    done < "$out/$shape-$type.md"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$table" | tee "$out/summary.md"
