# Sourced by the engine benchmarks (bench-native.sh, bench-mlx.sh, bench-vs-llamacpp.sh): configures and builds the
# Release engine without tests into artifacts/native/bench, logs into $1, and sets `engine` to its CLI.
build_bench_engine() {
  local build="$repo/artifacts/native/bench" log="$1" generator=()
  command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ] && generator=(-G Ninja)
  cmake -S "$repo/native" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMLXB_BUILD_TESTS=OFF > "$log/configure.log"
  cmake --build "$build" --parallel > "$log/build.log"
  engine="$build/mlxbench-engine"
}
