using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Hub;

/// <summary>Envelopes made from real harness output in <c>shared/fixtures</c> by our converters, as Bench makes them.</summary>
internal static class FixtureEnvelopes
{
    public static readonly SystemInfo System = new() { Os = "Debian GNU/Linux 12 (bookworm)", Chip = "AMD EPYC 7B13", MemoryGb = 24 };

    /// <summary>gsm8k (lm-eval 0.4.9.1), truthfulqa_mc1 (lm-eval 0.4.9) and a <c>vllm bench serve</c> run, three suites.</summary>
    public static IReadOnlyList<Envelope> Three(string gitSha = "d5a124d", string timestamp = "2026-11-20T10:00:00Z") =>
    [
        Convert("lm-eval", "lm-eval/DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json", "reasoning", "ggml-org/stories260K", gitSha, timestamp),
        Convert("lm-eval", "lm-eval/trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json", "knowledge", "RedHatAI/Mistral-Small-3.1-24B-Instruct-2503-quantized.w4a16", gitSha, timestamp),
        Convert("vllm", "serving/er0080_vllm-benchmarking__bench_serve_v0.25.1.json", "throughput", "facebook/opt-125m", gitSha, timestamp),
    ];

    public static Envelope Convert(string kind, string fixture, string suite, string model, string gitSha, string timestamp, params KeyValuePair<string, string>[] tags)
    {
        if (!ResultConverters.TryGet(kind, out IResultConverter converter)) throw new InvalidOperationException(kind);
        string[] parts = fixture.Split('/');
        return converter.Convert(SharedData.ReadFixture(parts), new ConverterContext
        {
            Suite = suite,
            Model = model,
            GitSha = gitSha,
            TimestampOverride = timestamp,
            System = System,
            ExtraTags = tags,
        });
    }

    public static async Task<IReadOnlyList<Shard>> ShardsAsync(IEnumerable<Envelope> envelopes)
    {
        var shards = new List<Shard>();
        foreach (Envelope envelope in envelopes) shards.Add(await ShardWriter.WriteAsync(envelope));
        return shards;
    }
}
