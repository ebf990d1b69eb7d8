using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests;

[TestClass]
public sealed class SchemaValidatorTests
{
    private static SchemaValidator Upstream => SchemaValidator.FromJson(SharedData.ReadFixture("upstream", "schema.v0.6.1.json"));

    [TestMethod]
    public void UpstreamValidExample_IsValid_UnderOursAndUpstreams()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.valid.json");
        CollectionAssert.AreEqual(Array.Empty<SchemaError>(), SchemaValidator.Default.Validate(json).ToArray());
        CollectionAssert.AreEqual(Array.Empty<SchemaError>(), Upstream.Validate(json).ToArray());
    }

    [TestMethod]
    public void UpstreamInvalidExample_GivesAllSevenErrors_WithTheirPaths()
    {
        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(SharedData.ReadFixture("upstream", "envelope.invalid.json"));

        string[] expected =
        [
            "$.git_sha StringTooShort",
            "$.git_sha PatternMismatch",
            "$.schema_version ConstMismatch",
            "$.suite NotInEnumeration",
            "$.system PropertyRequired",
            "$.timestamp DateTimeExpected",
            "$.trigger NotInEnumeration",
        ];
        CollectionAssert.AreEquivalent(expected, errors.Select(e => $"{e.Path} {e.Kind}").ToArray(), string.Join("\n", errors));
        StringAssert.Contains(errors.Single(e => e.Path == "$.system").Message, "memory_gb");
    }

    [TestMethod]
    public void SchemaVersionTwo_IsRejected_EvenWhenEverythingElseIsValid()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.valid.json").Replace("\"schema_version\": \"1\"", "\"schema_version\": \"2\"");

        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(json);

        Assert.AreEqual(1, errors.Count, string.Join("\n", errors));
        Assert.AreEqual("$.schema_version", errors[0].Path);
        StringAssert.Contains(errors[0].Message, "\"1\" was expected");
    }

    [TestMethod]
    public void LaterV1Envelope_IsValidUnderOurs_ButNotUnderUpstream061()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.cluster.later.json");

        Assert.AreEqual(0, SchemaValidator.Default.Validate(json).Count, string.Join("\n", SchemaValidator.Default.Validate(json)));
        Assert.IsTrue(Upstream.Validate(json).Count > 0);
    }

    [TestMethod]
    [DataRow("\"timestamp\": \"2026-04-24 18:30:00\"", "$.timestamp")]
    [DataRow("\"trigger\": \"nightly\"", "$.trigger")]
    [DataRow("\"git_sha\": \"not-hex!\"", "$.git_sha")]
    public void EachKindOfViolation_IsReportedAtItsPath(string replacement, string path)
    {
        string key = replacement[..replacement.IndexOf(':')];
        string json = System.Text.RegularExpressions.Regex.Replace(
            SharedData.ReadFixture("upstream", "envelope.valid.json"), key + @": ""[^""]*""", replacement);

        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(json);

        Assert.IsTrue(errors.Count > 0 && errors.All(e => e.Path == path), string.Join("\n", errors));
    }

    [TestMethod]
    public void NestedViolations_ReportTheirFullPath()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.valid.json").Replace("\"n_limit\": \"10\"", "\"n_limit\": 10");

        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(json);

        Assert.AreEqual(1, errors.Count, string.Join("\n", errors));
        StringAssert.StartsWith(errors[0].Path, "$.results[0].tags");
    }

    [TestMethod]
    public void NotJson_IsOneErrorAtTheRoot()
    {
        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate("{ not json");

        Assert.AreEqual("$", errors.Single().Path);
    }

    [TestMethod]
    public void EmbeddedSchema_IsTheRepositorySchemaJson()
    {
        Assert.AreEqual(File.ReadAllText(Path.Combine(SharedData.RepoRoot, "schema.json")), SchemaValidator.ReadEmbeddedSchema());
    }
}
