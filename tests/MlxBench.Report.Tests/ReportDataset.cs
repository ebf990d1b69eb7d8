using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Core.Sinks;
using MlxBench.Core.Tests.Hub;

namespace MlxBench.Report.Tests;

/// <summary>
/// The report's test dataset: shards our Publish writes (FolderSink over envelopes our converters make from real
/// harness output in shared/fixtures), plus upstream-written history in both legacy forms. What the page must then
/// show is spelled out in <see cref="Expected"/>.
/// </summary>
internal static class ReportDataset
{
    public const string Ours = "2026-11-20T10:00:00Z";
    public const string Older = "2026-09-01T08:00:00Z";
    public const string Old = "2026-10-01T08:00:00Z";

    public const string Qwen35 = "mlx-community/Qwen3.5-9B-MLX-4bit";
    public const string Qwen36 = "mlx-community/Qwen3.6-8B-4bit";

    /// <summary>Numbers the page must show, from the fixtures and the legacy rows below.</summary>
    public static class Expected
    {
        public const double Qwen35LatestFlexible = 0.7;   // upstream lm_eval_results_sample.json, our shard (latest)
        public const double Qwen36Flexible = 0.85;        // legacy nested shard
        public const double StoriesGsm8kFlexible = 0.78;  // DanielKluev gsm8k, exact_match,flexible-extract
        public static readonly double[] Qwen35Trend = [0.6, 0.65, 0.7];
        public const double OptOutputThroughput = 82.89297074037474; // er0080 bench serve, max_concurrency 2
        public static readonly double[] QwenSweepConcurrency = [1, 4, 16];
    }

    public static async Task<int> WriteAsync(string root)
    {
        var sink = new FolderSink(root);
        Envelope[] ours =
        [
            FixtureEnvelopes.Convert("lm-eval", "lm-eval/DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json", "reasoning", "ggml-org/stories260K", "d5a124d", Ours),
            FixtureEnvelopes.Convert("lm-eval", "upstream/lm_eval_results_sample.json", "reasoning", Qwen35, "d5a124d", Ours),
            FixtureEnvelopes.Convert("lm-eval", "lm-eval/trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json", "knowledge", "RedHatAI/Mistral-Small-3.1-24B-Instruct-2503-quantized.w4a16", "d5a124d", Ours),
            FixtureEnvelopes.Convert("vllm", "serving/er0080_vllm-benchmarking__bench_serve_v0.25.1.json", "throughput", "facebook/opt-125m", "d5a124d", Ours),
        ];
        IReadOnlyList<Shard> shards = await FixtureEnvelopes.ShardsAsync(ours);
        await sink.AddAsync(shards, CancellationToken.None);

        string data = Path.Combine(root, "data");
        await LegacyShards.WriteFlatAsync(Path.Combine(data, "run-2026-09-01T08-00-00-aaa3ff3-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-1a2b3c4d.parquet"),
            Older, "aaa3ff3", "reasoning", Qwen35,
            [new("gsm8k_cot_zeroshot", "exact_match_flexible", 0.6, "ratio", new Dictionary<string, string> { ["lm_eval_key"] = "exact_match,flexible-extract", ["n_limit"] = "10" }),
             new("gsm8k_cot_zeroshot", "exact_match_strict", 0.4, "ratio", new Dictionary<string, string> { ["lm_eval_key"] = "exact_match,strict-match", ["n_limit"] = "10" })]);
        await LegacyShards.WriteFlatAsync(Path.Combine(data, "run-2026-10-01T08-00-00-7ef5a4d-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-5e6f7a8b.parquet"),
            Old, "7ef5a4d", "reasoning", Qwen35,
            [new("gsm8k_cot_zeroshot", "exact_match_flexible", 0.65, "ratio")]);
        await LegacyShards.WriteNestedAsync(Path.Combine(data, "run-canonical-run-2026-10-01T08-00-00-7ef5a4d-reasoning-mlx-community-qwen3-6-8b-4bit-9c0d1e2f.parquet"),
            Old, "7ef5a4d", "reasoning", Qwen36,
            [new("gsm8k_cot_zeroshot", "exact_match_flexible", 0.85, "ratio"),
             new("gsm8k_cot_zeroshot", "exact_match_flexible", 0.99, "ratio", Skipped: true)]);
        Dictionary<string, string> At(int c) => new() { ["concurrency"] = c.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await LegacyShards.WriteNestedAsync(Path.Combine(data, "run-canonical-run-2026-10-01T08-00-00-7ef5a4d-throughput-mlx-community-qwen3-6-8b-4bit-3a4b5c6d.parquet"),
            Old, "7ef5a4d", "throughput", Qwen36,
            [new("benchmark_serving", "throughput_output_toks_per_s", 40, "tok/s", At(1)),
             new("benchmark_serving", "throughput_output_toks_per_s", 120, "tok/s", At(4)),
             new("benchmark_serving", "throughput_output_toks_per_s", 260, "tok/s", At(16)),
             new("benchmark_serving", "ttft_p50_ms", 80, "ms", At(1)),
             new("benchmark_serving", "ttft_p99_ms", 120, "ms", At(1)),
             new("benchmark_serving", "ttft_p50_ms", 140, "ms", At(4)),
             new("benchmark_serving", "ttft_p99_ms", 260, "ms", At(4)),
             new("benchmark_serving", "ttft_p50_ms", 420, "ms", At(16)),
             new("benchmark_serving", "ttft_p99_ms", 900, "ms", At(16))]);
        return shards.Count + 4;
    }
}
