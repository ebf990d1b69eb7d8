using System.Globalization;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Harness.Serving;

/// <summary>Which OpenAI route the requests go to; the names are vLLM's <c>--backend</c> values.</summary>
public enum ServingApi { Completions, Chat }

public enum DatasetKind { Random, SharedPrefix, Jsonl }

/// <summary>How random prompts reach the server: token ids (exact lengths), text, or whichever the server takes.</summary>
public enum PromptFormat { Auto, TokenIds, Text }

/// <summary>Service-level objectives for goodput, in milliseconds; a request is good when it meets every one given.</summary>
public sealed record GoodputSlo(double? TtftMs, double? TpotMs, double? E2elMs)
{
    public static GoodputSlo None { get; } = new(null, null, null);

    public bool IsSet => TtftMs is not null || TpotMs is not null || E2elMs is not null;
}

/// <summary>One point of a sweep: a concurrency cap (null = unlimited) and an arrival rate (infinity = all at once).</summary>
public sealed record LoadLevel(int? MaxConcurrency, double RequestRate)
{
    /// <summary>The tag value that tells levels apart in the envelope, e.g. <c>concurrency=4,rate=inf</c>.</summary>
    public string Label => string.Create(CultureInfo.InvariantCulture,
        $"concurrency={(MaxConcurrency is { } c ? c.ToString(CultureInfo.InvariantCulture) : "unlimited")},rate={ServingOptions.FormatRate(RequestRate)}");
}

/// <summary>
/// A serving suite's metadata, parsed once into types (see README "Serving suites" for every key and default).
/// Bad values throw a coded <see cref="BenchException"/> naming the key.
/// </summary>
public sealed record ServingOptions
{
    public required string Suite { get; init; }
    public IReadOnlyList<int?> Concurrencies { get; init; } = [null];
    public IReadOnlyList<double> RequestRates { get; init; } = [double.PositiveInfinity];
    /// <summary>Gamma shape of the inter-arrival gaps: 1 = Poisson, &lt;1 burstier, infinity = constant gaps.</summary>
    public double Burstiness { get; init; } = 1.0;
    public int Requests { get; init; } = 200;
    public int InputTokens { get; init; } = 1024;
    public int OutputTokens { get; init; } = 128;
    public double RangeRatio { get; init; }
    public DatasetKind Dataset { get; init; } = DatasetKind.Random;
    /// <summary>The JSONL file when <see cref="Dataset"/> is <see cref="DatasetKind.Jsonl"/> (full path).</summary>
    public string? DatasetPath { get; init; }
    public int PrefixTokens { get; init; } = -1;
    public int Prefixes { get; init; } = 10;
    public ServingApi Api { get; init; } = ServingApi.Completions;
    public bool Stream { get; init; } = true;
    /// <summary>Unmeasured requests before each level; null = one per connection the level will use (see <see cref="WarmupCount"/>).</summary>
    public int? WarmupRequests { get; init; }
    public GoodputSlo Goodput { get; init; } = GoodputSlo.None;
    public int Seed { get; init; }
    public double RequestTimeoutSeconds { get; init; } = 300;
    public double ReadyTimeoutSeconds { get; init; } = 60;
    public bool? IgnoreEos { get; init; }
    public PromptFormat PromptFormat { get; init; } = PromptFormat.Auto;
    public IReadOnlyList<double> Percentiles { get; init; } = [90, 95, 99];
    public string? ServedModelName { get; init; }
    public double? Temperature { get; init; }
    public bool SaveDetailed { get; init; }
    public double ProgressIntervalSeconds { get; init; } = 5;

    /// <summary>Every combination of the concurrency and rate lists, concurrency outermost.</summary>
    public IReadOnlyList<LoadLevel> Levels =>
        Concurrencies.SelectMany(c => RequestRates.Select(r => new LoadLevel(c, r))).ToArray();

    /// <summary>ignore_eos is on by default for synthetic prompts (as vLLM forces it for random), off for user prompts.</summary>
    public bool EffectiveIgnoreEos => IgnoreEos ?? Dataset != DatasetKind.Jsonl;

    /// <summary>
    /// How many warm-up requests precede <paramref name="level"/>: the user's number, else one per concurrency slot
    /// (every request when all go at once uncapped), at most 256, so the measured requests find their connections
    /// open instead of paying the TCP handshake inside TTFT; 1 for an uncapped finite rate.
    /// </summary>
    public int WarmupCount(LoadLevel level) => WarmupRequests
        ?? Math.Min(256, Math.Min(Requests, level.MaxConcurrency ?? (double.IsPositiveInfinity(level.RequestRate) ? Requests : 1)));

