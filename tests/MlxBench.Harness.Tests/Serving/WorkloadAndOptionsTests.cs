using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Workloads;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Serving;

[TestClass]
public sealed class WorkloadAndOptionsTests
{
    private static ServingOptions Parse(Dictionary<string, string> metadata, string? directory = null) =>
        ServingOptions.Parse(new SuiteSpec("throughput", "throughput", "serving", null, "vllm", null, [], new SortedDictionary<string, string>(metadata)), directory ?? Path.GetTempPath());

    [TestMethod]
    public void Sweep_IsEveryConcurrencyTimesEveryRate()
    {
        ServingOptions o = Parse(new() { ["concurrency"] = "1; 4;16", ["RequestRate"] = "inf;10.5", ["Goodput"] = "ttft:200;tpot:50" });
        CollectionAssert.AreEqual(
            new[] { "concurrency=1,rate=inf", "concurrency=1,rate=10.5", "concurrency=4,rate=inf", "concurrency=4,rate=10.5", "concurrency=16,rate=inf", "concurrency=16,rate=10.5" },
            o.Levels.Select(l => l.Label).ToArray());
        Assert.AreEqual(new GoodputSlo(200, 50, null), o.Goodput);
        Assert.AreEqual(new[] { "concurrency=unlimited,rate=inf" }.Single(), Parse([]).Levels.Single().Label);
        Assert.IsTrue(Parse([]).EffectiveIgnoreEos, "synthetic prompts ignore EOS by default, as vLLM forces for random");
    }

    [TestMethod]
    [DataRow("Concurrency", "0")]
    [DataRow("Concurrency", "four")]
    [DataRow("RequestRate", "-1")]
    [DataRow("Burstiness", "0")]
    [DataRow("RangeRatio", "1")]
    [DataRow("Endpoint", "embeddings")]
    [DataRow("Goodput", "latency:3")]
    [DataRow("Stream", "yes")]
    [DataRow("Percentiles", "101")]
    public void BadMetadata_IsAnErrorNamingTheKey(string key, string value)
    {
        var e = Assert.ThrowsExactly<BenchException>(() => Parse(new() { [key] = value }));
        Assert.AreEqual("MLXB6002", e.Diagnostic.Code);
        StringAssert.Contains(e.Message, $"{key}=\"{value}\"");
    }

    [TestMethod]
    public void Dataset_IsBuiltInOrAJsonlFileBesideTheProject()
    {
        using var temp = new TempDirectory();
        temp.Write("data/prompts.jsonl", "{\"prompt\":\"hi\"}\n");
        ServingOptions jsonl = Parse(new() { ["Dataset"] = "data/prompts.jsonl" }, temp.Path);
        Assert.AreEqual(DatasetKind.Jsonl, jsonl.Dataset);
        Assert.AreEqual("jsonl:prompts.jsonl", jsonl.WorkloadName);
        Assert.AreEqual(DatasetKind.SharedPrefix, Parse(new() { ["Dataset"] = "shared-prefix", ["InputTokens"] = "100" }).Dataset);
        Assert.AreEqual("MLXB6003", Assert.ThrowsExactly<BenchException>(() => Parse(new() { ["Dataset"] = "nope.jsonl" }, temp.Path)).Diagnostic.Code);
        Assert.AreEqual("MLXB6002", Assert.ThrowsExactly<BenchException>(() => Parse(new() { ["Dataset"] = "shared-prefix", ["InputTokens"] = "10", ["PrefixTokens"] = "10" })).Diagnostic.Code);
    }

    [TestMethod]
    public void RandomPrompts_HaveVllmsLengths_DistinctOffsets_AndAreSeeded()
    {
        int[] pool = Enumerable.Range(100, 50).ToArray();
        ServingPrompt[] prompts = SyntheticPrompts.Random(500, inputTokens: 20, outputTokens: 10, rangeRatio: 0.5, pool, seed: 3);

        Assert.IsTrue(prompts.All(p => p.TokenIds!.Length is >= 10 and <= 30 && p.PromptTokens == p.TokenIds.Length));
        Assert.IsTrue(prompts.All(p => p.OutputTokens is >= 5 and <= 15));
        Assert.IsTrue(prompts.Select(p => p.TokenIds!.Length).Distinct().Count() > 15, "lengths spread over the range");
        Assert.IsTrue(prompts.All(p => p.TokenIds!.All(pool.Contains)));
        // Consecutive ids within a prompt walk the pool: (offset + i + j) mod |pool|.
        int[] first = prompts[0].TokenIds!;
        Assert.IsTrue(first.Zip(first.Skip(1)).All(t => Array.IndexOf(pool, t.Second) == (Array.IndexOf(pool, t.First) + 1) % pool.Length));
        Assert.IsTrue(prompts.Select(p => p.TokenIds![0]).Distinct().Count() > 40, "random offsets: prompts do not share a prefix");
        CollectionAssert.AreEqual(first, SyntheticPrompts.Random(500, 20, 10, 0.5, pool, 3)[0].TokenIds);
        Assert.IsTrue(SyntheticPrompts.Random(3, 8, 4, 0, pool, 3).All(p => p.TokenIds!.Length == 8 && p.OutputTokens == 4), "range ratio 0: exact lengths");
    }

    [TestMethod]
    public void SharedPrefixPrompts_ShareOneOfTheirPrefixes()
    {
        ServingPrompt[] prompts = SyntheticPrompts.SharedPrefix(20, inputTokens: 30, prefixTokens: 20, prefixes: 4, outputTokens: 5, rangeRatio: 0, Enumerable.Range(0, 1000).ToArray(), seed: 1);
        Assert.IsTrue(prompts.All(p => p.TokenIds!.Length == 30));
        Assert.AreEqual(4, prompts.Select(p => string.Join(',', p.TokenIds!.Take(20))).Distinct().Count());
        Assert.AreEqual(20, prompts.Select(p => string.Join(',', p.TokenIds!.Skip(20))).Distinct().Count());
    }

    [TestMethod]
    public void TokenPool_DropsALeadingBosTheServerAdded()
    {
        CollectionAssert.AreEqual(new[] { 5, 6, 7 }, SyntheticPrompts.PoolFromTokens([1, 5, 6, 5, 7]));
        CollectionAssert.AreEqual(new[] { 5, 6, 7 }, SyntheticPrompts.PoolFromTokens([5, 6, 5, 7]));
    }

    [TestMethod]
    public void JsonlLines_AreCheckedWithTheirLineNumber()
    {
        using var temp = new TempDirectory();
        string good = temp.Write("good.jsonl", "{\"prompt\":\"a b\",\"max_tokens\":3}\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
        ServingPrompt[] prompts = JsonlPrompts.Read(good, 5, defaultOutputTokens: 7);
        CollectionAssert.AreEqual(new[] { 3, 7, 3, 7, 3 }, prompts.Select(p => p.OutputTokens).ToArray());
        Assert.IsNotNull(prompts[1].MessagesJson);

        string bad = temp.Write("bad.jsonl", "{\"prompt\":\"ok\"}\n\n{\"prompt\":[1,\"x\"]}\n");
        var e = Assert.ThrowsExactly<BenchException>(() => JsonlPrompts.Read(bad, 2, 7));
        Assert.AreEqual("MLXB6004", e.Diagnostic.Code);
        StringAssert.Contains(e.Message, "line 3");
        Assert.AreEqual("MLXB6009", Assert.ThrowsExactly<BenchException>(() => JsonlPrompts.Read(temp.Write("empty.jsonl", "\n"), 2, 7)).Diagnostic.Code);
    }
}
