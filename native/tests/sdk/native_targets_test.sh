#!/usr/bin/env bash
# End-to-end test of Sdk/MlxBench.Native.targets through real `dotnet build` runs of a throwaway .benchproj that
# imports the SDK from source:
#   1. a project without a native endpoint never builds the engine;
#   2. with <BenchEndpoint Server="native" />, `dotnet build` configures and builds it once;
#   3. the second build starts no cmake and no compiler (both targets skipped as up to date);
#   4. touching one source rebuilds only that object;
#   5. cmake missing -> MLXB4001, no usable C++ compiler -> MLXB4002.
# Exit 77 (CTest SKIP_RETURN_CODE) when dotnet is not installed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
command -v dotnet >/dev/null || { echo "dotnet not found: skipping the SDK native-target test"; exit 77; }
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Build now validates the items with the SDK's tasks: use the assembly built from src/ (eng/test.sh builds it first).
tasks="${MLXBENCH_TASKS_ASSEMBLY:-$repo/artifacts/bin/MlxBench.Tasks/release/MlxBench.Tasks.dll}"
if [ ! -f "$tasks" ]; then
  dotnet build "$repo/src/MlxBench.Tasks/MlxBench.Tasks.csproj" -c Release -nr:false -v:q > /dev/null || { echo "FAIL: could not build the tasks assembly"; exit 1; }
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mlxb-sdk-native.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/last.log" ] && tail -40 "$work/last.log"; exit 1; }

# A private copy of the sources, so touching one of them does not disturb other builds of the checkout.
mkdir -p "$work/native"
cp -r "$repo/native/CMakeLists.txt" "$repo/native/include" "$repo/native/src" "$repo/native/tools" "$work/native/"
mkdir -p "$work/native/tests" && echo "" > "$work/native/tests/CMakeLists.txt"

# Isolate the fixture from any Directory.Build.*, global.json or NuGet feed above it.
proj="$work/proj"
mkdir -p "$proj"
echo '<Project />' > "$proj/Directory.Build.props"
echo '<Project />' > "$proj/Directory.Build.targets"
echo '<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>' > "$proj/Directory.Packages.props"
cat > "$proj/NuGet.config" <<'XML'
<configuration><packageSources><clear /></packageSources></configuration>
XML
write_project() {  # $1 = file, $2 = extra items
  cat > "$1" <<XML
<Project>
  <Import Project="$repo/Sdk/Sdk.props" />
  <PropertyGroup>
    <MlxBenchNativeSourceDirectory>$work/native/</MlxBenchNativeSourceDirectory>
    <MlxBenchTasksAssembly>$tasks</MlxBenchTasksAssembly>
  </PropertyGroup>
  <ItemGroup>$2</ItemGroup>
  <Target Name="ShowEngine" DependsOnTargets="MlxBenchBuildNative">
    <Message Importance="high" Text="ENGINE_LIBRARY=\$(MlxBenchEngineLibrary)" />
    <Message Importance="high" Text="ENGINE_CLI=\$(MlxBenchEngineCli)" />
  </Target>
  <Import Project="$repo/Sdk/Sdk.targets" />
</Project>
XML
}
write_project "$proj/plain.benchproj" ''
write_project "$proj/native.benchproj" '<BenchEndpoint Include="engine" Server="native" />'

build() {  # $1 = project, rest = extra args; log in $work/last.log
  local p="$1"; shift
  dotnet build "$proj/$p" -nr:false -v:n "$@" > "$work/last.log" 2>&1
}

# 1. No native endpoint: Build does not touch the engine.
build plain.benchproj || fail "plain build failed"
[ ! -e "$proj/obj/mlxbench-native" ] || fail "a project without a native endpoint built the engine"
echo "ok 1 - no native endpoint, no native build"

# 2. First build with a native endpoint: configure + compile.
build native.benchproj || fail "first build with a native endpoint failed"
grep -q "Building CXX object" "$work/last.log" || fail "first build compiled nothing"
lib="$proj/obj/mlxbench-native/bin/libmlxbench.so"
[ "$(uname)" = Darwin ] && lib="$proj/obj/mlxbench-native/bin/libmlxbench.dylib"
cli="$proj/obj/mlxbench-native/bin/mlxbench-engine"
[ -f "$lib" ] || fail "no library at $lib"
[ -x "$cli" ] || fail "no CLI at $cli"
"$cli" --help > /dev/null || fail "the built CLI does not run"
grep -q "native -> $lib" "$work/last.log" || fail "no '-> library' line"
echo "ok 2 - first build configures and compiles ($(grep -c 'Building CXX object' "$work/last.log") objects)"

# 3. Second build: nothing to do, no cmake, no compiler.
build native.benchproj || fail "second build failed"
grep -q 'Skipping target "_MlxBenchNativeConfigure" because all output files are up-to-date' "$work/last.log" || fail "configure was not skipped"
grep -q 'Skipping target "_MlxBenchNativeBuild" because all output files are up-to-date' "$work/last.log" || fail "build was not skipped"
! grep -qE "Building CXX object|cmake --build|--version" "$work/last.log" || fail "the second build started cmake or the compiler"
echo "ok 3 - second build starts no cmake and no compiler"

# The properties other targets read point at the built files.
build native.benchproj -t:ShowEngine || fail "ShowEngine failed"
grep -q "ENGINE_LIBRARY=$lib" "$work/last.log" || fail "MlxBenchEngineLibrary is not $lib"
grep -q "ENGINE_CLI=$cli" "$work/last.log" || fail "MlxBenchEngineCli is not $cli"
echo "ok 4 - MlxBenchEngineLibrary and MlxBenchEngineCli"

# 4. One source touched: only it recompiles.
sleep 1; touch "$work/native/src/sampling.cpp"
build native.benchproj || fail "build after touch failed"
n=$(grep -c "Building CXX object" "$work/last.log")
[ "$n" -eq 1 ] && grep -q "sampling.cpp.o" "$work/last.log" || fail "expected exactly sampling.cpp to recompile, saw $n objects"
echo "ok 5 - a touched source recompiles alone"

# 5. Coded errors, in fresh build directories.
build native.benchproj -p:MlxBenchCMakeExe=/nonexistent/cmake -p:MlxBenchNativeBuildDirectory="$work/b-nocmake/" && fail "missing cmake did not fail"
grep -q "error MLXB4001" "$work/last.log" || fail "missing cmake did not give MLXB4001"
echo "ok 6 - missing cmake: MLXB4001"
build native.benchproj -p:MlxBenchCxxCompiler=/nonexistent/c++ -p:MlxBenchNativeBuildDirectory="$work/b-nocxx/" && fail "missing compiler did not fail"
grep -q "error MLXB4002" "$work/last.log" || fail "missing compiler did not give MLXB4002"
[ ! -e "$work/b-nocxx/CMakeCache.txt" ] || fail "a failed configure left its cache behind"
echo "ok 7 - missing C++ compiler: MLXB4002"
echo "all SDK native-target checks passed"
