using MlxBench.Core.Cells;
using MlxBench.Core.Endpoints;

namespace MlxBench.BenchSupport;

/// <summary>MlxBench.Server for a benchmark, started as a <c>.benchproj</c>'s <c>Server="native"</c> endpoint is (the
/// SDK's own launcher: free loopback port, readiness probe, log file, stopped with its tree on dispose), so the
/// figures are those of the server users get.</summary>
public static class BenchServer
{
    /// <param name="settings">The endpoint's metadata as a <c>BenchEndpoint</c> would give it (Threads, Parallel,
    /// ContextSize, ...).</param>
    public static async Task<RunningEndpoint> StartAsync(string serverDll, string? engineLibrary, string modelFile, string modelName,
        string logDirectory, IDictionary<string, string> settings)
    {
        var launcher = new EndpointLauncher(new EndpointLaunchSettings
        {
            ProjectDirectory = Environment.CurrentDirectory,
            LogDirectory = Path.GetFullPath(logDirectory),
            ServerPath = serverDll,
            EngineLibrary = engineLibrary,
        });
        RunningEndpoint running = await launcher.StartAsync(
            new EndpointSpec("bench", "", new SortedDictionary<string, string>(settings, StringComparer.Ordinal)) { Server = "native" },
            new ModelSpec(modelName, modelName, null, null, Path.GetFullPath(modelFile), "bench", []), CancellationToken.None);
        string? ready = File.ReadLines(running.LogPath).FirstOrDefault(l => l.Contains("ready:", StringComparison.Ordinal));
        Console.WriteLine($"server    {ready?.Trim()} (log: {running.LogPath})");
        return running;
    }
}
