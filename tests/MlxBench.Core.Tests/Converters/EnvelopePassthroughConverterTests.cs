using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Converters;

[TestClass]
public sealed class EnvelopePassthroughConverterTests
{
    private static readonly EnvelopePassthroughConverter s_converter = new();

    private static Envelope Convert(string text, params (string, string)[] extraTags) =>
        s_converter.Convert(text, Contexts.For("knowledge", "ignored/by-passthrough", extraTags));

    [TestMethod]
    public void UpstreamValidEnvelope_IsKeptAsWritten_PlusTheCallersTags()
    {
        string text = SharedData.ReadFixture("upstream", "envelope.valid.json");

        Envelope envelope = Convert(text, ("bench_suite", "gsm8k-quick"));

        JsonObject expected = JsonNode.Parse(text)!.AsObject();
        expected["results"]![0]!["tags"]!["bench_suite"] = "gsm8k-quick";
        JsonNode actual = JsonNode.Parse(EnvelopeJson.Serialize(envelope))!;
        Assert.IsTrue(JsonNode.DeepEquals(expected, actual), actual.ToJsonString());
        Assert.AreEqual("reasoning", envelope.Suite, "a passthrough keeps the suite and model the command wrote");
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void LaterV1Envelope_KeepsEveryLaterField()
    {
        string text = SharedData.ReadFixture("upstream", "envelope.cluster.later.json");

        Envelope envelope = Convert(text);

        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse(text), JsonNode.Parse(EnvelopeJson.Serialize(envelope))), EnvelopeJson.Serialize(envelope));
        Assert.AreEqual("isolated", envelope.EnvClass);
        Assert.AreEqual(4L, envelope.Concurrency);
        Assert.IsEmpty(SchemaValidator.Default.Validate(envelope));
    }

    [TestMethod]
    public void ResultWithoutTags_GetsTheCallersTags()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "envelope.cluster.later.json"), ("harness", "command"));

        Assert.AreEqual("command", envelope.Results.Single().Tags!["harness"]);
    }

    [TestMethod]
    [DataRow("model")]
    [DataRow("system")]
    [DataRow("results")]
    [DataRow("trigger")]
    [DataRow("schema_version")]
    public void EnvelopeMissingARequiredField_IsRejected_NotFilledWithADefault(string field)
    {
        JsonObject raw = JsonNode.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"))!.AsObject();
        raw.Remove(field);

        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(raw.ToJsonString()));

        StringAssert.Contains(e.Message, field);
    }

    [TestMethod]
    [DataRow("system", "memory_gb")]
    [DataRow("system", "os")]
    [DataRow("results", "value")]
    [DataRow("results", "unit")]
    public void NestedRequiredFieldMissing_IsRejected(string parent, string field)
    {
        JsonObject raw = JsonNode.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"))!.AsObject();
        JsonObject holder = parent == "results" ? raw["results"]![0]!.AsObject() : raw[parent]!.AsObject();
        holder.Remove(field);

        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(raw.ToJsonString()));

        StringAssert.Contains(e.Message, field);
    }

    [TestMethod]
    [DataRow("{ \"schema_version\": \"1\",", "not a v1 envelope")]
    [DataRow("[]", "not a v1 envelope")]
    [DataRow("null", "not a v1 envelope")]
    public void NotAnEnvelope_IsAConversionException(string text, string expected)
    {
        StringAssert.Contains(Assert.ThrowsExactly<ConversionException>(() => Convert(text)).Message, expected);
    }

    [TestMethod]
    public void WrongTypes_AreAConversionException_NamingThePath()
    {
        string text = SharedData.ReadFixture("upstream", "envelope.valid.json").Replace("\"memory_gb\": 128", "\"memory_gb\": \"128\"");

        StringAssert.Contains(Assert.ThrowsExactly<ConversionException>(() => Convert(text)).Message, "memory_gb");
    }
}