    public int EffectivePrefixTokens => PrefixTokens >= 0 ? PrefixTokens : InputTokens / 2;

    /// <summary>vLLM's <c>--backend</c> name for <see cref="Api"/>.</summary>
    public string Backend => Api == ServingApi.Chat ? "openai-chat" : "openai";

    public string WorkloadName => Dataset switch
    {
        DatasetKind.Random => "random",
        DatasetKind.SharedPrefix => "shared-prefix",
        _ => "jsonl:" + Path.GetFileName(DatasetPath),
    };

    public static string FormatRate(double rate) =>
        double.IsPositiveInfinity(rate) ? "inf" : rate.ToString("0.###", CultureInfo.InvariantCulture);

    public static ServingOptions Parse(SuiteSpec suite, string projectDirectory)
    {
        var reader = new MetadataReader(suite);
        var options = new ServingOptions
        {
            Suite = suite.Name,
            Concurrencies = reader.List("Concurrency", "a positive whole number, a list of them, or none", "1;4;16", ParseConcurrency) ?? [null],
            RequestRates = reader.List("RequestRate", "inf or a positive number of requests per second (or a list)", "inf;10;20", ParseRate)?.Select(r => r!.Value).ToArray() ?? [double.PositiveInfinity],
            Burstiness = reader.One("Burstiness", "a positive number or inf (1 = Poisson)", "1", ParseRate) ?? 1.0,
            Requests = reader.One("Requests", "a positive whole number", "200", ParsePositiveInt) ?? 200,
            InputTokens = reader.One("InputTokens", "a positive whole number", "1024", ParsePositiveInt) ?? 1024,
            OutputTokens = reader.One("OutputTokens", "a positive whole number", "128", ParsePositiveInt) ?? 128,
            RangeRatio = reader.One("RangeRatio", "a number in [0, 1)", "0.1", ParseRangeRatio) ?? 0,
            PrefixTokens = reader.One("PrefixTokens", "a whole number >= 0", "256", ParseNonNegativeInt) ?? -1,
            Prefixes = reader.One("Prefixes", "a positive whole number", "10", ParsePositiveInt) ?? 10,
            Api = reader.One("Endpoint", "completions or chat", "chat", ParseApi) ?? ServingApi.Completions,
            Stream = reader.One("Stream", "true or false", "false", ParseBool) ?? true,
            WarmupRequests = reader.One("WarmupRequests", "a whole number >= 0", "1", ParseNonNegativeInt),
            Goodput = reader.Object("Goodput", "ttft:MS;tpot:MS;e2el:MS (any of them)", "ttft:200;tpot:50", ParseGoodput) ?? GoodputSlo.None,
            Seed = reader.One("Seed", "a whole number", "0", ParseInt) ?? 0,
            RequestTimeoutSeconds = reader.One("RequestTimeout", "a positive number of seconds", "300", ParsePositiveDouble) ?? 300,
            ReadyTimeoutSeconds = reader.One("ReadyTimeout", "a number of seconds >= 0", "60", ParseNonNegativeDouble) ?? 60,
            IgnoreEos = reader.One("IgnoreEos", "true or false", "true", ParseBool),
            PromptFormat = reader.One("PromptFormat", "auto, token-ids or text", "auto", ParsePromptFormat) ?? PromptFormat.Auto,
            Percentiles = reader.List("Percentiles", "numbers in (0, 100]", "90;99;99.9", ParsePercentile)?.Select(p => p!.Value).ToArray() ?? [90, 95, 99],
            ServedModelName = reader.Text("ServedModelName"),
            Temperature = reader.One("Temperature", "a number >= 0", "0", ParseNonNegativeDouble),
            SaveDetailed = reader.One("SaveDetailed", "true or false", "true", ParseBool) ?? false,
            ProgressIntervalSeconds = reader.One("ProgressInterval", "a positive number of seconds", "5", ParsePositiveDouble) ?? 5,
        };

        string dataset = reader.Text("Dataset") ?? "random";
        if (dataset.Equals("random", StringComparison.OrdinalIgnoreCase)) return options with { Dataset = DatasetKind.Random };
        if (dataset.Equals("shared-prefix", StringComparison.OrdinalIgnoreCase))
        {
            if (options.EffectivePrefixTokens >= options.InputTokens)
                throw reader.Bad("PrefixTokens", options.PrefixTokens.ToString(CultureInfo.InvariantCulture), $"smaller than InputTokens ({options.InputTokens})", (options.InputTokens / 2).ToString(CultureInfo.InvariantCulture));
            return options with { Dataset = DatasetKind.SharedPrefix };
        }
        string path = Path.GetFullPath(Path.Combine(projectDirectory, dataset));
        if (!File.Exists(path))
            throw new BenchException(BenchDiagnostic.Error("Serving.DatasetMissing", suite.Name, dataset, path));
        return options with { Dataset = DatasetKind.Jsonl, DatasetPath = path };
    }

