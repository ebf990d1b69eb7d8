using MlxBench.Core.Cells;
using MlxBench.Core.Fingerprints;
using MlxBench.Testing;
using static MlxBench.Core.Tests.Cells.CellPlannerTests;

namespace MlxBench.Core.Tests.Fingerprints;

[TestClass]
public sealed class CellFingerprintTests
{
    /// <summary>A small project on disk: a local model file and a task data file, two models and two suites.</summary>
    private sealed class Project : IDisposable
    {
        private readonly TempDirectory _dir = new("fp");

        public Project()
        {
            _dir.Write("models/tiny.gguf", "GGUF weights v1");
            _dir.Write("tasks/gsm8k.jsonl", "{\"question\": \"2+2\"}\n");
        }

        public string Path => _dir.Path;

        public List<(string Key, string Value)> ModelA { get; } = [("File", "models/tiny.gguf"), ("Revision", "a1b2c3d")];
        public List<(string Key, string Value)> ModelB { get; } = [("Quantization", "q4_0")];
        public List<(string Key, string Value)> Reasoning { get; } = [("Harness", "command"), ("Command", "run-eval"), ("Limit", "100"), ("Data", "tasks/gsm8k.jsonl")];
        public List<(string Key, string Value)> Throughput { get; } = [("Harness", "command"), ("Command", "run-serving"), ("Concurrency", "1;4")];
        public string SdkVersion { get; set; } = "1.0.0";

        public void Write(string relative, string text) => _dir.Write(relative, text);

        /// <summary>Fingerprints by cell id, from a fresh planner and hash cache, as a new build would compute them.</summary>
        public Dictionary<string, string> Fingerprints(bool reverseMetadata = false)
        {
            IEnumerable<(string, string)> Order(List<(string, string)> m) => reverseMetadata ? Enumerable.Reverse(m) : m;
            Plan plan = Plan(
                [Item("org/a", [.. Order(ModelA)]), Item("org/b", [.. Order(ModelB)])],
                [Item("reasoning", [.. Order(Reasoning)]), Item("throughput", [.. Order(Throughput)])],
                projectDirectory: Path, sdkVersion: SdkVersion);
            Assert.IsFalse(plan.HasErrors, string.Join("\n", plan.Diagnostics));
            return plan.Cells.ToDictionary(c => c.Id, c => c.Fingerprint);
        }

        public void Dispose() => _dir.Dispose();
    }

    private static string[] Changed(Dictionary<string, string> before, Dictionary<string, string> after) =>
        before.Keys.Where(id => before[id] != after[id]).Order(StringComparer.Ordinal).ToArray();

    private static readonly string[] s_all = ["reasoning/org/a", "reasoning/org/b", "throughput/org/a", "throughput/org/b"];

    [TestMethod]
    public void SameProject_GivesTheSameFingerprints_WhateverTheMetadataOrder()
    {
        using var project = new Project();

        Dictionary<string, string> first = project.Fingerprints();

        CollectionAssert.AreEqual(first, project.Fingerprints());
        CollectionAssert.AreEqual(first, project.Fingerprints(reverseMetadata: true));
    }

    [TestMethod]
    public void ProjectCopiedElsewhere_KeepsItsFingerprints()
    {
        using var project = new Project();
        using var copy = new Project();

        CollectionAssert.AreEqual(project.Fingerprints(), copy.Fingerprints(), "a checkout in another folder or on another machine is the same benchmark");
    }

    [TestMethod]
    public void SuiteMetadataChange_ChangesOnlyThatSuitesCells()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Reasoning[2] = ("Limit", "200");

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "reasoning/org/b" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void AddedSuiteMetadata_ChangesThatSuitesCells()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Throughput.Add(("InputTokens", "256"));

