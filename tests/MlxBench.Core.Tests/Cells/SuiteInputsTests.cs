using MlxBench.Core.Cells;
using MlxBench.Core.Fingerprints;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Cells;

/// <summary>Every form a harness reads data in is a fingerprint input: editing what a cell reads reruns it, and only it.</summary>
[TestClass]
public sealed class SuiteInputsTests
{
    private const string Commit1 = "1111111111111111111111111111111111111111";
    private const string Commit2 = "2222222222222222222222222222222222222222";

    private static DeclaredItem Suite(string name, params (string Key, string Value)[] metadata) => CellPlannerTests.Item(name, metadata);

    /// <summary>Plans one model x the suite in <paramref name="project"/>, with the HF cache in <paramref name="hfCache"/>.</summary>
    private static BenchCell Plan(string project, DeclaredItem suite, string? hfCache = null)
    {
        var planner = new CellPlanner(new PlanOptions
        {
            ProjectDirectory = project,
            SdkVersion = "1.0.0",
            Environment = name => name == "HF_HUB_CACHE" ? hfCache ?? Path.Combine(project, "no-hf-cache") : null,
        }, new FileHashCache(null));
        Plan plan = planner.Plan([CellPlannerTests.Item("org/model")], [suite], []);
        Assert.IsFalse(plan.HasErrors, string.Join("; ", plan.Diagnostics.Select(d => d.Message)));
        return plan.Cells.Single();
    }

    private static string Describe(BenchCell cell) => CellFingerprint.Describe(cell.Model, cell.Suite, cell.Endpoint, "1.0.0", new FileHashCache(null));

    [TestMethod]
    public void TaskEqualsPathEntries_OfDataAndFewshotData_AreHashedFiles()
    {
        using var dir = new TempDirectory();
        dir.Write("data/arc.jsonl", "{\"q\": 1}\n");
        dir.Write("data/gsm8k_test.jsonl", "{\"q\": 2}\n");
        dir.Write("data/gsm8k_train.jsonl", "{\"q\": 3}\n");
        DeclaredItem suite = Suite("reasoning", ("Harness", "eval"), ("Tasks", "arc_easy;gsm8k"),
            ("Data", "arc_easy=data/arc.jsonl; gsm8k=data/gsm8k_test.jsonl"), ("FewshotData", "gsm8k=data/gsm8k_train.jsonl"));

        BenchCell cell = Plan(dir.Path, suite);
        CollectionAssert.AreEqual(new[] { dir.Combine("data", "arc.jsonl"), dir.Combine("data", "gsm8k_test.jsonl"), dir.Combine("data", "gsm8k_train.jsonl") },
            cell.Suite.DataFiles.ToArray());
        StringAssert.DoesNotMatch(Describe(cell), new System.Text.RegularExpressions.Regex("missing:"));

        foreach (string file in new[] { "data/arc.jsonl", "data/gsm8k_test.jsonl", "data/gsm8k_train.jsonl" })
        {
            string before = Plan(dir.Path, suite).Fingerprint;
            File.AppendAllText(dir.Combine(file), "{\"q\": 9}\n");
            Assert.AreNotEqual(before, Plan(dir.Path, suite).Fingerprint, $"editing {file} reruns the cell");
        }
    }

    [TestMethod]
    public void PathForEveryTask_AndGlobs_AreHashed_FileByFile()
    {
        using var dir = new TempDirectory();
        dir.Write("data/test-00000-of-00002.parquet", "PAR1a");
        dir.Write("data/test-00001-of-00002.parquet", "PAR1b");
        DeclaredItem suite = Suite("reasoning", ("Harness", "eval"), ("Tasks", "arc_easy"), ("Data", "data/test-*.parquet"));

        BenchCell cell = Plan(dir.Path, suite);
        CollectionAssert.AreEqual(new[] { dir.Combine("data", "test-00000-of-00002.parquet"), dir.Combine("data", "test-00001-of-00002.parquet") }, cell.Suite.DataFiles.ToArray());
        File.WriteAllText(dir.Combine("data", "test-00001-of-00002.parquet"), "PAR1c");
        Assert.AreNotEqual(cell.Fingerprint, Plan(dir.Path, suite).Fingerprint);
        Assert.AreEqual(Plan(dir.Path, suite).Fingerprint, Plan(dir.Path, suite).Fingerprint);
    }

