using System.IO.Compression;
using System.Text;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Hub;

/// <summary>
/// Bench then Publish of a small .benchproj through a real <c>dotnet build</c> (out of process, the SDK imported from
/// source, the task assembly freshly built) against the fake Hub: what a user runs, with the token in the environment.
/// </summary>
[TestClass]
public sealed class PublishThroughMsBuildTests
{
    private const string Canary = "hf_canaryZq8Xv3Lm5Np2Rt7Ws9Yb4Kd6Fh1Gj0Ce";
    private const string RepoId = "acme/llm-bench";

    [TestMethod]
    [Timeout(300_000)]
    public async Task BenchAndPublish_WithTheTokenInTheEnvironment_LeakItNowhere_AndRepublishAddsNothing()
    {
        string tasks = TasksAssembly();
        await using FakeHubServer server = await FakeHubServer.StartAsync(Canary);
        server.CreateDataset(RepoId);
        using var project = new TempDirectory("hub-e2e");
        string projectFile = WriteProject(project, tasks);
        var env = new Dictionary<string, string?> { ["HF_TOKEN"] = Canary, ["HF_ENDPOINT"] = server.Endpoint.AbsoluteUri.TrimEnd('/') };
        const string probe = "LeakProbe7c1d";

        // 1. Bench + Publish, with a binary log, through a rate limit, a dropped upload and a server error.
        server.Faults.Add(new StatusFault(HubOperation.Revision, 429, RetryAfter: "1"))
            .Add(new DropMidBodyFault(HubOperation.LfsUpload))
            .Add(new StatusFault(HubOperation.Commit, 500));
        string binlog = project.Combine("publish.binlog");
        (int exit, string output) = await BuildAsync(projectFile, ["-t:Bench;Publish", $"-bl:{binlog}", $"-p:LeakProbe={probe}"], env);
        Assert.AreEqual(0, exit, output);
        Assert.AreEqual(0, server.Faults.Pending, "every fault was hit");
        foreach (string operation in (string[])["\"revision\"", "\"LFS upload of data/run-", "\"commit\""])
            StringAssert.Contains(output, $"warning MLXB3109: Hub request {operation}", output);
        StringAssert.Contains(output, $"-> {server.Endpoint.AbsoluteUri.TrimEnd('/')}/datasets/{RepoId} (3 added, 0 already present)", output);
        HubCommit[] history = server.Read(() => server.Repo(RepoId).History("main").ToArray());
        Assert.AreEqual(2, history.Length, output);
        Assert.AreEqual(3, history[0].AddedPaths.Count(p => p.StartsWith("data/run-", StringComparison.Ordinal)));
        Assert.IsTrue(history[0].AddedPaths.All(p => history[0].Tree[p].LfsOid is not null), "shards are LFS files");

        // 2. Publish again: nothing new, every shard Present.
        (exit, output) = await BuildAsync(projectFile, ["-t:Publish", $"-bl:{project.Combine("again.binlog")}"], env);
        Assert.AreEqual(0, exit, output);
        StringAssert.Contains(output, "(0 added, 3 already present)", output);
        Assert.AreEqual(2, server.Read(() => server.Repo(RepoId).History("main").Count()));

        // 3. Dry run without a token: planned, and not one request.
        int requests = server.Requests.Count;
        (exit, output) = await BuildAsync(projectFile, ["-t:Publish", "-p:BenchDryRun=true"], new() { ["HF_ENDPOINT"] = env["HF_ENDPOINT"] });
        Assert.AreEqual(0, exit, output);
        StringAssert.Contains(output, "dry run: 3 shard(s) planned", output);
        Assert.AreEqual(requests, server.Requests.Count, "a dry run touches no network");

        // 4. No token: a coded error, no request.
        (exit, output) = await BuildAsync(projectFile, ["-t:Publish"], new() { ["HF_ENDPOINT"] = env["HF_ENDPOINT"] });
        Assert.AreNotEqual(0, exit);
        StringAssert.Contains(output, "MLXB3101", output);

        // 5. The token is nowhere: console output, binary logs (decompressed, and the project files they embed),
        //    envelopes, raw files and logs under the project, and the shards on the Hub.
        byte[] decompressed = Decompress(binlog);
        Assert.IsTrue(Contains(decompressed, Encoding.UTF8.GetBytes(probe)), "control: a property value is findable in the decompressed binlog");
        IReadOnlyList<(string Name, byte[] Bytes)> embedded = EmbeddedFiles(decompressed);
        Assert.IsTrue(embedded.Any(e => e.Name.EndsWith("models.benchproj", StringComparison.Ordinal)), "control: the binlog embeds the project: " + string.Join(", ", embedded.Select(e => e.Name)));

        var haystacks = new List<(string Where, byte[] Bytes)> { ("console output", Encoding.UTF8.GetBytes(_transcript.ToString())) };
        foreach (string log in Directory.GetFiles(project.Path, "*.binlog"))
            haystacks.Add((log, Decompress(log)));
        haystacks.AddRange(embedded.Select(e => ($"binlog entry {e.Name}", e.Bytes)));
        foreach (string file in Directory.GetFiles(project.Path, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".binlog", StringComparison.Ordinal)))
            haystacks.Add((file, File.ReadAllBytes(file)));
        Assert.IsTrue(haystacks.Count(h => h.Where.EndsWith("envelope.json", StringComparison.Ordinal)) == 3, "control: the three envelopes were searched");
        foreach (string path in history[0].AddedPaths)
            haystacks.Add(($"shard {path}", server.StoredObject(history[0].Tree[path].LfsOid!)!));