    private static int? ParseConcurrency(string text) =>
        text.Equals("none", StringComparison.OrdinalIgnoreCase) || text.Equals("unlimited", StringComparison.OrdinalIgnoreCase) ? 0 : ParsePositiveInt(text);

    private static double? ParseRate(string text) =>
        text.Equals("inf", StringComparison.OrdinalIgnoreCase) ? double.PositiveInfinity : ParsePositiveDouble(text);

    private static double? ParseDouble(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && !double.IsNaN(v) ? v : null;

    private static double? ParsePositiveDouble(string text) => ParseDouble(text) is { } v && v > 0 && double.IsFinite(v) ? v : null;

    private static double? ParseNonNegativeDouble(string text) => ParseDouble(text) is { } v && v >= 0 && double.IsFinite(v) ? v : null;

    private static double? ParseRangeRatio(string text) => ParseDouble(text) is { } v && v >= 0 && v < 1 ? v : null;

    private static double? ParsePercentile(string text) => ParseDouble(text) is { } v && v > 0 && v <= 100 ? v : null;

    private static int? ParseInt(string text) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;

    private static int? ParsePositiveInt(string text) => ParseNonNegativeInt(text) is { } v && v > 0 ? v : null;

    private static int? ParseNonNegativeInt(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : null;

    private static bool? ParseBool(string text) => bool.TryParse(text, out bool b) ? b : null;

    private static ServingApi? ParseApi(string text) => text.ToLowerInvariant() switch
    {
        "completions" or "completion" => ServingApi.Completions,
        "chat" or "chat-completions" => ServingApi.Chat,
        _ => null,
    };

    private static PromptFormat? ParsePromptFormat(string text) => text.ToLowerInvariant() switch
    {
        "auto" => PromptFormat.Auto,
        "token-ids" or "tokens" => PromptFormat.TokenIds,
        "text" => PromptFormat.Text,
        _ => null,
    };

    private static GoodputSlo? ParseGoodput(string text)
    {
        double? ttft = null, tpot = null, e2el = null;
        foreach (string pair in text.Split(';', ',', ' ').Where(p => p.Length > 0))
        {
            string[] parts = pair.Split(':');
            if (parts.Length != 2 || ParseNonNegativeDouble(parts[1]) is not { } value) return null;
            switch (parts[0].Trim().ToLowerInvariant())
            {
                case "ttft": ttft = value; break;
                case "tpot": tpot = value; break;
                case "e2el": e2el = value; break;
                default: return null;
            }
        }
        return new GoodputSlo(ttft, tpot, e2el);
    }

    /// <summary>Reads metadata case-insensitively (MSBuild metadata names are) and reports bad values with their key.</summary>
    private sealed class MetadataReader(SuiteSpec suite)
    {
        private readonly Dictionary<string, string> _values = new(suite.Metadata, StringComparer.OrdinalIgnoreCase);

        public string? Text(string key) => _values.TryGetValue(key, out string? v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        public T? One<T>(string key, string expected, string example, Func<string, T?> parse) where T : struct
        {
            if (Text(key) is not { } text) return null;
            return parse(text) ?? throw Bad(key, text, expected, example);
        }

        public T? Object<T>(string key, string expected, string example, Func<string, T?> parse) where T : class
        {
            if (Text(key) is not { } text) return null;
            return parse(text) ?? throw Bad(key, text, expected, example);
        }

        /// <summary>A semicolon list; for concurrency a parsed 0 stands for "unlimited" and becomes null.</summary>
        public IReadOnlyList<T?>? List<T>(string key, string expected, string example, Func<string, T?> parse) where T : struct
        {
            if (Text(key) is not { } text) return null;
            var values = new List<T?>();
            foreach (string part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                T? value = parse(part) ?? throw Bad(key, text, expected, example);
                values.Add(value is int i && i == 0 ? null : value);
            }
            if (values.Count == 0) throw Bad(key, text, expected, example);
            return values;
        }

        public BenchException Bad(string key, string value, string expected, string example) =>
            new(BenchDiagnostic.Error("Serving.BadMetadata", suite.Name, key, value, expected, example));
    }
}
