#!/usr/bin/env bash
# MLX-format generation speed against GGUF Q4_0, same shape, same run: TinyLlama-1.1B with random weights as an MLX
# folder (4-bit affine, group 64, float16 scales/biases: what mlx-community's "-4bit" conversions are) and as a Q4_0
# GGUF. Each round runs `mlxbench-engine bench` on both models back to back (BENCH_REPS repetitions each, the order
# swapped every round) and takes their ratio: on a shared machine, whose neighbours move a memory-bound tg by 2x from
# one half-minute to the next, a ratio of adjacent samples is what stays comparable. Verdict on the median of the
# per-round ratios MLX / Q4_0 (target >= 0.91, i.e. within 1.1x); prints every sample, the ratio of the best samples
# and the CPU time the hypervisor stole during the run. Never run from eng/test.sh.
#
#   eng/bench-mlx.sh                                    tg128, 2 threads, 9 rounds of 1 repetition per model
#   BENCH_SHAPE=stories110M BENCH_ROUNDS=5 eng/bench-mlx.sh
#   BENCH_SHAPE=qwen3-0.6B eng/bench-mlx.sh               Qwen3 (q/k norms, 151936-token tied classifier)
#   MLXB_KERNELS=avx2 eng/bench-mlx.sh                    the AVX2 table on an AVX-512 machine
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
models="$repo/artifacts/bench-models"
out="$repo/artifacts/bench-mlx"
shape="${BENCH_SHAPE:-tinyllama-1.1B}"
threads="${BENCH_THREADS:-2}"
rounds="${BENCH_ROUNDS:-9}"
reps="${BENCH_REPS:-1}"
mkdir -p "$models" "$out"

. "$repo/eng/bench-engine.sh"
build_bench_engine "$out"

q4="$models/$shape-Q4_0.gguf"
mlx="$models/$shape-mlx-4bit-g64"
[ -f "$q4" ] || "$engine" gen-model --shape "$shape" --type Q4_0 -o "$q4" >&2
[ -d "$mlx" ] || "$engine" gen-model --shape "$shape" --format mlx --q-bits 4 --q-group-size 64 -o "$mlx" >&2

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $("$engine" info | sed -n 's/.*\(kernels=[a-z0-9]*\).*/\1/p'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
steal() { awk '/^cpu /{print $9}' /proc/stat; }  # 10 ms ticks stolen from all CPUs
steal0="$(steal)" t0="$(date +%s)"
mean() { printf '%s\n' $1 | awk '{s += $1} END {print s / NR}'; }
q4_all=() mlx_all=() ratios=()
for r in $(seq 1 "$rounds"); do
  order="$q4,$mlx"
  [ $((r % 2)) -eq 0 ] && order="$mlx,$q4"
  "$engine" bench -m "$order" -p 0 -n 128 -t "$threads" -r "$reps" -o json --quiet --json-out "$out/round-$r.json" > /dev/null
  # samples_ts of each model, in the order the models were given
  mapfile -t lines < <(grep -o '"samples_ts": \[[^]]*\]' "$out/round-$r.json" | sed 's/.*\[//; s/\]//; s/,//g')
  [ $((r % 2)) -eq 0 ] && lines=("${lines[1]}" "${lines[0]}")
  q4_all+=(${lines[0]}); mlx_all+=(${lines[1]})
  ratios+=("$(awk -v a="$(mean "${lines[1]}")" -v b="$(mean "${lines[0]}")" 'BEGIN {printf "%.3f", a / b}')")
done
steal_s="$(awk -v a="$steal0" -v b="$(steal)" 'BEGIN {printf "%.0f", (b - a) / 100}')"
wall_s=$(( $(date +%s) - t0 ))
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); CPU time stolen by the hypervisor: ${steal_s} s of $((wall_s * $(nproc))) CPU-s"
summary() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[NR], (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
read -r q4_best q4_med <<< "$(summary "${q4_all[@]}")"
read -r mlx_best mlx_med <<< "$(summary "${mlx_all[@]}")"
read -r _ ratio_med <<< "$(summary "${ratios[@]}")"
ratio_best="$(awk -v a="$mlx_best" -v b="$q4_best" 'BEGIN {printf "%.2f", a / b}')"
verdict="$(awk -v r="$ratio_med" 'BEGIN {print (r + 0 >= 0.91) ? "met" : "MISSED"}')"
{
  echo "| model | test | best t/s | median t/s | all samples (t/s) |"
  echo "| --- | --- | ---: | ---: | --- |"
  echo "| $shape GGUF Q4_0 | tg128 | $q4_best | $q4_med | $(printf '%.1f ' "${q4_all[@]}")|"
  echo "| $shape MLX 4-bit g64 | tg128 | $mlx_best | $mlx_med | $(printf '%.1f ' "${mlx_all[@]}")|"
  echo
  echo "MLX / Q4_0 per round: ${ratios[*]}"
  echo "MLX / Q4_0: median of $rounds paired rounds $ratio_med (target >= 0.91, within 1.1x: $verdict); best samples $ratio_best"
} | tee "$out/summary.md"
