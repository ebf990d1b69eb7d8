using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Harness.LmEval;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.LmEval;

/// <summary>The lm-eval runner against a fake <c>lm_eval</c> executable (a real process on PATH) that records its
/// arguments and writes a real lm-eval results file where lm-eval would.</summary>
[TestClass]
public sealed class LmEvalHarnessTests
{
    private const string FakeScript = """
        #!/bin/sh
        # A stand-in for lm_eval: --version answers like a real install; a run records its arguments and writes the
        # fixture where lm-eval writes results (<output_path>/<model_sanitized>/results_<date_id>.json).
        if [ "$1" = "--version" ]; then echo "lm_eval 0.4.9.1"; exit 0; fi
        printf '%s\n' "$@" > "$FAKE_LMEVAL_ARGS"
        out=""; prev=""
        for a in "$@"; do [ "$prev" = "--output_path" ] && out="$a"; prev="$a"; done
        mkdir -p "$out/gemma3__12b-u1"
        echo "Running generate_until requests"
        cp "$FAKE_LMEVAL_FIXTURE" "$out/gemma3__12b-u1/results_2025-09-09T13-31-53.431753.json"
        exit "${FAKE_LMEVAL_EXIT:-0}"
        """;

    private static BenchCell Cell(params (string Key, string Value)[] metadata) => new(
        new ModelSpec("gemma", "gemma3:12b-u1", null, null, null, "studio", new SortedDictionary<string, string>(StringComparer.Ordinal)),
        new SuiteSpec("reasoning", "reasoning", "lm-eval", null, "lm-eval", null, [],
            new SortedDictionary<string, string>(metadata.ToDictionary(m => m.Key, m => m.Value), StringComparer.Ordinal)),
        new EndpointSpec("studio", "http://127.0.0.1:11434/v1", new SortedDictionary<string, string>(StringComparer.Ordinal)),
        new string('a', 64));

    private static string InstallFake(TempDirectory temp)
    {
        string bin = temp.Combine("bin");
        Directory.CreateDirectory(bin);
        string script = Path.Combine(bin, "lm_eval");
        File.WriteAllText(script, FakeScript.Replace("\r\n", "\n") + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    [TestMethod]
    public async Task RunsLmEvalFromPathWithTheSuitesArgumentsAndConvertsItsResults()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("the fake lm_eval is a POSIX shell script");
        using var temp = new TempDirectory();
        string bin = InstallFake(temp);
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_ARGS", temp.Combine("args.txt"));
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_FIXTURE", SharedData.Fixture("lm-eval", "DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json"));
        var harness = new LmEvalHarness { PathVariable = () => bin + Path.PathSeparator + "/usr/bin:/bin" };
        var log = new StringWriter();
        string output = temp.Combine("raw", "results.json");
        Directory.CreateDirectory(temp.Combine("raw"));

        await harness.RunAsync(new HarnessRun(Cell(("Tasks", "gsm8k"), ("Limit", "100"), ("NumFewshot", "5"), ("Endpoint", "chat"),
            ("GenKwargs", "max_gen_toks=512,temperature=0"), ("Concurrency", "4")), output, log), CancellationToken.None);

        string[] args = File.ReadAllLines(temp.Combine("args.txt"));
        CollectionAssert.AreEqual(new[]
        {
            "--model", "local-chat-completions",
            "--model_args", "model=gemma3:12b-u1,base_url=http://127.0.0.1:11434/v1/chat/completions,num_concurrent=4,max_retries=3,tokenizer_backend=None",
            "--tasks", "gsm8k",
            "--output_path", temp.Combine("raw", "lm-eval"),
            "--limit", "100",
            "--num_fewshot", "5",
            "--gen_kwargs", "max_gen_toks=512,temperature=0",
            "--apply_chat_template",
            "--log_samples",
        }, args);

        string text = log.ToString();
        StringAssert.Contains(text, "lm-eval 0.4.9.1 at " + Path.Combine(bin, "lm_eval"));
        StringAssert.Contains(text, "MLXB7504: lm-eval 0.4.9.1 has a known problem with API models: 0.4.9 to 0.4.11 add \"type\": \"text\"");
        StringAssert.Contains(text, "Running generate_until requests", "lm_eval's output reaches the cell log");
        Assert.IsTrue(File.Exists(temp.Combine("raw", "lm-eval.log")));

        Envelope envelope = new LmEvalConverter().Convert(File.ReadAllText(output), new ConverterContext { Suite = "reasoning", Model = "gemma3:12b-u1", GitSha = "abc1234" });
        CollectionAssert.AreEqual(new[] { "exact_match_strict", "exact_match_flexible" }, envelope.Results.Select(r => r.Metric).ToArray());
        Assert.AreEqual(0.75, envelope.Results[0].Value);
        Assert.IsEmpty(SchemaValidator.Default.Validate(envelope));
    }

    [TestMethod]
    public async Task CompletionsSuitesUseLocalCompletionsAndTokenizerSettings()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("the fake lm_eval is a POSIX shell script");
        using var temp = new TempDirectory();
        string bin = InstallFake(temp);
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_ARGS", temp.Combine("args.txt"));
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_FIXTURE", SharedData.Fixture("lm-eval", "trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json"));
        var harness = new LmEvalHarness { PathVariable = () => "/usr/bin:/bin" };
        Directory.CreateDirectory(temp.Combine("raw"));
        await harness.RunAsync(new HarnessRun(Cell(("Tasks", "arc_easy;piqa"), ("LmEvalPath", Path.Combine(bin, "lm_eval")),
            ("TokenizerBackend", "remote"), ("LogSamples", "false")), temp.Combine("raw", "results.json"), TextWriter.Null), CancellationToken.None);
        string[] args = File.ReadAllLines(temp.Combine("args.txt"));
        CollectionAssert.AreEqual(new[]
        {
            "--model", "local-completions",
            "--model_args", "model=gemma3:12b-u1,base_url=http://127.0.0.1:11434/v1/completions,num_concurrent=1,max_retries=3,tokenizer_backend=remote",
            "--tasks", "arc_easy,piqa",
            "--output_path", temp.Combine("raw", "lm-eval"),
        }, args);
    }

