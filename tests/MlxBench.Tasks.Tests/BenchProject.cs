using System.Collections.Concurrent;
using System.Text;
using Microsoft.Build.Execution;
using Microsoft.Build.Framework;
using MlxBench.Testing;

namespace MlxBench.Tasks.Tests;

/// <summary>
/// A .benchproj in a temp folder that imports the SDK from the repository's <c>Sdk/</c> folder, built in-process.
/// Items are given as raw XML, as a user writes them.
/// </summary>
internal sealed class BenchProject : IDisposable
{
    private readonly TempDirectory _directory = new("mlxb-tasks");

    public BenchProject(string items, string properties = "")
    {
        // An empty Directory.Build.* keeps the build from picking up anything above the temp folder.
        _directory.Write("Directory.Build.props", "<Project />");
        _directory.Write("Directory.Build.targets", "<Project />");
        Write(items, properties);
    }

    public string Directory => _directory.Path;

    public string Path => _directory.Combine("bench.benchproj");

    public void Write(string items, string properties = "")
    {
        string sdk = System.IO.Path.Combine(SharedData.RepoRoot, "Sdk");
        _directory.Write("bench.benchproj", $"""
            <Project>
              <PropertyGroup>
                <MlxBenchTasksAssembly>{MSBuildHost.TasksAssembly}</MlxBenchTasksAssembly>
                <BenchGitSha>abcdef1</BenchGitSha>
                {properties}
              </PropertyGroup>
              <Import Project="{sdk}/Sdk.props" />
              <ItemGroup>
                {items}
              </ItemGroup>
              <Import Project="{sdk}/Sdk.targets" />
            </Project>
            """);
    }

    /// <summary>Text as an XML attribute value (a shell command with quotes and redirections, say).</summary>
    public static string Attribute(string text) => System.Security.SecurityElement.Escape(text);

    public string WriteFile(string relativePath, string text) => _directory.Write(relativePath, text);

    public BuildOutcome Build(string targets, IDictionary<string, string>? globalProperties = null, Action<BuildSubmission>? whileRunning = null) =>
        InProcessBuild.Run(Path, targets.Split(';'), globalProperties, whileRunning);

    public void Dispose() => _directory.Dispose();
}

/// <summary>What a build produced: its result, items per target, and everything it logged.</summary>
internal sealed record BuildOutcome(bool Succeeded, IReadOnlyDictionary<string, IReadOnlyList<ITaskItem>> Items, IReadOnlyList<BuildErrorEventArgs> Errors,
    IReadOnlyList<BuildWarningEventArgs> Warnings, IReadOnlyList<string> Messages)
{
    public IReadOnlyList<ITaskItem> this[string target] => Items.TryGetValue(target, out IReadOnlyList<ITaskItem>? items) ? items : [];

    public string Log => string.Join("\n", Errors.Select(e => $"error {e.Code}: {e.Message}").Concat(Warnings.Select(w => $"warning {w.Code}: {w.Message}")).Concat(Messages));

    public IEnumerable<string> ErrorCodes => Errors.Select(e => e.Code);
}

/// <summary>One in-process build at a time: MSBuild's BuildManager is a process-wide singleton.</summary>
internal static class InProcessBuild
{
    private static readonly Lock s_gate = new();

    public static BuildOutcome Run(string projectPath, string[] targets, IDictionary<string, string>? globalProperties, Action<BuildSubmission>? whileRunning)
    {
        lock (s_gate)
        {
            var logger = new CollectingLogger();
            var parameters = new BuildParameters { Loggers = [logger], EnableNodeReuse = false, MaxNodeCount = 1, ResetCaches = true };
            var properties = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach ((string key, string value) in globalProperties ?? new Dictionary<string, string>()) properties[key] = value;
            var request = new BuildRequestData(projectPath, properties, null, targets, null);
            BuildManager manager = BuildManager.DefaultBuildManager;
            manager.BeginBuild(parameters);
            BuildResult result;
            try
            {
                BuildSubmission submission = manager.PendBuildRequest(request);
                var done = new ManualResetEventSlim();
                submission.ExecuteAsync(_ => done.Set(), null);
                whileRunning?.Invoke(submission);
                done.Wait();
                result = submission.BuildResult!;
            }
            finally
            {
                manager.EndBuild();
            }
            var items = result.ResultsByTarget.ToDictionary(p => p.Key, p => (IReadOnlyList<ITaskItem>)p.Value.Items.ToList(), StringComparer.OrdinalIgnoreCase);
            return new BuildOutcome(result.OverallResult == BuildResultCode.Success, items, logger.Errors.ToList(), logger.Warnings.ToList(), logger.Messages.ToList());
        }
    }

    private sealed class CollectingLogger : ILogger
    {
        public ConcurrentQueue<BuildErrorEventArgs> Errors { get; } = new();
        public ConcurrentQueue<BuildWarningEventArgs> Warnings { get; } = new();
        public ConcurrentQueue<string> Messages { get; } = new();
        public LoggerVerbosity Verbosity { get; set; } = LoggerVerbosity.Normal;
        public string? Parameters { get; set; }

        public void Initialize(IEventSource eventSource)
        {
            eventSource.ErrorRaised += (_, e) => Errors.Enqueue(e);
            eventSource.WarningRaised += (_, e) => Warnings.Enqueue(e);
            eventSource.MessageRaised += (_, e) =>
            {
                if (e.Importance <= MessageImportance.Normal && e.Message is { } m) Messages.Enqueue(m);
            };
        }

        public void Shutdown() { }
    }
}
