using System.Globalization;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Running;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>Bench progress as MSBuild output: one line per cell with its state, harness output at low importance.</summary>
internal sealed class TaskProgress(TaskLoggingHelper log, string projectName) : IBenchProgress
{
    public void CellStarting(BenchCell cell, int index, int count) =>
        log.LogMessage(MessageImportance.High, "  [{0}/{1}] {2}: running ({3})", index + 1, count, cell.Id, cell.Suite.Harness);

    /// <summary>Harness lines at low importance, except the ones harnesses mark for people, shown with the cell's
    /// name at high importance (so at dotnet build's default verbosity): <c>summary: </c> (e.g. one per serving
    /// level) and <c>progress: </c> (every few seconds of a long cell); <c>warning MLXBnnnn: ...</c> lines become
    /// MSBuild warnings with that code.</summary>
    public void CellOutput(BenchCell cell, string line)
    {
        if (line.StartsWith("summary: ", StringComparison.Ordinal) || line.StartsWith("progress: ", StringComparison.Ordinal))
            log.LogMessage(MessageImportance.High, "    {0} {1}", cell.Id, line);
        else if (line.StartsWith("warning MLXB", StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is > 8 and var colon)
            log.LogWarning(null, line[8..colon], null, null, 0, 0, 0, 0, "{0}: {1}", cell.Id, line[(colon + 1)..].Trim());
        else log.LogMessage(MessageImportance.Low, "    {0}", line);
    }

    public void CellFinished(CellOutcome outcome)
    {
        if (outcome.Failure is { } failure)
        {
            log.Log(failure);
            return;
        }
        string state = outcome.State == CellState.Ran
            ? string.Create(CultureInfo.InvariantCulture, $"ran ({outcome.Elapsed.TotalSeconds:0.0} s)")
            : "up to date";
        log.LogMessage(MessageImportance.High, "  {0}: {1} -> {2}", outcome.Cell.Id, state, outcome.EnvelopePath);
    }

    public void Report(BenchDiagnostic diagnostic) => log.Log(diagnostic);

    public void EndpointMessage(string message) => log.LogMessage(MessageImportance.High, "  {0}", message);

    /// <summary>Prints the run's table and writes it as <c>summary.md</c> in the state folder, and to the GitHub job
    /// summary when the build runs in GitHub Actions.</summary>
    public void Summarize(IReadOnlyList<CellOutcome> outcomes, string stateDirectory, string? githubStepSummary)
    {
        var summary = new RunSummary(outcomes);
        if (outcomes.Count > 0)
            foreach (string line in summary.ToLines()) log.LogMessage(MessageImportance.High, "{0}", line);
        string markdown = summary.ToMarkdown(projectName);
        string path = Path.Combine(stateDirectory, "summary.md");
        AtomicFile.WriteAllText(path, markdown);
        if (!string.IsNullOrEmpty(githubStepSummary)) File.AppendAllText(githubStepSummary, markdown + "\n");
        log.LogMessage(MessageImportance.High, "{0} -> {1}", projectName, path);
        log.LogMessage(MessageImportance.High, "{0}: Bench: {1} cell(s): {2} ran, {3} up to date, {4} failed", projectName, outcomes.Count, summary.Ran, summary.UpToDate, summary.Failed);
    }
}
