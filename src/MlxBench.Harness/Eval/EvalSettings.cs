using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Harness.Eval;

/// <summary>A suite's <c>Harness="eval"</c> metadata, parsed once; every bad value is a coded error naming it.</summary>
public sealed record EvalSettings
{
    public required IReadOnlyList<string> Tasks { get; init; }
    /// <summary>lm-eval's <c>--limit</c>: a count, or a fraction of the split below 1.</summary>
    public double? Limit { get; init; }
    public int? NumFewshot { get; init; }
    /// <summary>Data per task name; the empty key applies to every task.</summary>
    public IReadOnlyDictionary<string, string> Data { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> FewshotData { get; init; } = new Dictionary<string, string>();
    public int Concurrency { get; init; } = 1;
    /// <summary>When FewshotData holds only some rows of a split, each with its 0-based <c>train_index</c>: the split's
    /// full size, so draws index the whole split as lm-eval's do (shared/tasks' GSM8K subset: 7473).</summary>
    public int? FewshotPoolSize { get; init; }
    public bool ApplyChatTemplate { get; init; }
    public bool FewshotAsMultiturn { get; init; }
    public string? SystemInstruction { get; init; }
    public JsonObject? GenKwargs { get; init; }
    public bool ChatEndpoint { get; init; }
    public int MaxLength { get; init; } = 2048;
    public int MaxGenToks { get; init; } = 256;
    public bool AddBosToken { get; init; }
    public bool TokenizedRequests { get; init; } = true;
    public bool BatchChoices { get; init; } = true;
    public int BootstrapIters { get; init; } = Scoring.Aggregation.DefaultBootstrapIters;
    public bool LogSamples { get; init; } = true;
    public int FewshotSeed { get; init; } = MlxBench.Harness.Eval.Tasks.FewshotSampler.DefaultSeed;
    /// <summary><c>0.4.9</c>: reproduce 0.4.3–0.4.9.x chat prompts (double few-shot draw, "type": "text").</summary>
    public string? LmEvalCompat { get; init; }
    public string? CacheDirectory { get; init; }
    public int MaxRetries { get; init; } = 3;
    public int RequestTimeoutSeconds { get; init; } = 600;
    public int? PrefixTokenId { get; init; }
    /// <summary>The <c>model</c> sent in requests: the model's <c>ServedModel</c> metadata, else its id.</summary>
    public string? ServedModel { get; init; }
    public string ApiKeyVariable { get; init; } = "OPENAI_API_KEY";

    public static EvalSettings Parse(SuiteSpec suite, ModelSpec? model = null)
    {
        IReadOnlyDictionary<string, string> m = suite.Metadata;
        string? Get(string key) => m.TryGetValue(key, out string? v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        BenchException Bad(string key, string reason) => new(BenchDiagnostic.Error("Eval.BadSetting", suite.Name, key, Get(key), reason));
        int Int(string key, int fallback, int min)
        {
            if (Get(key) is not { } text) return fallback;
            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= min ? v
                : throw Bad(key, $"expected a whole number of at least {min}");
        }
        bool Bool(string key, bool fallback)
        {
            if (Get(key) is not { } text) return fallback;
            return bool.TryParse(text, out bool v) ? v : throw Bad(key, "expected true or false");
        }

        string[] tasks = (Get("Tasks") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (tasks.Length == 0)
            throw new BenchException(BenchDiagnostic.Error("Eval.NoTasks", suite.Name, string.Join(", ", MlxBench.Harness.Eval.Tasks.BuiltInTasks.Names)));

        double? limit = null;
        if (Get("Limit") is { } limitText)
            limit = double.TryParse(limitText, NumberStyles.Float, CultureInfo.InvariantCulture, out double l) && l > 0 ? l
                : throw Bad("Limit", "expected a positive number of documents (or a fraction below 1)");

        string endpoint = Get("Endpoint") ?? "completions";
        if (endpoint is not ("completions" or "chat")) throw Bad("Endpoint", "expected completions or chat");

        string? compat = Get("LmEvalCompat");
        if (compat is not (null or "0.4.9" or "0.4.11" or "0.4.12")) throw Bad("LmEvalCompat", "expected 0.4.9 (0.4.3–0.4.9.x chat prompts), 0.4.11 or 0.4.12");

        return new EvalSettings
        {
            Tasks = tasks,
            Limit = limit,
            NumFewshot = Get("NumFewshot") is null ? null : Int("NumFewshot", 0, 0),
            Data = PerTask(Get("Data"), tasks),
            FewshotData = PerTask(Get("FewshotData"), tasks),
            Concurrency = Int("Concurrency", 1, 1),
            FewshotPoolSize = Get("FewshotPoolSize") is null ? null : Int("FewshotPoolSize", 1, 1),
            ApplyChatTemplate = Bool("ApplyChatTemplate", endpoint == "chat"),
            FewshotAsMultiturn = Bool("FewshotAsMultiturn", false),
            SystemInstruction = Get("SystemInstruction"),
            GenKwargs = Get("GenKwargs") is { } gen ? ParseGenKwargs(gen) ?? throw Bad("GenKwargs", "expected k=v,k=v or a JSON object") : null,
            ChatEndpoint = endpoint == "chat",
            MaxLength = Int("MaxLength", 2048, 2),
            MaxGenToks = Int("MaxGenToks", 256, 1),
            AddBosToken = Bool("AddBosToken", false),
            TokenizedRequests = Bool("TokenizedRequests", true),
            BatchChoices = Bool("BatchChoices", true),
            BootstrapIters = Int("BootstrapIters", Scoring.Aggregation.DefaultBootstrapIters, 0),
            LogSamples = Bool("LogSamples", true),
            FewshotSeed = Int("FewshotSeed", MlxBench.Harness.Eval.Tasks.FewshotSampler.DefaultSeed, 0),
            LmEvalCompat = compat,
            CacheDirectory = Get("CacheDirectory"),
            MaxRetries = Int("MaxRetries", 3, 0),
            RequestTimeoutSeconds = Int("RequestTimeout", 600, 1),
            PrefixTokenId = Get("PrefixTokenId") is null ? null : Int("PrefixTokenId", 0, 0),
            ServedModel = model?.Metadata.GetValueOrDefault("ServedModel") is { Length: > 0 } served ? served : null,
            ApiKeyVariable = Get("ApiKeyVariable") ?? "OPENAI_API_KEY",
        };
    }

    /// <summary><c>path</c> for every task, or <c>task=path;task=path</c>.</summary>
    private static Dictionary<string, string> PerTask(string? value, IReadOnlyList<string> tasks)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (value is null) return map;
        foreach (string part in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0 && tasks.Contains(part[..eq].Trim())) map[part[..eq].Trim()] = part[(eq + 1)..].Trim();
            else map[""] = part;
        }
        return map;
    }

    /// <summary>lm-eval's <c>--gen_kwargs</c>: <c>k=v,k=v</c> with Python-literal values, or a JSON object.</summary>
    public static JsonObject? ParseGenKwargs(string text)
    {
        if (text.StartsWith('{'))
        {
            try { return JsonNode.Parse(text) as JsonObject; }
            catch (JsonException) { return null; }
        }
        var result = new JsonObject();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) return null;
            string key = part[..eq].Trim(), v = part[(eq + 1)..].Trim();
            result[key] = v switch
            {
                "True" or "true" => JsonValue.Create(true),
                "False" or "false" => JsonValue.Create(false),
                _ when long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i) => JsonValue.Create(i),
                _ when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
                _ => JsonValue.Create(v),
            };
        }
        return result;
    }
}
