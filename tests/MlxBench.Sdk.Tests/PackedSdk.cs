using System.Globalization;
using MlxBench.Testing;

namespace MlxBench.Sdk.Tests;

/// <summary>
/// The MlxBench.Sdk package under test: packed once per test run into a local feed with a version no NuGet cache has
/// seen (or taken from <c>MLXB_TEST_SDK_FEED</c> + <c>MLXB_TEST_SDK_VERSION</c> when eng/test.sh packed it already).
/// </summary>
[TestClass]
public static class PackedSdk
{
    public static string Feed { get; private set; } = "";
    public static string Version { get; private set; } = "";
    /// <summary>A NuGet cache private to this test run, so a stale copy of the SDK can never be resolved.</summary>
    public static string PackagesFolder { get; private set; } = "";

    [AssemblyInitialize]
    public static void Pack(TestContext _)
    {
        string root = Path.Combine(Path.GetTempPath(), "mlxb-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        PackagesFolder = Path.Combine(root, "packages");
        string? feed = Environment.GetEnvironmentVariable("MLXB_TEST_SDK_FEED");
        string? version = Environment.GetEnvironmentVariable("MLXB_TEST_SDK_VERSION");
        if (!string.IsNullOrEmpty(feed) && !string.IsNullOrEmpty(version))
        {
            (Feed, Version) = (feed, version);
            return;
        }
        Feed = Path.Combine(root, "feed");
        string suffix = "e2e." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        DotnetResult pack = Dotnet.Run(SharedData.RepoRoot, ["pack", Path.Combine(SharedData.RepoRoot, "src", "MlxBench.Sdk", "MlxBench.Sdk.csproj"),
            "-c", "Release", "-o", Feed, "-nr:false", "-v:q", "-nologo", $"-p:VersionSuffix={suffix}"], TimeSpan.FromMinutes(5));
        if (pack.ExitCode != 0) throw new InvalidOperationException("dotnet pack of MlxBench.Sdk failed:\n" + pack.Output);
        string nupkg = Directory.GetFiles(Feed, "MlxBench.Sdk.*.nupkg").Single();
        Version = Path.GetFileNameWithoutExtension(nupkg)["MlxBench.Sdk.".Length..];
    }
}
