using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Converters;

[TestClass]
public sealed class FrameworkEvalConverterTests
{
    private static readonly FrameworkEvalConverter s_converter = new();

    private static Envelope Convert(string text) => s_converter.Convert(text, Contexts.For("framework-eval", "mlx-community/Qwen3.5-9B-MLX-4bit"));

    private static string WithAnswer(string answer)
    {
        JsonObject raw = JsonNode.Parse(SharedData.ReadFixture("upstream", "framework_eval_sample.json"))!.AsObject();
        raw["answer"] = answer;
        return raw.ToJsonString();
    }

    [TestMethod]
    public void UpstreamSample_GivesScoreLatencyTokensAndSteps()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "framework_eval_sample.json"));

        CollectionAssert.AreEqual(
            new[] { "score 1 bool", "latency 8.43 seconds", "tokens 148 count", "steps 1 count" },
            envelope.Results.Select(r => $"{r.Metric} {r.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)} {r.Unit}").ToArray());
        Assert.IsTrue(envelope.Results.All(r => r.Name == "OpenAI tool-calling (baseline)"));
        Assert.IsTrue(envelope.Results.All(r => r.DurationSeconds == 8.43), "latency is also the duration");
        Assert.IsTrue(envelope.Results.All(r => r.Tags!["tool_calls"] == "1"));
        Assert.AreEqual("framework-eval", envelope.Suite);
        Assert.AreEqual("2026-05-04T12:30:15Z", envelope.Timestamp);
        Contracts.AssertValidUnderBoth(envelope, "the converted framework-eval sample");
    }

    [TestMethod]
    [DataRow("Error: connection refused")]
    [DataRow("(empty)")]
    [DataRow("(max steps reached)")]
    [DataRow("")]
    [DataRow("   ")]
    public void FailedAnswers_ScoreZero(string answer)
    {
        Assert.AreEqual(0.0, Convert(WithAnswer(answer)).Results.Single(r => r.Metric == "score").Value);
    }

    [TestMethod]
    public void AnswerMentioningAnErrorLaterOn_StillScoresOne()
    {
        Assert.AreEqual(1.0, Convert(WithAnswer("The file says: Error: none.")).Results.Single(r => r.Metric == "score").Value);
    }

    [TestMethod]
    public void MissingOptionalKeys_GiveFewerResults_AndAnUnknownFramework()
    {
        Envelope envelope = Convert("""{"answer": "The quick brown fox."}""");

        BenchmarkResult score = envelope.Results.Single();
        Assert.AreEqual("unknown", score.Name);
        Assert.AreEqual("score", score.Metric);
        Assert.IsNull(score.DurationSeconds);
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    [DataRow("{\"latency\": 1.0}", "\"framework\"")]
    [DataRow("[1]", "\"framework\"")]
    [DataRow("The quick brown fox", "not valid JSON")]
    public void OtherInput_IsRejected(string text, string expected)
    {
        StringAssert.Contains(Assert.ThrowsExactly<ConversionException>(() => Convert(text)).Message, expected);
    }
}
