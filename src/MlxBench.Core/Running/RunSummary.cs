using System.Globalization;
using System.Text;
using MlxBench.Core.Cells;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Running;

/// <summary>
/// The end-of-run table: one row per cell with its state, time, and its first few results, as Markdown (the
/// <c>summary.md</c> beside the cells, and what a GitHub job summary shows) and as plain lines for the build log.
/// </summary>
public sealed class RunSummary
{
    private const int MetricsPerCell = 3;

    private readonly List<(CellOutcome Outcome, string Results)> _rows;

    public RunSummary(IReadOnlyList<CellOutcome> outcomes) =>
        _rows = outcomes.Select(o => (o, o.State == CellState.Failed ? o.Failure?.Code ?? "" : ResultsOf(o.EnvelopePath))).ToList();

    public int Ran => _rows.Count(r => r.Outcome.State == CellState.Ran);
    public int UpToDate => _rows.Count(r => r.Outcome.State == CellState.UpToDate);
    public int Failed => _rows.Count(r => r.Outcome.State == CellState.Failed);

    public string ToMarkdown(string projectName)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"### {projectName}: {_rows.Count} cell(s), {Ran} ran, {UpToDate} up to date, {Failed} failed\n\n");
        text.Append("| cell | state | time | results |\n|---|---|---|---|\n");
        foreach ((CellOutcome outcome, string results) in _rows)
            text.Append(CultureInfo.InvariantCulture, $"| `{outcome.Cell.Id}` | {StateText(outcome.State)} | {Time(outcome)} | {results.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
        return text.ToString();
    }

    public IEnumerable<string> ToLines()
    {
        int width = Math.Max(4, _rows.Count == 0 ? 0 : _rows.Max(r => r.Outcome.Cell.Id.Length));
        yield return $"  {"cell".PadRight(width)}  {"state",-10}  {"time",7}  results";
        foreach ((CellOutcome outcome, string results) in _rows)
            yield return $"  {outcome.Cell.Id.PadRight(width)}  {StateText(outcome.State),-10}  {Time(outcome),7}  {results}";
    }

    private static string StateText(CellState state) => state switch
    {
        CellState.Ran => "ran",
        CellState.UpToDate => "up to date",
        _ => "failed",
    };

    private static string Time(CellOutcome outcome) =>
        outcome.State == CellState.Ran || outcome.State == CellState.Failed ? string.Create(CultureInfo.InvariantCulture, $"{outcome.Elapsed.TotalSeconds:0.0} s") : "";

    /// <summary>The first few results as <c>name metric=value unit</c>; the envelope is complete by construction.</summary>
    private static string ResultsOf(string envelopePath)
    {
        try
        {
            Envelope envelope = EnvelopeJson.Parse(File.ReadAllText(envelopePath));
            IEnumerable<string> shown = envelope.Results.Take(MetricsPerCell)
                .Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Name} {r.Metric}={r.Value:G4} {r.Unit}"));
            string more = envelope.Results.Count > MetricsPerCell ? $" (+{envelope.Results.Count - MetricsPerCell} more)" : "";
            return string.Join("; ", shown) + more;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
        {
            return "";
        }
    }
}
