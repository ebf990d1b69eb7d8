using System.Globalization;
using System.Text.RegularExpressions;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Fingerprints;

namespace MlxBench.Core.Cells;

/// <summary>Settings that narrow or identify a Bench run.</summary>
public sealed record PlanOptions
{
    public required string ProjectDirectory { get; init; }
    public required string SdkVersion { get; init; }
    /// <summary><c>BenchFilter</c>: <c>;</c>-separated patterns with <c>*</c>; a cell is kept when a pattern matches its
    /// suite name, its model name, or its id <c>suite/model</c> (model names contain <c>/</c> themselves).</summary>
    public string? Filter { get; init; }
    /// <summary><c>BenchShard</c>: <c>i/n</c> keeps the cells whose fingerprint falls in shard i of n.</summary>
    public string? Shard { get; init; }
    /// <summary>Environment variables (the HF cache location); null: the process's.</summary>
    public Func<string, string?>? Environment { get; init; }
}

/// <summary>What planning produced: the cells to consider, and every problem found in the declared items.</summary>
public sealed record Plan(IReadOnlyList<BenchCell> Cells, IReadOnlyList<BenchDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}

/// <summary>
/// Turns declared <c>BenchModel</c>, <c>BenchSuite</c> and <c>BenchEndpoint</c> items into fingerprinted cells,
/// reporting every malformed item (not just the first) with its own code.
/// </summary>
public sealed class CellPlanner(PlanOptions options, FileHashCache hashes)
{
    public const string DefaultConverter = "envelope";

    /// <summary>Only read (a data set's cached snapshot commit); the planner never downloads.</summary>
    private readonly Endpoints.HfModelCache _hf = new(options.Environment);

    public Plan Plan(IReadOnlyList<DeclaredItem> models, IReadOnlyList<DeclaredItem> suites, IReadOnlyList<DeclaredItem> endpoints)
    {
        var diagnostics = new List<BenchDiagnostic>();
        Dictionary<string, EndpointSpec> endpointSpecs = ParseEndpoints(endpoints, diagnostics);
        List<ModelSpec> modelSpecs = ParseModels(models, endpointSpecs, diagnostics);
        List<SuiteSpec> suiteSpecs = ParseSuites(suites, modelSpecs, diagnostics);
        (int shardIndex, int shardCount) = ParseShard(options.Shard, diagnostics);

        if (models.Count == 0 || suites.Count == 0)
            diagnostics.Add(BenchDiagnostic.Warning("Items.NothingToBench", models.Count, suites.Count));
        if (diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
            return new Plan([], diagnostics);

        var cells = new List<BenchCell>();
        bool filterMatched = false;
        foreach (SuiteSpec suite in suiteSpecs)
        {
            IReadOnlyList<string>? only = SplitList(suite.Metadata.GetValueOrDefault("Models"));
            foreach (ModelSpec model in modelSpecs)
            {
                if (only.Count > 0 && !only.Contains(model.Name, StringComparer.Ordinal)) continue;
                if (!MatchesFilter(suite.Name, model.Name)) continue;
                filterMatched = true;
                EndpointSpec? endpoint = model.Endpoint is { } e ? endpointSpecs[e] : null;
                string fingerprint = CellFingerprint.Compute(model, suite, endpoint, options.SdkVersion, hashes);
                if (shardCount > 1 && ShardOf(fingerprint, shardCount) != shardIndex) continue;
                cells.Add(new BenchCell(model, suite, endpoint, fingerprint));
            }
        }
        if (!filterMatched && SplitList(options.Filter).Count > 0 && modelSpecs.Count > 0 && suiteSpecs.Count > 0)
            diagnostics.Add(BenchDiagnostic.Warning("Items.FilterMatchesNothing", options.Filter,
                string.Join(", ", suiteSpecs.Select(s => s.Name)), string.Join(", ", modelSpecs.Select(m => m.Name))));
        return new Plan(cells, diagnostics);
    }

    /// <summary>Which of <paramref name="count"/> shards a fingerprint falls in: stable across machines and runs.</summary>
    public static int ShardOf(string fingerprint, int count) =>
        (int)(ulong.Parse(fingerprint.AsSpan(0, 15), NumberStyles.HexNumber, CultureInfo.InvariantCulture) % (ulong)count);

    private static Dictionary<string, EndpointSpec> ParseEndpoints(IReadOnlyList<DeclaredItem> endpoints, List<BenchDiagnostic> diagnostics)
    {
        var specs = new Dictionary<string, EndpointSpec>(StringComparer.Ordinal);
        foreach (DeclaredItem item in endpoints)
        {
            if (specs.ContainsKey(item.Name))
            {
                diagnostics.Add(BenchDiagnostic.Error("Items.Duplicate", "BenchEndpoint", item.Name));
                continue;
            }
            if (Endpoints.ManagedEndpoints.TryParse(item, diagnostics, out EndpointSpec? managed))
            {
                if (managed is not null) specs[item.Name] = managed with { Metadata = Sorted(item.Metadata) };
                continue;
            }
            if (item.Get("BaseUrl") is not { } baseUrl)
            {
                diagnostics.Add(BenchDiagnostic.Error("Items.EndpointIncomplete", item.Name));
                continue;
            }
            if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                diagnostics.Add(BenchDiagnostic.Error("Items.BadUrl", item.Name, baseUrl));
                continue;
            }
            specs[item.Name] = new EndpointSpec(item.Name, baseUrl.TrimEnd('/'), Sorted(item.Metadata));
        }
        return specs;
    }

