using System.Diagnostics;
using MlxBench.Core.Cells;

namespace MlxBench.Core.Running;

/// <summary>
/// Runs a built-in harness (<c>serving</c>, <c>eval</c>, <c>lm-eval</c>) out of the MSBuild process, through the
/// <c>mlxbench run-cell</c> command: a crash, a leak or a Ctrl+C stays in a child process that the task can kill.
/// The CLI reads the planned cell from <c>cell.json</c> and writes the raw result the harness's converter reads.
/// </summary>
public sealed class CliHarness(string cliPath) : ICellHarness
{
    public async Task<HarnessOutput> RunAsync(BenchCell cell, HarnessContext context, CancellationToken cancellationToken)
    {
        Harnesses.TryGet(cell.Suite.Harness, out HarnessInfo? info);
        string output = Path.Combine(context.Paths.RawDirectory, info!.RawFileName);
        var start = new ProcessStartInfo { WorkingDirectory = context.ProjectDirectory };
        if (cliPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            start.FileName = DotnetHost.Path;
            start.ArgumentList.Add("exec");
            start.ArgumentList.Add(cliPath);
        }
        else start.FileName = cliPath;
        foreach (string argument in (string[])["run-cell", "--cell", context.Paths.CellDocument, "--output", output])
            start.ArgumentList.Add(argument);

        await HarnessProcess.RunAsync(cell, context, start, $"mlxbench run-cell ({cell.Suite.Harness})", output, cancellationToken);
        return new HarnessOutput(output, info.Converter);
    }
}

/// <summary>The <c>dotnet</c> host running this process (MSBuild's own), so child .NET tools use the same runtime.</summary>
public static class DotnetHost
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        string? main = Environment.ProcessPath;
        if (main is not null && System.IO.Path.GetFileNameWithoutExtension(main).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return main;
        return "dotnet";
    }
}
