using System.Reflection;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>Built artifacts the endpoint tests start as real processes.</summary>
internal static class Paths
{
    private static string Metadata(string key) =>
        typeof(Paths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public static string ServerDll => Require(Metadata("MlxBenchServerPath"));
    public static string TasksAssembly => Require(Metadata("MlxBenchTasksAssembly"));
    public static string CliDll => Require(Metadata("MlxBenchCliPath"));

    private static string Require(string path)
    {
        if (!File.Exists(path)) Assert.Fail($"{path} was not built; build the solution first.");
        return path;
    }

    public static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The pid the endpoint log recorded ("# pid N, port P").</summary>
    public static (int Pid, int Port) FromLog(string log)
    {
        string line = File.ReadLines(log).First(l => l.StartsWith("# pid ", StringComparison.Ordinal));
        string[] parts = line.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[4], System.Globalization.CultureInfo.InvariantCulture));
    }
}