    [TestMethod]
    public async Task MissingLmEvalIsACodedErrorThatSaysHowToInstallIt()
    {
        using var temp = new TempDirectory();
        var harness = new LmEvalHarness { PathVariable = () => temp.Path };
        var e = await Assert.ThrowsAsync<BenchException>(() => harness.RunAsync(new HarnessRun(Cell(("Tasks", "gsm8k")), temp.Combine("r.json"), TextWriter.Null), CancellationToken.None));
        Assert.AreEqual("MLXB7501", e.Diagnostic.Code);
        StringAssert.Contains(e.Diagnostic.Text, "pip install \"lm-eval[api]==0.4.11\"");
        var configured = await Assert.ThrowsAsync<BenchException>(() => harness.RunAsync(new HarnessRun(Cell(("Tasks", "gsm8k"), ("LmEvalPath", temp.Combine("nope"))), temp.Combine("r.json"), TextWriter.Null), CancellationToken.None));
        StringAssert.Contains(configured.Diagnostic.Text, "LmEvalPath=");
    }

    [TestMethod]
    public async Task AFailingLmEvalFailsTheCellWithItsLog()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("the fake lm_eval is a POSIX shell script");
        using var temp = new TempDirectory();
        string bin = InstallFake(temp);
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_ARGS", temp.Combine("args.txt"));
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_FIXTURE", SharedData.Fixture("lm-eval", "trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json"));
        Environment.SetEnvironmentVariable("FAKE_LMEVAL_EXIT", "3");
        try
        {
            var harness = new LmEvalHarness { PathVariable = () => bin };
            Directory.CreateDirectory(temp.Combine("raw"));
            var e = await Assert.ThrowsAsync<BenchException>(() => harness.RunAsync(new HarnessRun(Cell(("Tasks", "gsm8k")), temp.Combine("raw", "results.json"), TextWriter.Null), CancellationToken.None));
            Assert.AreEqual("MLXB7502", e.Diagnostic.Code);
            Assert.IsFalse(File.Exists(temp.Combine("raw", "results.json")), "no raw result from a failed run");
        }
        finally { Environment.SetEnvironmentVariable("FAKE_LMEVAL_EXIT", null); }
    }

    [TestMethod]
    [DataRow("0.4.3", false, "before 0.4.4")]
    [DataRow("0.4.11", true, "\"type\": \"text\"")]
    [DataRow("0.4.9.1", true, "twice per document")]
    public void KnownProblemsAreReportedForTheirVersions(string version, bool chat, string expected) =>
        Assert.IsTrue(LmEvalCommand.KnownProblems(version, chat).Any(p => p.Contains(expected)), string.Join(" | ", LmEvalCommand.KnownProblems(version, chat)));

    [TestMethod]
    public void NewerVersionsHaveNoneOfTheChatProblems() =>
        Assert.IsEmpty(LmEvalCommand.KnownProblems("0.4.13", chat: true));
}