    [TestMethod]
    public void HfReference_IsTheReference_PlusTheSnapshotTheCacheResolvesItTo()
    {
        using var dir = new TempDirectory();
        string cache = dir.Combine("hf");
        const string reference = "hf://datasets/allenai/ai2_arc/ARC-Easy/test-*.parquet";
        DeclaredItem suite = Suite("reasoning", ("Harness", "eval"), ("Tasks", "arc_easy"), ("Data", reference), ("FewshotData", "hf://datasets/allenai/ai2_arc@v1/ARC-Easy/train-*.parquet"));

        BenchCell uncached = Plan(dir.Path, suite, cache);
        CollectionAssert.AreEqual(new[] { reference, "hf://datasets/allenai/ai2_arc@v1/ARC-Easy/train-*.parquet" }, uncached.Suite.DataFiles.ToArray(), "not in the cache: the reference alone");

        string repo = Path.Combine(cache, "datasets--allenai--ai2_arc");
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Commit1, "ARC-Easy"));
        dir.Write("hf/datasets--allenai--ai2_arc/refs/main", Commit1);
        BenchCell cached = Plan(dir.Path, suite, cache);
        Assert.AreEqual($"{reference}#{Commit1}", cached.Suite.DataFiles[0]);
        Assert.AreEqual("hf://datasets/allenai/ai2_arc@v1/ARC-Easy/train-*.parquet", cached.Suite.DataFiles[1], "refs/v1 is not in the cache");

        // The branch moved (a newer snapshot was downloaded): the cell reruns.
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Commit2));
        dir.Write("hf/datasets--allenai--ai2_arc/refs/main", Commit2);
        BenchCell moved = Plan(dir.Path, suite, cache);
        Assert.AreEqual($"{reference}#{Commit2}", moved.Suite.DataFiles[0]);
        Assert.AreEqual(3, new[] { uncached.Fingerprint, cached.Fingerprint, moved.Fingerprint }.Distinct().Count());

        // A reference pinned to a commit names its content by itself, cached or not.
        DeclaredItem pinned = Suite("reasoning", ("Harness", "eval"), ("Tasks", "arc_easy"), ("Data", $"hf://datasets/allenai/ai2_arc@{Commit1}/ARC-Easy/test-*.parquet"));
        Assert.AreEqual($"hf://datasets/allenai/ai2_arc@{Commit1}/ARC-Easy/test-*.parquet", Plan(dir.Path, pinned, cache).Suite.DataFiles.Single());
        Assert.AreEqual(Plan(dir.Path, pinned, cache).Fingerprint, Plan(dir.Path, pinned, dir.Combine("elsewhere")).Fingerprint);
    }

    [TestMethod]
    public void ServingDatasetFile_IsHashed_WithOrWithoutData()
    {
        using var dir = new TempDirectory();
        dir.Write("prompts.jsonl", "{\"prompt\": \"hi\"}\n");
        DeclaredItem alone = Suite("throughput", ("Harness", "serving"), ("Dataset", "prompts.jsonl"));
        DeclaredItem listed = Suite("throughput", ("Harness", "serving"), ("Dataset", "prompts.jsonl"), ("Data", "prompts.jsonl"));

        CollectionAssert.AreEqual(new[] { dir.Combine("prompts.jsonl") }, Plan(dir.Path, alone).Suite.DataFiles.ToArray());
        CollectionAssert.AreEqual(new[] { dir.Combine("prompts.jsonl") }, Plan(dir.Path, listed).Suite.DataFiles.ToArray(), "one file, named twice");
        string before = Plan(dir.Path, alone).Fingerprint;
        File.AppendAllText(dir.Combine("prompts.jsonl"), "{\"prompt\": \"more\"}\n");
        Assert.AreNotEqual(before, Plan(dir.Path, alone).Fingerprint, "editing the Dataset file reruns the cell");
        Assert.IsEmpty(Plan(dir.Path, Suite("throughput", ("Harness", "serving"), ("Dataset", "random"))).Suite.DataFiles);
        Assert.IsEmpty(Plan(dir.Path, Suite("throughput", ("Harness", "serving"), ("Dataset", "shared-prefix"))).Suite.DataFiles);
    }

    [TestMethod]
    public void UserTaskFile_InTasks_IsHashed()
    {
        using var dir = new TempDirectory();
        dir.Write("tasks/capitals.yaml", "task: capitals\n");
        DeclaredItem suite = Suite("knowledge", ("Harness", "eval"), ("Tasks", "arc_easy;tasks/capitals.yaml"));

        BenchCell cell = Plan(dir.Path, suite);
        CollectionAssert.AreEqual(new[] { dir.Combine("tasks", "capitals.yaml") }, cell.Suite.DataFiles.ToArray());
        File.AppendAllText(dir.Combine("tasks", "capitals.yaml"), "num_fewshot: 1\n");
        Assert.AreNotEqual(cell.Fingerprint, Plan(dir.Path, suite).Fingerprint);
    }

    [TestMethod]
    public void DataEntryNamingNoFile_IsAWarning_AtPlanning()
    {
        using var dir = new TempDirectory();
        DeclaredItem suite = Suite("reasoning", ("Harness", "eval"), ("Tasks", "arc_easy"), ("Data", "arc_easy=data/arc.jsonl"), ("FewshotData", "data/none-*.jsonl"));
        Plan plan = new CellPlanner(new PlanOptions { ProjectDirectory = dir.Path, SdkVersion = "1.0.0" }, new FileHashCache(null))
            .Plan([CellPlannerTests.Item("org/model")], [suite], []);

        Assert.IsFalse(plan.HasErrors, "the cell is still planned: the harness reports what it cannot read");
        string[] warnings = plan.Diagnostics.Select(d => d.Text).ToArray();
        Assert.AreEqual(2, warnings.Length, string.Join("\n", warnings));
        StringAssert.StartsWith(warnings[0], "MLXB1020: BenchSuite \"reasoning\" has Data entry \"arc_easy=data/arc.jsonl\", but " + dir.Combine("data", "arc.jsonl"));
        StringAssert.Contains(warnings[1], "FewshotData entry \"data/none-*.jsonl\"");
    }
}