    private List<ModelSpec> ParseModels(IReadOnlyList<DeclaredItem> models, Dictionary<string, EndpointSpec> endpoints, List<BenchDiagnostic> diagnostics)
    {
        var specs = new List<ModelSpec>();
        var seen = new HashSet<string>(StringComparer.Ordinal);   // also the names of malformed items, so a duplicate of one is reported
        foreach (DeclaredItem item in models)
        {
            string name = item.Get("Name") ?? item.Name;
            if (!seen.Add(name))
            {
                diagnostics.Add(BenchDiagnostic.Error("Items.Duplicate", "BenchModel", name));
                continue;
            }
            string? endpoint = item.Get("Endpoint");
            if (endpoint is not null && !endpoints.ContainsKey(endpoint))
            {
                string defined = endpoints.Count == 0 ? "none" : string.Join(", ", endpoints.Keys);
                diagnostics.Add(BenchDiagnostic.Error("Items.UndefinedEndpoint", name, endpoint, defined));
                continue;
            }
            // A File that exists locally (a weights file, or a model folder such as an MLX conversion) is hashed into the
            // fingerprint; otherwise it names a file inside the model's repository (resolved by the harness), and its
            // name alone identifies it.
            string? file = item.Get("File") is { } f && Path.Combine(options.ProjectDirectory, f) is var local && (File.Exists(local) || Directory.Exists(local))
                ? Path.GetFullPath(local)
                : item.Get("File");
            // Without a File the native server loads the model's whole HuggingFace repository (an MLX-format folder):
            // the commit its revision stands for identifies the content, so the cell reruns when the repository moves.
            string? snapshot = file is null && endpoint is not null && endpoints[endpoint].Server is not null
                ? SnapshotCommit(item.Name, item.Get("Revision"))
                : null;
            specs.Add(new ModelSpec(name, item.Name, item.Get("Revision"), item.Get("Quantization"), file, endpoint, Sorted(item.Metadata)) { SnapshotCommit = snapshot });
        }
        return specs;
    }

