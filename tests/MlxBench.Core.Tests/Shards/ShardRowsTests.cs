using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Shards;

[TestClass]
public sealed class ShardRowsTests
{
    internal static Envelope LmEvalSample() =>
        new LmEvalConverter().Convert(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json"), Contexts.For("reasoning", extraTags: ("run_tag", "x")));

    private static string[] Names(IReadOnlyList<ShardColumn> columns) => columns.Select(c => c.Name).ToArray();

    [TestMethod]
    public void LmEvalSample_HasUpstreamsRowKeys_InUpstreamsOrder()
    {
        IReadOnlyList<ShardColumn> columns = ShardRows.Columns(LmEvalSample());

        string[] upstream =
        [
            "schema_version", "timestamp", "git_sha", "trigger", "suite", "model", "os", "chip", "memory_gb",
            "name", "metric", "value", "unit", "tag_lm_eval_key", "tag_run_tag", "tag_total_eval_time_s", "tag_n_limit", "tag_max_gen_toks",
        ];
        // Our one extra tag (the stderr upstream drops) comes after upstream's columns, never between them.
        CollectionAssert.AreEqual(upstream.Append("tag_stderr").ToArray(), Names(columns));
    }

    [TestMethod]
    public void Rows_CarryTheEnvelopeOnEveryRow_AndOneResultPerRow()
    {
        Envelope envelope = LmEvalSample();

        IReadOnlyList<ShardColumn> columns = ShardRows.Columns(envelope);

        Assert.IsTrue(columns.All(c => c.Values.Length == 2));
        ShardColumn Column(string name) => columns.Single(c => c.Name == name);
        CollectionAssert.AreEqual(new object?[] { "2025-12-25T05:20:00Z", "2025-12-25T05:20:00Z" }, Column("timestamp").Values);
        CollectionAssert.AreEqual(new object?[] { 24L, 24L }, Column("memory_gb").Values);
        CollectionAssert.AreEqual(new object?[] { "exact_match_flexible", "exact_match_strict" }, Column("metric").Values);
        CollectionAssert.AreEqual(new object?[] { 0.7, 0.5 }, Column("value").Values);
        CollectionAssert.AreEqual(new object?[] { "exact_match,flexible-extract", "exact_match,strict-match" }, Column("tag_lm_eval_key").Values);
        Assert.AreEqual(ColumnKind.String, Column("timestamp").Kind, "timestamp is a string column, as upstream writes it");
        Assert.AreEqual(ColumnKind.Int64, Column("memory_gb").Kind);
        Assert.AreEqual(ColumnKind.Double, Column("value").Kind);
        Assert.IsTrue(columns.Where(c => c.Name.StartsWith("tag_", StringComparison.Ordinal)).All(c => c.Kind == ColumnKind.String));
    }

    [TestMethod]
    public void OptionalEnvelopeFields_AreColumnsOnlyWhenPresent_AfterMemoryGb()
    {
        Envelope envelope = LmEvalSample();
        envelope.ModelRevision = "a1b2c3d";
        envelope.Quantization = "mlx-4bit";
        envelope.Seed = 1234;

        string[] names = Names(ShardRows.Columns(envelope));

        CollectionAssert.AreEqual(new[] { "memory_gb", "model_revision", "quantization", "seed", "name" }, names[8..13]);
        Assert.AreEqual(ColumnKind.Int64, ShardRows.Columns(envelope).Single(c => c.Name == "seed").Kind);
    }

    [TestMethod]
    public void DurationSeconds_FollowsUnit_WhenAnyResultHasIt()
    {
        Envelope envelope = new VllmServeConverter().Convert(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json"), Contexts.For("throughput"));

        IReadOnlyList<ShardColumn> columns = ShardRows.Columns(envelope);

        CollectionAssert.AreEqual(new[] { "name", "metric", "value", "unit", "duration_seconds", "tag_completed_requests" }, Names(columns)[9..15]);
        Assert.IsTrue(columns.Single(c => c.Name == "duration_seconds").Values.All(v => (double?)v == 60.12));
    }

    [TestMethod]
    public void FieldsWithoutAColumn_AreDropped()
    {
        Envelope envelope = LmEvalSample();
        envelope.PrNumber = 12;
        envelope.Trigger = "pr";
        envelope.Skipped = false;
        envelope.System.Runner = "self-hosted";
        envelope.Errors = ["a warning"];

        string[] names = Names(ShardRows.Columns(envelope));

        foreach (string dropped in new[] { "pr_number", "gen_kwargs", "skipped", "errors", "memory_snapshots", "raw", "runner", "kernel", "lm_eval_version" })
            CollectionAssert.DoesNotContain(names, dropped);
    }

    [TestMethod]
    public void TagPresentOnlyInALaterRow_IsKept_NullWhereAbsent()
    {
        Envelope envelope = LmEvalSample();
        envelope.Results[1].WithTag("late", "yes");
        envelope.Results[1].DurationSeconds = 5;

        IReadOnlyList<ShardColumn> columns = ShardRows.Columns(envelope);

        CollectionAssert.AreEqual(new object?[] { null, "yes" }, columns.Single(c => c.Name == "tag_late").Values);
        CollectionAssert.AreEqual(new object?[] { null, 5.0 }, columns.Single(c => c.Name == "duration_seconds").Values);
    }
}
