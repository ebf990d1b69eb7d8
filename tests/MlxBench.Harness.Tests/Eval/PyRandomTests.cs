using System.Numerics;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

[TestClass]
public sealed class PyRandomTests
{
    private static JsonNode Vectors() => JsonNode.Parse(File.ReadAllText(SharedData.RequireShared("tasks", "gsm8k_fewshot_rng_test_vectors.json")))!;

    [TestMethod]
    public void SampleCallsMatchCPythonFewshotVectors()
    {
        JsonNode v = Vectors();
        var random = new PyRandom((long)v["seed"]!);
        JsonArray calls = v["sample_calls"]!.AsArray();
        Assert.AreEqual(100, calls.Count);
        for (int call = 0; call < calls.Count; call++)
            CollectionAssert.AreEqual(calls[call]!.AsArray().Select(n => (int)n!).ToArray(),
                random.SampleIndices((int)v["population_size"]!, (int)v["k"]!), $"sample call #{call}");
    }

    [TestMethod]
    public void GetrandbitsAndRandomMatchCPythonVectors()
    {
        JsonNode v = Vectors();
        var bits = new PyRandom((long)v["seed"]!);
        foreach (JsonNode? expected in v["getrandbits32_first10"]!.AsArray())
            Assert.AreEqual((long)expected!, (long)bits.GetRandBits(32));
        var floats = new PyRandom((long)v["seed"]!);
        foreach (JsonNode? expected in v["random_first5"]!.AsArray())
            Assert.AreEqual((double)expected!, floats.Random());
    }

    // Values printed by CPython 3.11.7 for the same calls.
    [TestMethod]
    public void ShuffleChoicesBigSeedsAndNegativeSeedsMatchCPython()
    {
        var x = Enumerable.Range(0, 10).ToList();
        new PyRandom(7).Shuffle(x);
        CollectionAssert.AreEqual(new[] { 8, 3, 1, 4, 7, 0, 9, 6, 2, 5 }, x);

        var picks = new int[5];
        new PyRandom(0).Choices(Enumerable.Range(0, 1000).ToArray(), picks);
        CollectionAssert.AreEqual(new[] { 844, 757, 420, 258, 511 }, picks);

        var big = new PyRandom(BigInteger.Pow(2, 40) + 5);
        Assert.AreEqual(BigInteger.Parse("323130167403348955428"), big.GetRandBits(70));
        CollectionAssert.AreEqual(new[] { 0, 8, 9, 1 }, big.SampleIndices(10, 4), "pool method (n <= setsize)");
        CollectionAssert.AreEqual(new[] { 10, 17, 30, 83, 87, 31, 48, 93 }, big.SampleIndices(100, 8), "set method, k > 5");

        Assert.AreEqual(0.23796462709189137, new PyRandom(-3).Random(), "seed uses |a|");
    }

    [TestMethod]
    public void SampleLargerThanPopulationIsRejected() =>
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new PyRandom(1).SampleIndices(3, 4));
}
