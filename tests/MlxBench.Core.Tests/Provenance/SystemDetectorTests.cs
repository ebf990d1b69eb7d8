using MlxBench.Core.Envelopes;
using MlxBench.Core.Provenance;

namespace MlxBench.Core.Tests.Provenance;

[TestClass]
public sealed class SystemDetectorTests
{
    private const long GiB = 1L << 30;

    [TestMethod]
    [DataRow(24 * GiB, 24L)]
    [DataRow(16 * GiB - 100 * 1024 * 1024, 16L)]
    [DataRow(16 * GiB + GiB / 2 - 1, 16L)]
    [DataRow(16 * GiB + GiB / 2, 16L)]
    [DataRow(17 * GiB + GiB / 2, 18L)]
    [DataRow(128L * 1000 * 1000 * 1000, 119L)]
    [DataRow(0L, 0L)]
    public void MemoryGb_IsGiBRoundedAsPythonRounds(long bytes, long expected)
    {
        // Python's round() sends halves to the even neighbour; upstream rounds bytes / 1024**3 that way.
        Assert.AreEqual(expected, SystemDetector.MemoryGb(bytes));
    }

    [TestMethod]
    public void Detect_DescribesThisMachine()
    {
        SystemInfo system = new SystemDetector(new Dictionary<string, string?>()).Detect();

        Assert.IsFalse(string.IsNullOrWhiteSpace(system.Os));
        Assert.IsFalse(string.IsNullOrWhiteSpace(system.Chip));
        Assert.IsFalse(string.IsNullOrWhiteSpace(system.Kernel));
        Assert.IsNull(system.Runner);
        Assert.IsTrue(system.MemoryGb > 0);
        if (OperatingSystem.IsLinux())
        {
            Assert.AreEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), system.Kernel);
            string memTotal = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            long kib = long.Parse(memTotal.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.AreEqual((long)Math.Round(kib * 1024.0 / GiB, MidpointRounding.ToEven), system.MemoryGb);
            string pretty = File.ReadLines("/etc/os-release").First(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))["PRETTY_NAME=".Length..].Trim('"');
            Assert.AreEqual(pretty, system.Os);
        }
    }

    [TestMethod]
    public void Runner_ComesFromRunnerName_ThenTheRunnerLabel()
    {
        Assert.AreEqual("mac-mini-1", new SystemDetector(new Dictionary<string, string?> { ["RUNNER_NAME"] = "mac-mini-1", ["GITHUB_RUNNER_LABEL"] = "self-hosted" }).Detect().Runner);
        Assert.AreEqual("self-hosted", new SystemDetector(new Dictionary<string, string?> { ["RUNNER_NAME"] = "", ["GITHUB_RUNNER_LABEL"] = "self-hosted" }).Detect().Runner);
    }

    [TestMethod]
    public void DetectedSystem_IsValidUnderBothSchemas()
    {
        SystemInfo system = new SystemDetector(new Dictionary<string, string?> { ["RUNNER_NAME"] = "ci" }).Detect();
        string json = System.Text.Json.JsonSerializer.Serialize(system, EnvelopeJson.Options);
        string envelope = $$"""{"schema_version":"1","timestamp":"2026-05-04T12:00:00Z","git_sha":"abc1234","trigger":"local","suite":"reasoning","model":"m","system":{{json}},"results":[]}""";

        Contracts.AssertValidUnderBoth(envelope, "an envelope with the detected system");
    }

    [TestMethod]
    public void ExtraTags_NameTheSoftwareThatProducedTheResult()
    {
        IReadOnlyList<KeyValuePair<string, string>> tags = SystemDetector.ExtraTags("1.2.3");

        CollectionAssert.AreEqual(new[] { "mlxbench_version", "dotnet_version" }, tags.Select(t => t.Key).ToArray());
        Assert.AreEqual("1.2.3", tags[0].Value);
        Assert.AreEqual(Environment.Version.ToString(), tags[1].Value);
    }
}
