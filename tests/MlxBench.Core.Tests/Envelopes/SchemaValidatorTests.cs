using MlxBench.Core.Envelopes;
using System.Text.Json.Nodes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Envelopes;

[TestClass]
public sealed class SchemaValidatorTests
{
    private static SchemaValidator Upstream => Contracts.Upstream061;

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

    [TestMethod]
    public void UpstreamSchemasOwnExample_IsValidUnderOurs()
    {
        JsonNode example = JsonNode.Parse(SharedData.ReadFixture("upstream", "schema.v0.6.1.json"))!["examples"]![0]!;

        Contracts.AssertValidUnderBoth(example.ToJsonString(), "upstream schema.json's example");
        Assert.IsTrue(JsonNode.DeepEquals(example, JsonNode.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"))));
    }

    [TestMethod]
    public void UpstreamInvalidExample_GetsTheSameSevenErrorsUnderBothSchemas()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.invalid.json");

        string[] ours = SchemaValidator.Default.Validate(json).Select(e => $"{e.Path} {e.Kind}").ToArray();
        string[] theirs = Upstream.Validate(json).Select(e => $"{e.Path} {e.Kind}").ToArray();

        Assert.HasCount(7, ours);
        CollectionAssert.AreEqual(theirs, ours);
    }

    [TestMethod]
    public void LaterV1Envelope_FailsUpstream061_OnlyOnTheFieldsAddedLater()
    {
        IReadOnlyList<SchemaError> errors = Upstream.Validate(SharedData.ReadFixture("upstream", "envelope.cluster.later.json"));

        string[] added = ["env_class", "concurrency", "reasoning_effort", "serving", "topology", "decode_tokens_per_second"];
        Assert.IsTrue(errors.All(e => e.Kind == "NoAdditionalPropertiesAllowed"), string.Join("\n", errors));
        CollectionAssert.AreEquivalent(added, errors.Select(e => e.Message.Split('\'')[1]).ToArray(), string.Join("\n", errors));
    }

    [TestMethod]
    [DataRow("env_class", "\"shared\"")]
    [DataRow("concurrency", "0")]
    [DataRow("cell_status", "\"done\"")]
    [DataRow("serving", "{\"stack\": \"vllm\", \"port\": 8080}")]
    public void LaterV1Fields_AreCheckedAsUpstreamDefinedThem(string field, string value)
    {
        JsonObject json = JsonNode.Parse(SharedData.ReadFixture("upstream", "envelope.cluster.later.json"))!.AsObject();
        json[field] = JsonNode.Parse(value);

        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(json.ToJsonString());

        Assert.IsTrue(errors.Count > 0 && errors.All(e => e.Path.StartsWith("$." + field, StringComparison.Ordinal)), string.Join("\n", errors));
    }

    [TestMethod]
    public void UnknownTopLevelField_IsRejected_AsUpstreamRejectsIt()
    {
        string json = SharedData.ReadFixture("upstream", "envelope.valid.json").Replace("\"errors\": []", "\"errors\": [], \"harness\": \"command\"");

        SchemaError error = SchemaValidator.Default.Validate(json).Single();

        Assert.AreEqual("NoAdditionalPropertiesAllowed", error.Kind);
        StringAssert.Contains(error.Message, "harness");
    }

    [TestMethod]
    [DataRow("2026-04-24T18:30:00Z", true)]
    [DataRow("2026-04-24T18:30:00.123456Z", true)]
    [DataRow("2026-04-24T18:30:00+02:00", true)]
    [DataRow("2026-04-24t18:30:00z", true)]
    [DataRow("2026-04-24T18:30:00", false)]
    [DataRow("2026-04-24 18:30:00Z", false)]
    [DataRow("2026-02-30T00:00:00Z", false)]
    [DataRow("2026-04-24T25:00:00Z", false)]
    [DataRow("1766640000", false)]
    public void Timestamp_MustBeAnRfc3339DateTime(string timestamp, bool valid)
    {
        string json = System.Text.RegularExpressions.Regex.Replace(
            SharedData.ReadFixture("upstream", "envelope.valid.json"), "\"timestamp\": \"[^\"]*\"", $"\"timestamp\": \"{timestamp}\"");

        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(json);

        Assert.AreEqual(valid, errors.Count == 0, string.Join("\n", errors));
        Assert.AreEqual(valid, Upstream.Validate(json).Count == 0, "same verdict under upstream's schema");
    }

    [TestMethod]
    public void ValidatingATypedEnvelope_SeesWhatWouldBeWritten()
    {
        Envelope envelope = EnvelopeJson.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"));
        envelope.Results[0].WithTag("count", "3");
        Assert.IsEmpty(SchemaValidator.Default.Validate(envelope));

        envelope.Suite = "gsm8k";

        Assert.AreEqual("$.suite", SchemaValidator.Default.Validate(envelope).Single().Path);
    }
}
