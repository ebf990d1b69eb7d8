using System.Diagnostics;
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

internal sealed record DotnetResult(int ExitCode, string Output);

/// <summary>Runs the dotnet CLI as a child process, without node reuse, capturing everything it prints.</summary>
internal static class Dotnet
{
    public static DotnetResult Run(string workingDirectory, IEnumerable<string> arguments, TimeSpan timeout, IDictionary<string, string?>? environment = null)
    {
        using Process process = Start(workingDirectory, arguments, environment);
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return new DotnetResult(process.ExitCode, output.ToString());
    }

    /// <param name="interruptible">Start it as a shell starts a foreground job, with SIGINT at its default action, so
    /// a test can press Ctrl+C with <c>kill -INT</c>. A process inherits an ignored SIGINT (every <c>&amp;</c> job of a
    /// non-interactive shell gets one, e.g. <c>.ci/run &amp;</c> from a script), .NET passes it on to the processes it
    /// starts, and MSBuild then never sees the signal; perl resets it and execs dotnet under the same pid.</param>
    public static Process Start(string workingDirectory, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null, bool interruptible = false)
    {
        var start = new ProcessStartInfo(interruptible ? "perl" : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (interruptible)
            foreach (string argument in (string[])["-e", "$SIG{INT} = 'DEFAULT'; exec { $ARGV[0] } @ARGV or die \"exec $ARGV[0]: $!\\n\";", "dotnet"])
                start.ArgumentList.Add(argument);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // The test host's own MSBuild settings must not leak into the user's build.
        foreach (string name in (string[])["MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH"]) start.Environment.Remove(name);
        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>()) start.Environment[name] = value;
        return Process.Start(start)!;
    }
}