        string secret = Canary["hf_".Length..];
        foreach ((string where, byte[] bytes) in haystacks)
        {
            Assert.IsFalse(Contains(bytes, Encoding.UTF8.GetBytes(secret)), $"token found in {where}");
            Assert.IsFalse(Contains(bytes, Encoding.Unicode.GetBytes(secret)), $"token (UTF-16) found in {where}");
        }

        // Keep what was checked where eng/test.sh keeps its logs, for a person to look at.
        string logs = Path.Combine(SharedData.RepoRoot, "artifacts", "test-logs");
        Directory.CreateDirectory(logs);
        File.WriteAllText(Path.Combine(logs, "hub-publish-console.txt"), _transcript.ToString());
        File.Copy(binlog, Path.Combine(logs, "hub-publish.binlog"), overwrite: true);
    }

    private readonly StringBuilder _transcript = new();

    private async Task<(int Exit, string Output)> BuildAsync(string projectFile, string[] args, Dictionary<string, string?> environment)
    {
        (int exit, string output) = await Dotnet.BuildAsync(projectFile, args, environment);
        _transcript.AppendLine(output);
        return (exit, output);
    }

    private static string WriteProject(TempDirectory project, string tasksAssembly)
    {
        string fixtures = SharedData.RequireShared("fixtures");
        string sdk = Path.Combine(SharedData.RepoRoot, "Sdk");
        string Suite(string name, string fixture, string converter) =>
            $"""    <BenchSuite Include="{name}" Harness="command" Converter="{converter}" Command="cp '{Path.Combine(fixtures, fixture)}' &quot;$MLXBENCH_OUTPUT&quot;" />""";
        string xml = $"""
            <Project>
              <Import Project="{sdk}/Sdk.props" />
              <PropertyGroup>
                <MlxBenchTasksAssembly>{tasksAssembly}</MlxBenchTasksAssembly>
                <BenchDataset>hf://datasets/{RepoId}</BenchDataset>
                <BenchGitSha>d5a124d</BenchGitSha>
              </PropertyGroup>
              <ItemGroup>
                <BenchModel Include="ggml-org/stories260K" />
            {Suite("reasoning", "lm-eval/DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json", "lm-eval")}
            {Suite("knowledge", "lm-eval/trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json", "lm-eval")}
            {Suite("throughput", "serving/er0080_vllm-benchmarking__bench_serve_v0.25.1.json", "vllm")}
              </ItemGroup>
              <Import Project="{sdk}/Sdk.targets" />
            </Project>
            """;
        return project.Write("models.benchproj", xml);
    }

    /// <summary>The task assembly built with this test project (same configuration), with its dependencies beside it.</summary>
    private static string TasksAssembly()
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Name;
        string path = Path.Combine(SharedData.RepoRoot, "artifacts", "bin", "MlxBench.Tasks", configuration, "MlxBench.Tasks.dll");
        Assert.IsTrue(File.Exists(path), $"{path} is missing; the test project references MlxBench.Tasks so that it is built");
        return path;
    }

    private static byte[] Decompress(string binlog)
    {
        using var input = new GZipStream(File.OpenRead(binlog), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>The project-imports archive a binlog embeds is a zip blob inside the (decompressed) event stream.</summary>
    private static IReadOnlyList<(string Name, byte[] Bytes)> EmbeddedFiles(byte[] binlog)
    {
        var files = new List<(string, byte[])>();
        int start = IndexOf(binlog, "PK\u0003\u0004"u8.ToArray(), 0);
        while (start >= 0)
        {
            int end = IndexOf(binlog, "PK\u0005\u0006"u8.ToArray(), start);
            if (end < 0) break;
            int length = end + 22 + BitConverter.ToUInt16(binlog, end + 20) - start;
            try
            {
                using var zip = new ZipArchive(new MemoryStream(binlog, start, length), ZipArchiveMode.Read);
                foreach (ZipArchiveEntry entry in zip.Entries)
                {
                    using var content = new MemoryStream();
                    using (Stream s = entry.Open()) s.CopyTo(content);
                    files.Add((entry.FullName, content.ToArray()));
                }
            }
            catch (InvalidDataException)
            {
                // a "PK" that was not an archive: keep looking after it
            }
            start = IndexOf(binlog, "PK\u0003\u0004"u8.ToArray(), end);
        }
        return files;
    }

    private static bool Contains(byte[] haystack, byte[] needle) => IndexOf(haystack, needle, 0) >= 0;

    private static int IndexOf(byte[] haystack, byte[] needle, int from)
    {
        int i = haystack.AsSpan(from).IndexOf(needle);
        return i < 0 ? -1 : i + from;
    }
}
