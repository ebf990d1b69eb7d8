using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Fingerprints;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Cells;

[TestClass]
public sealed class CellPlannerTests
{
    /// <summary>An item as MSBuild hands it over; a later metadata value replaces an earlier one, as in a project file.</summary>
    internal static DeclaredItem Item(string name, params (string Key, string Value)[] metadata)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, string value) in metadata) map[key] = value;
        return new DeclaredItem(name, map);
    }

    internal static DeclaredItem Suite(string name, params (string Key, string Value)[] metadata) =>
        Item(name, [("Harness", "command"), ("Command", "true"), .. metadata]);

    internal static Plan Plan(IReadOnlyList<DeclaredItem> models, IReadOnlyList<DeclaredItem> suites, IReadOnlyList<DeclaredItem>? endpoints = null,
        string? filter = null, string? shard = null, string projectDirectory = "/tmp/project", string sdkVersion = "1.0.0") =>
        new CellPlanner(new PlanOptions { ProjectDirectory = projectDirectory, SdkVersion = sdkVersion, Filter = filter, Shard = shard }, new FileHashCache(null))
            .Plan(models, suites, endpoints ?? []);

    private static BenchDiagnostic SingleError(Plan plan)
    {
        Assert.IsTrue(plan.HasErrors, "expected an error");
        Assert.IsEmpty(plan.Cells, "no cell is planned when an item is malformed");
        return plan.Diagnostics.Single(d => d.Severity == DiagnosticSeverity.Error);
    }

    private static readonly DeclaredItem[] s_oneModel = [Item("org/model")];

    [TestMethod]
    public void EveryModelTimesEverySuite_IsACell_NamedSuiteSlashModel()
    {
        Plan plan = Plan([Item("org/a"), Item("org/b")], [Suite("reasoning"), Suite("knowledge")]);

        Assert.IsFalse(plan.HasErrors);
        Assert.IsEmpty(plan.Diagnostics);
        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "reasoning/org/b", "knowledge/org/a", "knowledge/org/b" }, plan.Cells.Select(c => c.Id).ToArray());
        Assert.IsTrue(plan.Cells.All(c => c.Fingerprint.Length == 64 && c.Fingerprint.All(Uri.IsHexDigit)));
        Assert.AreEqual(4, plan.Cells.Select(c => c.Fingerprint).Distinct().Count());
    }

    [TestMethod]
    public void SuiteAndModelSpecs_CarryTheirMetadata()
    {
        Plan plan = Plan(
            [Item("mlx-community/Qwen3-8B-4bit", ("Name", "qwen"), ("Revision", "a1b2c3d"), ("Quantization", "mlx-4bit"), ("Endpoint", "studio"))],
            [Suite("gsm8k-quick", ("Category", "reasoning"), ("Converter", "LM-Eval"), ("Timeout", " 90 "), ("Harness", "Command"))],
            [Item("studio", ("BaseUrl", "http://localhost:11434/v1/"))]);

        BenchCell cell = plan.Cells.Single();
        Assert.AreEqual("gsm8k-quick/qwen", cell.Id);
        Assert.AreEqual("mlx-community/Qwen3-8B-4bit", cell.Model.Id);
        Assert.AreEqual("a1b2c3d", cell.Model.Revision);
        Assert.AreEqual("mlx-4bit", cell.Model.Quantization);
        Assert.AreEqual("reasoning", cell.Suite.Category, "Category is the v1 suite the envelopes record");
        Assert.AreEqual("lm-eval", cell.Suite.Converter);
        Assert.AreEqual("command", cell.Suite.Harness);
        Assert.AreEqual(90, cell.Suite.TimeoutSeconds);
        Assert.AreEqual("http://localhost:11434/v1", cell.Endpoint!.BaseUrl);
        Assert.AreEqual("envelope", Plan(s_oneModel, [Suite("reasoning")]).Cells.Single().Suite.Converter, "the default converter reads an envelope");
    }

    [TestMethod]
    public void ModelFile_ThatExists_IsResolvedToAFullPath_OtherwiseKeptAsARepositoryPath()
    {
        using var dir = new TempDirectory();
        dir.Write("models/tiny.gguf", "GGUF");

        Plan plan = Plan([Item("local", ("File", "models/tiny.gguf")), Item("ggml-org/models", ("File", "tinyllamas/stories260K.gguf"))],
            [Suite("reasoning")], projectDirectory: dir.Path);

        Assert.AreEqual(dir.Combine("models", "tiny.gguf"), plan.Cells[0].Model.File);
        Assert.AreEqual("tinyllamas/stories260K.gguf", plan.Cells[1].Model.File);
    }

    [TestMethod]
    public void MLXB1001_SuiteWithoutHarness_SaysWhichHarnessToAdd()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Item("reasoning", ("Command", "true"))]));

        Assert.AreEqual("MLXB1001", error.Code);
        StringAssert.Contains(error.Message, "\"reasoning\"");
        StringAssert.Contains(error.Message, "Add Harness=\"command\"");
    }

    [TestMethod]
    public void MLXB1002_UnknownHarness_ListsTheKnownOnes()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("reasoning", ("Harness", "lighteval"))]));

        Assert.AreEqual("MLXB1002", error.Code);
        StringAssert.Contains(error.Message, "Harness=\"lighteval\"");
        StringAssert.Contains(error.Message, "Use one of: " + string.Join(", ", Harnesses.Names));
        CollectionAssert.Contains(Harnesses.Names.ToArray(), "command");
    }

    [TestMethod]
    public void MLXB1003_UnknownConverter_ListsEveryKnownConverter()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("reasoning", ("Converter", "lighteval"))]));

        Assert.AreEqual("MLXB1003", error.Code);
        StringAssert.Contains(error.Message, "Converter=\"lighteval\"");
        StringAssert.Contains(error.Message, "Use one of: lm-eval, vllm, framework-eval, envelope");
    }

    [TestMethod]
    public void MLXB1004_CommandHarnessWithoutCommand_SaysWhatTheCommandMustDo()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Item("reasoning", ("Harness", "command"))]));

        Assert.AreEqual("MLXB1004", error.Code);
        StringAssert.Contains(error.Message, "Add Command=");
        StringAssert.Contains(error.Message, "$MLXBENCH_OUTPUT");
    }

    [TestMethod]
    public void MLXB1005_ModelNamingAnUndefinedEndpoint_SaysHowToDefineIt()
    {
        BenchDiagnostic error = SingleError(Plan([Item("org/model", ("Endpoint", "studoi"))], [Suite("reasoning")],
            [Item("studio", ("BaseUrl", "http://127.0.0.1:8080/v1"))]));

        Assert.AreEqual("MLXB1005", error.Code);
        StringAssert.Contains(error.Message, "Endpoint=\"studoi\"");
        StringAssert.Contains(error.Message, "(defined: studio)");
        StringAssert.Contains(error.Message, "<BenchEndpoint Include=\"studoi\" BaseUrl=");
    }

    [TestMethod]
    public void MLXB1006_SuiteOutsideTheV1EnumWithoutCategory_ListsTheV1Names()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("gsm8k-quick")]));

        Assert.AreEqual("MLXB1006", error.Code);
        StringAssert.Contains(error.Message, "Add Category=");
        StringAssert.Contains(error.Message, "throughput, ttft, tool-calling");
        StringAssert.Contains(error.Message, "reasoning");
    }

    [TestMethod]
    public void MLXB1007_CategoryOutsideTheV1Enum_ListsTheV1Names()
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("gsm8k-quick", ("Category", "maths"))]));

        Assert.AreEqual("MLXB1007", error.Code);
        StringAssert.Contains(error.Message, "Category=\"maths\"");
        StringAssert.Contains(error.Message, "math-hard");
    }

    [TestMethod]
    [DataRow("BenchModel")]
    [DataRow("BenchSuite")]
    public void MLXB1008_Duplicates_SayHowToTellThemApart(string kind)
    {
        Plan plan = kind == "BenchModel"
            ? Plan([Item("org/model"), Item("org/model", ("Revision", "b"))], [Suite("reasoning")])
            : Plan(s_oneModel, [Suite("reasoning"), Suite("reasoning", ("Limit", "5"))]);

        BenchDiagnostic error = SingleError(plan);

        Assert.AreEqual("MLXB1008", error.Code);
        StringAssert.Contains(error.Message, kind);
        StringAssert.Contains(error.Message, "Name=\"...\"");
    }

    [TestMethod]
    public void SameModelIdTwice_WithDistinctNames_IsTwoCells()
    {
        Plan plan = Plan([Item("org/model", ("Name", "main")), Item("org/model", ("Name", "pr"), ("Revision", "b"))], [Suite("reasoning")]);

        CollectionAssert.AreEqual(new[] { "reasoning/main", "reasoning/pr" }, plan.Cells.Select(c => c.Id).ToArray());
    }

    [TestMethod]
    [DataRow("3/3")]
    [DataRow("1/0")]
    [DataRow("-1/2")]
    [DataRow("a/b")]
    [DataRow("1")]
    [DataRow("0/2/4")]
    public void MLXB1011_BadShard_GivesAnExample(string shard)
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("reasoning")], shard: shard));

        Assert.AreEqual("MLXB1011", error.Code);
        StringAssert.Contains(error.Message, $"BenchShard=\"{shard}\"");
        StringAssert.Contains(error.Message, "-p:BenchShard=0/3");
    }

    [TestMethod]
    [DataRow("0")]
    [DataRow("-5")]
    [DataRow("1.5")]
    [DataRow("10m")]
    public void MLXB1012_BadTimeout_SaysToGiveWholeSeconds(string timeout)
    {
        BenchDiagnostic error = SingleError(Plan(s_oneModel, [Suite("reasoning", ("Timeout", timeout))]));

        Assert.AreEqual("MLXB1012", error.Code);
        StringAssert.Contains(error.Message, $"Timeout=\"{timeout}\"");
        StringAssert.Contains(error.Message, "whole number of seconds");
    }

    [TestMethod]
    public void MLXB1015_NothingToBench_IsAWarning()
    {
        Plan plan = Plan([], [Suite("reasoning")]);

        Assert.IsFalse(plan.HasErrors);
        BenchDiagnostic warning = plan.Diagnostics.Single();
        Assert.AreEqual(DiagnosticSeverity.Warning, warning.Severity);
        Assert.AreEqual("MLXB1015", warning.Code);
        StringAssert.Contains(warning.Message, "0 BenchModel and 1 BenchSuite");
        StringAssert.Contains(warning.Message, "Add at least one of each");
    }

    [TestMethod]
    public void MLXB1016_ModelsFilterNamingUnknownModels_ListsTheDeclaredOnes()
    {
        BenchDiagnostic error = SingleError(Plan([Item("org/a"), Item("org/b")], [Suite("reasoning", ("Models", "org/a;org/c;org/d"))]));

        Assert.AreEqual("MLXB1016", error.Code);
        StringAssert.Contains(error.Message, "no BenchModel is named org/c, org/d");
        StringAssert.Contains(error.Message, "(declared: org/a, org/b)");
    }

    [TestMethod]
    public void MLXB1017_FilterMatchingNothing_IsAWarningListingTheNames()
    {
        Plan plan = Plan([Item("org/a")], [Suite("reasoning")], filter: "knowlege");

        Assert.IsEmpty(plan.Cells);
        BenchDiagnostic warning = plan.Diagnostics.Single();
        Assert.AreEqual(DiagnosticSeverity.Warning, warning.Severity);
        Assert.AreEqual("MLXB1017", warning.Code);
        StringAssert.Contains(warning.Message, "suite name (reasoning)");
        StringAssert.Contains(warning.Message, "model name (org/a)");
    }

    [TestMethod]
    public void EveryProblem_IsReportedAtOnce()
    {
        Plan plan = Plan(
            [Item("org/a", ("Endpoint", "nowhere")), Item("org/b"), Item("org/b")],
            [
                Item("no-harness"),
                Suite("reasoning", ("Converter", "csv")),
                Suite("gsm8k"),
                Suite("other", ("Category", "maths")),
                Suite("knowledge", ("Timeout", "soon"), ("Models", "org/z")),
                Suite("knowledge"),
            ],
            shard: "9/2");

        CollectionAssert.AreEquivalent(
            new[] { "MLXB1005", "MLXB1008", "MLXB1001", "MLXB1006", "MLXB1003", "MLXB1006", "MLXB1007", "MLXB1012", "MLXB1016", "MLXB1008", "MLXB1011" },
            plan.Diagnostics.Select(d => d.Code).ToArray(), string.Join("\n", plan.Diagnostics));
        Assert.IsEmpty(plan.Cells);
    }

    [TestMethod]
    public void ModelsMetadata_LimitsASuiteToTheNamedModels()
    {
        Plan plan = Plan([Item("org/a"), Item("org/b"), Item("org/c")], [Suite("reasoning", ("Models", "org/c; org/a")), Suite("knowledge")]);

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "reasoning/org/c", "knowledge/org/a", "knowledge/org/b", "knowledge/org/c" },
            plan.Cells.Select(c => c.Id).ToArray());
    }

    [TestMethod]
    [DataRow("reasoning", new[] { "reasoning/org/qwen-8b", "reasoning/org/llama-3b" })]
    [DataRow("REASONING", new[] { "reasoning/org/qwen-8b", "reasoning/org/llama-3b" })]
    [DataRow("org/qwen-8b", new[] { "reasoning/org/qwen-8b", "throughput/org/qwen-8b" })]
    [DataRow("*qwen*", new[] { "reasoning/org/qwen-8b", "throughput/org/qwen-8b" })]
    [DataRow("throughput/org/llama*", new[] { "throughput/org/llama-3b" })]
    [DataRow("throughput/*;reasoning/org/qwen-8b", new[] { "reasoning/org/qwen-8b", "throughput/org/qwen-8b", "throughput/org/llama-3b" })]
    [DataRow("*/org/llama-3b", new[] { "reasoning/org/llama-3b", "throughput/org/llama-3b" })]
    [DataRow(" ; ", new[] { "reasoning/org/qwen-8b", "reasoning/org/llama-3b", "throughput/org/qwen-8b", "throughput/org/llama-3b" })]
    [DataRow("org", new string[0])]
    public void BenchFilter_MatchesSuiteModelOrCellId(string filter, string[] expected)
    {
        Plan plan = Plan([Item("org/qwen-8b"), Item("org/llama-3b")], [Suite("reasoning"), Suite("throughput")], filter: filter);

        CollectionAssert.AreEqual(expected, plan.Cells.Select(c => c.Id).ToArray());
    }

    [TestMethod]
    public void BenchFilter_DoesNotChangeFingerprints()
    {
        Plan all = Plan([Item("org/a"), Item("org/b")], [Suite("reasoning")]);
        Plan some = Plan([Item("org/a"), Item("org/b")], [Suite("reasoning")], filter: "org/b");

        Assert.AreEqual(all.Cells[1].Fingerprint, some.Cells.Single().Fingerprint);
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(7)]
    public void BenchShards_NeverOverlap_AndTogetherCoverEveryCell(int count)
    {
        DeclaredItem[] models = Enumerable.Range(0, 6).Select(i => Item($"org/model-{i}")).ToArray();
        DeclaredItem[] suites = [Suite("reasoning"), Suite("knowledge"), Suite("throughput")];
        string[] everything = Plan(models, suites).Cells.Select(c => c.Id).ToArray();

        List<string[]> shards = Enumerable.Range(0, count).Select(i => Plan(models, suites, shard: $"{i}/{count}").Cells.Select(c => c.Id).ToArray()).ToList();

        Assert.HasCount(18, everything);
        CollectionAssert.AreEquivalent(everything, shards.SelectMany(s => s).ToArray(), "every cell is in exactly one shard");
        Assert.IsTrue(shards.Count(s => s.Length > 0) > 1, "cells spread over more than one shard");
        CollectionAssert.AreEqual(shards[0], Plan(models, suites, shard: $"0/{count}").Cells.Select(c => c.Id).ToArray(), "the same shard every time");
    }

    [TestMethod]
    public void ShardZeroOfOne_IsEverything()
    {
        Assert.HasCount(2, Plan([Item("org/a"), Item("org/b")], [Suite("reasoning")], shard: "0/1").Cells);
    }

    [TestMethod]
    public void ShardOf_IsStable_ForAGivenFingerprint()
    {
        string fingerprint = new string('0', 13) + "ff" + new string('0', 49);   // the first 15 hex digits pick the shard

        Assert.AreEqual(255 % 7, CellPlanner.ShardOf(fingerprint, 7));
        Assert.AreEqual(0, CellPlanner.ShardOf(fingerprint, 1));
    }

    [TestMethod]
    public void DataFiles_AreResolvedAgainstTheProject()
    {
        Plan plan = Plan(s_oneModel, [Suite("reasoning", ("Data", "tasks/a.jsonl; tasks/b.jsonl"))], projectDirectory: "/tmp/project");

        CollectionAssert.AreEqual(new[] { "/tmp/project/tasks/a.jsonl", "/tmp/project/tasks/b.jsonl" }, plan.Cells.Single().Suite.DataFiles.ToArray());
    }

    [TestMethod]
    public void Cell_RoundTripsThroughItsJson()
    {
        BenchCell cell = Plan([Item("org/a", ("Endpoint", "e"), ("Revision", "r"))], [Suite("reasoning", ("Timeout", "5"))],
            [Item("e", ("BaseUrl", "http://127.0.0.1:1/v1"))]).Cells.Single();

        BenchCell again = BenchCellJson.Deserialize(BenchCellJson.Serialize(cell));

        Assert.AreEqual(BenchCellJson.Serialize(cell), BenchCellJson.Serialize(again));
        Assert.AreEqual(cell.Fingerprint, again.Fingerprint);
        Assert.AreEqual(5, again.Suite.TimeoutSeconds);
        Assert.AreEqual("http://127.0.0.1:1/v1", again.Endpoint!.BaseUrl);
    }
}
