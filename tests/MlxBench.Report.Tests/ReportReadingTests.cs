using System.Text.RegularExpressions;
using MlxBench.Core.Diagnostics;
using MlxBench.Testing;
using static MlxBench.Report.Tests.ReportDataset;

namespace MlxBench.Report.Tests;

[TestClass]
public sealed class ReportReadingTests
{
    private static TempDirectory s_dataset = null!;
    private static ReportModel s_model = null!;
    private static IReadOnlyList<ReportRow> s_rows = null!;

    [ClassInitialize]
    public static async Task BuildAsync(TestContext _)
    {
        s_dataset = new TempDirectory("report-data");
        await WriteAsync(s_dataset.Path);
        using DatasetFiles files = await DatasetFiles.OpenAsync(s_dataset.Path, CancellationToken.None);
        s_rows = ShardReader.Read(files.Files);
        s_model = new ReportModel(s_rows, files.Files.Count);
    }

    [ClassCleanup]
    public static void Cleanup() => s_dataset.Dispose();

    [TestMethod]
    public void AllShardGenerations_AreRead_AndLegacyNestedColumnsCoalesced()
    {
        Assert.AreEqual(8, s_model.ShardCount);
        // Legacy nested rows come through with their metric_* values.
        ReportRow nested = s_rows.Single(r => r.Model == Qwen36 && r.Suite == "reasoning");
        Assert.AreEqual(("gsm8k_cot_zeroshot", "exact_match_flexible", 0.85, "ratio"), (nested.Task, nested.Metric, nested.Value, nested.Unit));
        Assert.AreEqual(DateTimeOffset.Parse(Old, System.Globalization.CultureInfo.InvariantCulture), nested.Timestamp);
        // The skipped row (0.99) is dropped, as the later viewer drops it.
        Assert.IsFalse(s_rows.Any(r => r.Value == 0.99));
        // Flat 0.6.1 rows and ours line up by name.
        CollectionAssert.AreEquivalent(new[] { 0.6, 0.65, 0.7 }, s_rows.Where(r => r.Model == Qwen35 && r.Metric == "exact_match_flexible").Select(r => r.Value).ToArray());
        // Concurrency comes from tag_concurrency (legacy sweep) and tag_max_concurrency (our vllm shard).
        CollectionAssert.AreEquivalent(new double?[] { 1, 4, 16, 2 },
            s_rows.Where(r => r.Metric == "throughput_output_toks_per_s").Select(r => r.Concurrency).ToArray());
    }

    [TestMethod]
    public void TheDefaultSelection_IsTheViewers_AndTheLatestRunPerModelIsChosen()
    {
        Assert.AreEqual(("reasoning", "gsm8k_cot_zeroshot", "exact_match_flexible"), s_model.DefaultSelection());
        IReadOnlyList<ReportValue> latest = s_model.Latest("reasoning", "gsm8k_cot_zeroshot", "exact_match_flexible");
        CollectionAssert.AreEqual(new[] { "Qwen3.6-8B-4bit", "Qwen3.5-9B-MLX-4bit" }, latest.Select(v => v.Series).ToArray(), "sorted by value, mlx-community/ dropped");
        CollectionAssert.AreEqual(new[] { Expected.Qwen36Flexible, Expected.Qwen35LatestFlexible }, latest.Select(v => v.Value).ToArray());
    }

    [TestMethod]
    public void TheTrend_HasOnePointPerRun_InTimeOrder()
    {
        TrendSeries qwen = s_model.Trend("reasoning", "gsm8k_cot_zeroshot", "exact_match_flexible").Single(s => s.Series == "Qwen3.5-9B-MLX-4bit");
        CollectionAssert.AreEqual(Expected.Qwen35Trend, qwen.Points.Select(p => p.Value).ToArray());
        CollectionAssert.AreEqual(new[] { "aaa3ff3", "7ef5a4d", "d5a124d" }, qwen.Points.Select(p => p.GitSha).ToArray());
    }

