namespace MlxBench.Report;

/// <summary>
/// One result row of the dataset, whichever shard generation it came from: current flat shards, upstream 0.6.1
/// shards, or legacy shards whose result columns are <c>metric_name/metric_metric/metric_value/metric_unit</c>.
/// </summary>
public sealed record ReportRow(
    string Suite,
    string Model,
    string Task,
    string Metric,
    double Value,
    string Unit,
    DateTimeOffset Timestamp,
    string GitSha,
    double? Concurrency,
    string Shard)
{
    /// <summary>The model as the viewer labels it: <c>mlx-community/</c> dropped, <c>openrouter/openai/</c> shortened
    /// (upstream <c>space/app.py</c> <c>model_short</c>).</summary>
    public string ModelShort => Model.StartsWith("mlx-community/", StringComparison.Ordinal) ? Model["mlx-community/".Length..]
        : Model.StartsWith("openrouter/openai/", StringComparison.Ordinal) ? "openrouter/" + Model["openrouter/openai/".Length..]
        : Model;
}
