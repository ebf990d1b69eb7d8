#!/usr/bin/env bash
# Runs every test suite of the repository and ends with one line: "N passed, N failed[, N skipped]".
# Usage: eng/test.sh            (what README.md and .ci/run call)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

passed=0 failed=0 skipped=0 status=0
log="$repo/artifacts/test-logs"
mkdir -p "$log"

# Managed suites (Microsoft.Testing.Platform): one aggregated summary for the whole solution.
dotnet test --solution MlxBench.slnx -c Release 2>&1 | tee "$log/dotnet-test.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
summary=$(sed -n '/Test run summary/,$p' "$log/dotnet-test.log")
count() { echo "$summary" | sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" | tail -1; }
t=$(count total) f=$(count failed) s=$(count succeeded) k=$(count skipped)
if [ -z "$t" ]; then
  echo "eng/test.sh: dotnet test printed no summary (build failure?)" >&2
  failed=$((failed + 1)); status=1
else
  passed=$((passed + ${s:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${k:-0}))
fi

dotnet build-server shutdown >/dev/null 2>&1 || true

# Native engine (CTest): configure and build native/ into artifacts/native/test, run every registered test and add
# ctest's counts ("N% tests passed, F tests failed out of T"; skipped tests are listed apart) to the totals.
native_build="$repo/artifacts/native/test"
if ! command -v cmake >/dev/null || ! command -v ctest >/dev/null; then
  echo "eng/test.sh: cmake/ctest not found; run eng/setup.sh (native tests not run)" >&2
  failed=$((failed + 1)); status=1
else
  generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
  [ -f "$native_build/CMakeCache.txt" ] && generator=()  # the generator of an existing build directory is fixed
  if cmake -S native -B "$native_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMLXB_BUILD_TESTS=ON -DMLXB_FUZZ=ON > "$log/native-configure.log" 2>&1 \
     && cmake --build "$native_build" --parallel 2 > "$log/native-build.log" 2>&1; then
    ctest --test-dir "$native_build" --parallel 2 --output-on-failure 2>&1 | tee "$log/native-ctest.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    nt=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$log/native-ctest.log" | tail -1)
    if [ -z "$nt" ]; then
      echo "eng/test.sh: ctest printed no summary" >&2; failed=$((failed + 1)); status=1
    else
      nf=${nt% *} ntot=${nt#* }
      ns=$(grep -c '(Skipped)' "$log/native-ctest.log" || true)
      passed=$((passed + ntot - nf - ns)); failed=$((failed + nf)); skipped=$((skipped + ns))
    fi
  else
    echo "eng/test.sh: native build failed; see $log/native-configure.log and $log/native-build.log" >&2
    tail -20 "$log/native-build.log" >&2
    failed=$((failed + 1)); status=1
  fi
fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status