    [TestMethod]
    public void TheSummaryTable_PivotsModelsByTask_ForTheSuiteAndMetric()
    {
        SummaryTable table = s_model.Table("reasoning", "exact_match_flexible");
        CollectionAssert.AreEqual(new[] { "Qwen3.5-9B-MLX-4bit", "Qwen3.6-8B-4bit", "ggml-org/stories260K" }, table.Models.ToArray());
        CollectionAssert.AreEqual(new[] { "gsm8k", "gsm8k_cot_zeroshot" }, table.Tasks.ToArray());
        Assert.AreEqual(Expected.StoriesGsm8kFlexible, table.Values[2, 0]);
        Assert.IsNull(table.Values[2, 1]);
        Assert.AreEqual(Expected.Qwen35LatestFlexible, table.Values[0, 1]);
    }

    [TestMethod]
    public void ServingSuites_GetLatencyPercentiles_AndThroughputAgainstConcurrency()
    {
        Assert.IsTrue(s_model.IsServing("throughput"));
        Assert.IsFalse(s_model.IsServing("reasoning"));
        LatencyChart ttft = s_model.Latency("throughput").First();
        Assert.AreEqual("TTFT", ttft.Kind);
        CollectionAssert.AreEqual(new[] { "p50", "p99", "mean" }, ttft.Percentiles.ToArray());
        CollectionAssert.AreEqual(new[] { "Qwen3.6-8B-4bit @ 1", "Qwen3.6-8B-4bit @ 4", "Qwen3.6-8B-4bit @ 16", "facebook/opt-125m @ 2" }, ttft.Series.ToArray());
        var output = s_model.ThroughputByConcurrency("throughput").First();
        Assert.AreEqual("throughput_output_toks_per_s", output.Metric);
        XySeries sweep = output.Series.Single(s => s.Series == "Qwen3.6-8B-4bit");
        CollectionAssert.AreEqual(Expected.QwenSweepConcurrency, sweep.Points.Select(p => p.X).ToArray());
        Assert.AreEqual(Expected.OptOutputThroughput, output.Series.Single(s => s.Series == "facebook/opt-125m").Points.Single().Y, 1e-9);
    }

    [TestMethod]
    public void ThePage_IsSelfContained_AndCarriesEveryPanel()
    {
        string html = HtmlReportWriter.Render(s_model, "test dataset");

        Assert.IsFalse(Regex.IsMatch(html, "(src|href)\\s*=", RegexOptions.IgnoreCase), "no external resource of any kind");
        Assert.IsFalse(html.Contains("<link", StringComparison.OrdinalIgnoreCase));
        Assert.IsFalse(Regex.IsMatch(html, "https?://(?!www\\.w3\\.org/2000/svg)"), "no URL but the SVG namespace");
        int combos = s_model.Suites.Sum(s => s_model.Tasks(s).Sum(t => s_model.Metrics(s, t).Count));
        Assert.AreEqual(combos, Regex.Matches(html, "<section class=\"panel\" data-kind=\"latest\"").Count);
        Assert.AreEqual(combos, Regex.Matches(html, "<section class=\"panel\" data-kind=\"trend\"").Count);
        Assert.AreEqual(1, Regex.Matches(html, "<section class=\"panel\" data-kind=\"throughput\"").Count);
        StringAssert.Contains(html, "Loaded " + s_model.RowCount + " rows from 5 models (8 shards)");
    }

    [TestMethod]
    public async Task ACorruptShard_IsMLXB8002_AndNoPageIsWritten()
    {
        using var broken = new TempDirectory("report-broken");
        broken.Write("data/run-broken.parquet", "PAR1 not really");
        var error = await Assert.ThrowsExactlyAsync<BenchException>(() => ReportGenerator.GenerateAsync(broken.Path, broken.Combine("r.html"), CancellationToken.None));
        Assert.AreEqual("MLXB8002", error.Diagnostic.Code, error.Message);
        Assert.IsFalse(File.Exists(broken.Combine("r.html")));
    }

    [TestMethod]
    public async Task AFolderWithoutShards_IsMLXB8001()
    {
        using var empty = new TempDirectory("report-empty");
        var error = await Assert.ThrowsExactlyAsync<BenchException>(() => ReportGenerator.GenerateAsync(empty.Path, empty.Combine("r.html"), CancellationToken.None));
        Assert.AreEqual("MLXB8001", error.Diagnostic.Code);
        Assert.IsFalse(File.Exists(empty.Combine("r.html")));
    }
}