    private List<SuiteSpec> ParseSuites(IReadOnlyList<DeclaredItem> suites, List<ModelSpec> models, List<BenchDiagnostic> diagnostics)
    {
        var specs = new List<SuiteSpec>();
        string harnesses = string.Join(", ", Harnesses.Names);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (DeclaredItem item in suites)
        {
            int before = diagnostics.Count;
            if (!seen.Add(item.Name))
                diagnostics.Add(BenchDiagnostic.Error("Items.Duplicate", "BenchSuite", item.Name));

            string? harness = item.Get("Harness");
            if (harness is null)
                diagnostics.Add(BenchDiagnostic.Error("Items.SuiteWithoutHarness", item.Name, Harnesses.Command, harnesses));
            else if (!Harnesses.TryGetVersion(harness, out _))
                diagnostics.Add(BenchDiagnostic.Error("Items.UnknownHarness", item.Name, harness, harnesses));

            string converter = item.Get("Converter") ?? DefaultConverter;
            if (!ResultConverters.TryGet(converter, out _))
                diagnostics.Add(BenchDiagnostic.Error("Items.UnknownConverter", item.Name, converter, string.Join(", ", ResultConverters.Kinds)));

            string? command = item.Get("Command");
            if (string.Equals(harness, Harnesses.Command, StringComparison.OrdinalIgnoreCase) && command is null)
                diagnostics.Add(BenchDiagnostic.Error("Items.CommandMissing", item.Name));

            string? category = item.Get("Category");
            string allowed = string.Join(", ", V1Suites.Names);
            if (category is not null && !V1Suites.Contains(category))
                diagnostics.Add(BenchDiagnostic.Error("Items.CategoryOutsideEnum", item.Name, category, allowed));
            else if (category is null && !V1Suites.Contains(item.Name))
                diagnostics.Add(BenchDiagnostic.Error("Items.SuiteOutsideEnum", item.Name, allowed));

            int? timeout = null;
            if (item.Get("Timeout") is { } timeoutText)
            {
                if (int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds > 0) timeout = seconds;
                else diagnostics.Add(BenchDiagnostic.Error("Items.BadNumber", "BenchSuite", item.Name, "Timeout", timeoutText));
            }

            IReadOnlyList<string> only = SplitList(item.Get("Models"));
            string[] unknown = only.Where(n => models.All(m => m.Name != n)).ToArray();
            if (unknown.Length > 0)
                diagnostics.Add(BenchDiagnostic.Error("Items.BadModelsFilter", item.Name, item.Get("Models"), string.Join(", ", unknown),
                    models.Count == 0 ? "none" : string.Join(", ", models.Select(m => m.Name))));

            if (diagnostics.Count > before) continue;
            var missing = new List<(string Key, string Entry, string Path)>();
            string[] data = SuiteInputs.Resolve(item, options.ProjectDirectory, _hf, missing);
            foreach ((string key, string entry, string path) in missing)
                diagnostics.Add(BenchDiagnostic.Warning("Items.DataMissing", item.Name, key, entry, path));
            specs.Add(new SuiteSpec(item.Name, category ?? item.Name, harness!.ToLowerInvariant(), command, converter.ToLowerInvariant(), timeout, data, Sorted(item.Metadata)));
        }
        return specs;
    }

    private static (int Index, int Count) ParseShard(string? shard, List<BenchDiagnostic> diagnostics)
    {
        if (string.IsNullOrWhiteSpace(shard)) return (0, 1);
        string[] parts = shard.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            && count > 0 && index < count)
            return (index, count);
        diagnostics.Add(BenchDiagnostic.Error("Items.BadShard", shard));
        return (0, 1);
    }

    private bool MatchesFilter(string suite, string model)
    {
        IReadOnlyList<string> patterns = SplitList(options.Filter);
        if (patterns.Count == 0) return true;
        return patterns.Select(Glob).Any(p => p.IsMatch(suite) || p.IsMatch(model) || p.IsMatch($"{suite}/{model}"));
    }

    private static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    internal static IReadOnlyList<string> SplitList(string? value) =>
        value is null ? [] : value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static SortedDictionary<string, string> Sorted(IReadOnlyDictionary<string, string> metadata) =>
        new(metadata.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal);

    /// <summary>Planning waits only briefly for the Hub: without an answer the cell is identified by its revision alone.</summary>
    private string? SnapshotCommit(string repoId, string? revision)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return _hf.SnapshotCommitAsync(repoId, revision, timeout.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
