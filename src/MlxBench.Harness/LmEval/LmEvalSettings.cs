using System.Globalization;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Harness.LmEval;

/// <summary>A suite's <c>Harness="lm-eval"</c> metadata, parsed once.</summary>
public sealed record LmEvalSettings
{
    public required IReadOnlyList<string> Tasks { get; init; }
    public string? Limit { get; init; }
    public int? NumFewshot { get; init; }
    public string? GenKwargs { get; init; }
    /// <summary><c>completions</c> → local-completions, <c>chat</c> → local-chat-completions.</summary>
    public bool Chat { get; init; }
    public bool ApplyChatTemplate { get; init; }
    public bool FewshotAsMultiturn { get; init; }
    public string? SystemInstruction { get; init; }
    public int Concurrency { get; init; } = 1;
    public string? LmEvalPath { get; init; }
    public string? Tokenizer { get; init; }
    public string? TokenizerBackend { get; init; }
    public string? TokenizedRequests { get; init; }
    /// <summary>Extra <c>--model_args</c> entries (<c>k=v,k=v</c>), appended last.</summary>
    public string? ModelArgs { get; init; }
    public bool LogSamples { get; init; } = true;
    public string? ServedModel { get; init; }

    public static LmEvalSettings Parse(SuiteSpec suite, ModelSpec? model = null)
    {
        IReadOnlyDictionary<string, string> m = suite.Metadata;
        string? Get(string key) => m.TryGetValue(key, out string? v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        BenchException Bad(string key, string reason) => new(BenchDiagnostic.Error("Eval.BadSetting", suite.Name, key, Get(key), reason));
        bool Bool(string key, bool fallback) => Get(key) is not { } t ? fallback : bool.TryParse(t, out bool b) ? b : throw Bad(key, "expected true or false");

        string[] tasks = (Get("Tasks") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (tasks.Length == 0) throw new BenchException(BenchDiagnostic.Error("Eval.NoTasks", suite.Name, "any task lm-eval knows"));
        string endpoint = Get("Endpoint") ?? "completions";
        if (endpoint is not ("completions" or "chat")) throw Bad("Endpoint", "expected completions or chat");
        if (Get("Limit") is { } limit && !(double.TryParse(limit, NumberStyles.Float, CultureInfo.InvariantCulture, out double l) && l > 0))
            throw Bad("Limit", "expected a positive number of documents (or a fraction below 1)");
        int? shots = null;
        if (Get("NumFewshot") is { } n)
            shots = int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : throw Bad("NumFewshot", "expected a whole number");
        int concurrency = 1;
        if (Get("Concurrency") is { } c && !(int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out concurrency) && concurrency >= 1))
            throw Bad("Concurrency", "expected a whole number of at least 1");
        return new LmEvalSettings
        {
            Tasks = tasks,
            Limit = Get("Limit"),
            NumFewshot = shots,
            GenKwargs = Get("GenKwargs"),
            Chat = endpoint == "chat",
            ApplyChatTemplate = Bool("ApplyChatTemplate", endpoint == "chat"),
            FewshotAsMultiturn = Bool("FewshotAsMultiturn", false),
            SystemInstruction = Get("SystemInstruction"),
            Concurrency = concurrency,
            LmEvalPath = Get("LmEvalPath"),
            Tokenizer = Get("Tokenizer"),
            TokenizerBackend = Get("TokenizerBackend"),
            TokenizedRequests = Get("TokenizedRequests"),
            ModelArgs = Get("ModelArgs"),
            LogSamples = Bool("LogSamples", true),
            ServedModel = model?.Metadata.GetValueOrDefault("ServedModel") is { Length: > 0 } served ? served : null,
        };
    }
}
