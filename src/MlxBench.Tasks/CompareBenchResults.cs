using System.Globalization;
using MlxBench.Core.Compare;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Sinks;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>
/// The regression gate: compares each cell's envelope with the latest earlier published value of the same model,
/// suite, task and metric in the baseline dataset, and fails (MLXB9001, one per metric) when one moved the wrong way
/// beyond its threshold. Writes <c>compare.md</c>; returns one <c>BenchComparison</c> per metric.
/// </summary>
public sealed class CompareBenchResults : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>The cells (<c>_BenchCell</c>) whose envelopes exist; metadata <c>Envelope</c>, <c>Spec</c>.</summary>
    public ITaskItem[] Cells { get; set; } = [];
    [Required] public string Baseline { get; set; } = "";
    [Required] public string ProjectDirectory { get; set; } = "";
    [Required] public string ProjectName { get; set; } = "";
    [Required] public string ReportPath { get; set; } = "";

    [Output] public ITaskItem[] Comparisons { get; private set; } = [];

    public void Cancel() => _cancel.Cancel();

    public override bool Execute()
    {
        if (Cells.Length == 0)
        {
            Log.Log(BenchDiagnostic.Warning("Compare.NothingToCompare"));
            return true;
        }
        string root = Path.GetFullPath(Path.Combine(ProjectDirectory, Baseline));
        if (Baseline.StartsWith(DatasetReference.HubPrefix, StringComparison.OrdinalIgnoreCase) || !Directory.Exists(root))
        {
            Log.Log(BenchDiagnostic.Error("Compare.BadBaseline", Baseline));
            return false;
        }
        try
        {
            var gate = new RegressionGate(DatasetRows.ReadFolderAsync(root, _cancel.Token).GetAwaiter().GetResult());
            var all = new List<MetricComparison>();
            foreach (ITaskItem cell in Cells)
            {
                string spec = cell.GetMetadata("Spec");
                Core.Cells.BenchCell planned = Core.Cells.BenchCellJson.Deserialize(spec);
                if (!TryThreshold(planned, out double threshold)) continue;
                Envelope envelope = EnvelopeJson.Parse(File.ReadAllText(cell.GetMetadata("Envelope")));
                all.AddRange(gate.Compare(planned.Id, envelope, threshold));
            }
            foreach (MetricComparison c in all)
            {
                if (c.Verdict == Verdict.Regressed)
                    Log.Log(BenchDiagnostic.Error("Compare.Regressed", c.Cell, c.Name, c.Metric, Format(c.Baseline), Format(c.Current), Percent(c.RelativeChange),
                        MetricDirection.HigherIsBetter(c.Metric, c.Unit, null) == false ? "lower" : "higher", Format(c.Allowed), c.BaselineTimestamp));
                else
                    Log.LogMessage(MessageImportance.Normal, "  {0} {1} {2}: {3} ({4} -> {5})", c.Cell, c.Name, c.Metric, c.Verdict, Format(c.Baseline), Format(c.Current));
            }
            AtomicFile.WriteAllText(ReportPath, Markdown(all));
            Comparisons = all.Select(ToItem).ToArray();
            Log.LogMessage(MessageImportance.High, "{0}: Compare: {1} metric(s): {2} regressed, {3} improved, {4} unchanged, {5} new",
                ProjectName, all.Count, all.Count(c => c.Verdict == Verdict.Regressed), all.Count(c => c.Verdict == Verdict.Improved),
                all.Count(c => c.Verdict == Verdict.Unchanged), all.Count(c => c.Verdict == Verdict.New));
            Log.LogMessage(MessageImportance.High, "{0} -> {1}", ProjectName, ReportPath);
        }
        catch (BenchException e)
        {
            Log.Log(e.Diagnostic);
        }
        return !Log.HasLoggedErrors;
    }

    private bool TryThreshold(Core.Cells.BenchCell cell, out double threshold)
    {
        threshold = RegressionGate.DefaultThreshold;
        if (!cell.Suite.Metadata.TryGetValue("CompareThreshold", out string? text) || string.IsNullOrWhiteSpace(text)) return true;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out threshold) && threshold >= 0 && threshold <= 1) return true;
        Log.Log(BenchDiagnostic.Error("Compare.BadThreshold", cell.Suite.Name, text));
        return false;
    }

    private static string Format(double? value) => value is { } v ? v.ToString("G6", CultureInfo.InvariantCulture) : "-";

    private static string Percent(double? relative) => relative is { } r ? r.ToString("+0.0%;-0.0%", CultureInfo.InvariantCulture) : "n/a";

    private static string Markdown(IReadOnlyList<MetricComparison> all)
    {
        var text = new System.Text.StringBuilder("| cell | task | metric | baseline | current | change | allowed | verdict |\n|---|---|---|---|---|---|---|---|\n");
        foreach (MetricComparison c in all)
            text.Append(CultureInfo.InvariantCulture, $"| `{c.Cell}` | {c.Name} | {c.Metric} | {Format(c.Baseline)} | {Format(c.Current)} | {Percent(c.RelativeChange)} | {Format(c.Allowed)} | {c.Verdict} |\n");
        return text.ToString();
    }

    private static TaskItem ToItem(MetricComparison c)
    {
        var item = new TaskItem(c.Cell);
        item.SetMetadata("Name", c.Name);
        item.SetMetadata("Metric", c.Metric);
        item.SetMetadata("Current", Format(c.Current));
        item.SetMetadata("Baseline", Format(c.Baseline));
        item.SetMetadata("Verdict", c.Verdict.ToString());
        return item;
    }
}