        CollectionAssert.AreEqual(new[] { "throughput/org/a", "throughput/org/b" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void ModelMetadataChange_ChangesOnlyThatModelsCells()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.ModelB[0] = ("Quantization", "q8_0");

        CollectionAssert.AreEqual(new[] { "reasoning/org/b", "throughput/org/b" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void ModelRevisionChange_ChangesThatModelsCells()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.ModelA[1] = ("Revision", "e4f5a6b");

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "throughput/org/a" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void ModelFileContentChange_ChangesThatModelsCells()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Write("models/tiny.gguf", "GGUF weights v2");

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "throughput/org/a" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void DataFileContentChange_ChangesTheCellsOfTheSuiteReadingIt()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Write("tasks/gsm8k.jsonl", "{\"question\": \"2+3\"}\n");

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "reasoning/org/b" }, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void SdkVersionChange_ChangesEveryCell()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.SdkVersion = "1.0.1";

        CollectionAssert.AreEqual(s_all, Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void HarnessVersionChange_ChangesTheFingerprint()
    {
        using var project = new Project();
        BenchCell cell = Plan([Item("org/a")], [Item("reasoning", ("Harness", "command"), ("Command", "x"))], projectDirectory: project.Path).Cells.Single();
        var hashes = new FileHashCache(null);

        string v1 = CellFingerprint.Describe(cell.Model, cell.Suite, null, "1.0.0", hashes, harnessVersion: "1");
        string v2 = CellFingerprint.Describe(cell.Model, cell.Suite, null, "1.0.0", hashes, harnessVersion: "2");

        Assert.AreEqual(cell.Fingerprint, CellFingerprint.Hash(v1), "the planner fingerprints the registered harness version");
        Assert.AreNotEqual(CellFingerprint.Hash(v1), CellFingerprint.Hash(v2));
        StringAssert.Contains(v1, "\"harness\":{\"name\":\"command\",\"version\":\"1\"}");
    }

    [TestMethod]
    public void EndpointChange_ChangesTheCellsOfModelsUsingIt()
    {
        using var project = new Project();
        project.ModelB.Add(("Endpoint", "studio"));
        Dictionary<string, string> Fingerprints(string url) => Plan(
            [Item("org/a", [.. project.ModelA]), Item("org/b", [.. project.ModelB])],
            [Item("reasoning", [.. project.Reasoning])],
            [Item("studio", ("BaseUrl", url))], projectDirectory: project.Path).Cells.ToDictionary(c => c.Id, c => c.Fingerprint);

        CollectionAssert.AreEqual(new[] { "reasoning/org/b" }, Changed(Fingerprints("http://127.0.0.1:8080/v1"), Fingerprints("http://127.0.0.1:9090/v1")));
    }

    [TestMethod]
    public void SelectionOnlyMetadata_DoesNotRerunCellsThatAlreadyRan()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Reasoning.Add(("Models", "org/a;org/b"));
        project.Reasoning.Add(("Timeout", "600"));
        project.Reasoning.Add(("CompareThreshold", "0.1"));

        Assert.IsEmpty(Changed(before, project.Fingerprints()), "adding a model to a suite, raising its timeout or its regression threshold changes no result");
    }

    [TestMethod]
    public void UnrelatedFileChange_ChangesNothing()
    {
        using var project = new Project();
        Dictionary<string, string> before = project.Fingerprints();

        project.Write("README.md", "notes");
        project.Write("tasks/other.jsonl", "{}");

        Assert.IsEmpty(Changed(before, project.Fingerprints()));
    }

    [TestMethod]
    public void KnownFingerprint_StaysTheSameAcrossReleasesOfThisCode()
    {
        // The canonical document is the cache key of every user's results: changing its form reruns every cell.
        var model = new ModelSpec("m", "org/m", null, null, null, null, new SortedDictionary<string, string>(StringComparer.Ordinal));
        var suite = new SuiteSpec("reasoning", "reasoning", "command", "true", "envelope", null, [],
            new SortedDictionary<string, string>(StringComparer.Ordinal) { ["Harness"] = "command", ["Command"] = "true" });

        string canonical = CellFingerprint.Describe(model, suite, null, "1.0.0", new FileHashCache(null), harnessVersion: "1");

        Assert.AreEqual(
            """{"endpoint":null,"harness":{"name":"command","version":"1"},"model":{"file_sha256":null,"id":"org/m","metadata":{},"revision":null},"schema_version":"1","sdk_version":"1.0.0","suite":{"data_sha256":[],"metadata":{"Command":"true","Harness":"command"},"name":"reasoning"}}""",
            canonical);
    }

    [TestMethod]
    public void AModelFolder_IsFingerprintedByItsContent_NotJustItsPath()
    {
        using var project = new Project();
        project.Write("models/tiny-4bit/config.json", "{\"quantization\": {\"group_size\": 64, \"bits\": 4}}");
        project.Write("models/tiny-4bit/model.safetensors", "weights v1");
        project.ModelA.Clear();
        project.ModelA.Add(("File", "models/tiny-4bit"));
        Dictionary<string, string> before = project.Fingerprints();

        project.Write("models/tiny-4bit/model.safetensors", "weights v2");
        Dictionary<string, string> edited = project.Fingerprints();
        project.Write("models/tiny-4bit/tokenizer.json", "{}");
        Dictionary<string, string> added = project.Fingerprints();

        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "throughput/org/a" }, Changed(before, edited));
        CollectionAssert.AreEqual(new[] { "reasoning/org/a", "throughput/org/a" }, Changed(edited, added));
    }
}
