using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>A user task file is malformed; the message names the file and the field.</summary>
public sealed class TaskDefinitionException(string message) : Exception(message);

/// <summary>
/// Reads a user's task: a small declarative description in YAML or JSON, with lm-eval's field names, over a JSON Lines
/// (or parquet) data file. Templates use <c>{{ field }}</c> and <c>{{ field.sub }}</c>; a value that names a column
/// takes the column as is. Fields: <c>task</c>, <c>output_type</c> (multiple_choice | loglikelihood |
/// loglikelihood_rolling | generate_until), <c>data</c>, <c>fewshot_data</c>, <c>doc_to_text</c>,
/// <c>doc_to_target</c>, <c>doc_to_choice</c> (a column holding a list, or a list of templates), <c>description</c>,
/// <c>target_delimiter</c>, <c>fewshot_delimiter</c>, <c>num_fewshot</c>, <c>generation_kwargs</c>,
/// <c>filter_list</c>, <c>metric_list</c>, <c>metadata.version</c>.
/// </summary>
public static class UserTaskLoader
{
    private static readonly Regex s_placeholder = new(@"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}", RegexOptions.CultureInvariant);

    public static bool IsTaskFile(string value) =>
        value.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || value.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
        || value.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    public static EvalTask Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new TaskDefinitionException($"{path} could not be read: {e.Message}"); }
        JsonObject config = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? ParseJson(path, text) : ParseYaml(path, text);
        return FromConfig(config, path);
    }

    public static EvalTask FromConfig(JsonObject c, string source)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(source)) ?? ".";
        string name = Required(c, "task", source);
        OutputType type = (Optional(c, "output_type") ?? "generate_until") switch
        {
            "multiple_choice" => OutputType.MultipleChoice,
            "loglikelihood" => OutputType.Loglikelihood,
            "loglikelihood_rolling" => OutputType.LoglikelihoodRolling,
            "generate_until" => OutputType.GenerateUntil,
            var other => throw new TaskDefinitionException($"{source}: output_type \"{other}\" is not one of multiple_choice, loglikelihood, loglikelihood_rolling, generate_until"),
        };
        string textTemplate = Optional(c, "doc_to_text") ?? "";
        string targetTemplate = Required(c, "doc_to_target", source);
        JsonNode? choiceSpec = c["doc_to_choice"];
        if (type == OutputType.MultipleChoice && choiceSpec is null)
            throw new TaskDefinitionException($"{source}: a multiple_choice task needs doc_to_choice");
        Func<JsonObject, IReadOnlyList<string>>? choices = choiceSpec switch
        {
            null => null,
            JsonArray templates => doc => templates.Select(t => Render((string)t!, doc, source)).ToList(),
            JsonValue v when v.TryGetValue(out string? column) => doc => ResolveList(column, doc, source),
            _ => throw new TaskDefinitionException($"{source}: doc_to_choice must be a column name or a list of templates"),
        };

        var metrics = new List<MetricSpec>();
        if (c["metric_list"] is JsonArray list)
            foreach (JsonNode? m in list)
            {
                string metric = (string?)m?["metric"] ?? throw new TaskDefinitionException($"{source}: a metric_list entry has no metric");
                ExactMatchOptions? em = metric == "exact_match"
                    ? new ExactMatchOptions((m!["regexes_to_ignore"] as JsonArray)?.Select(r => (string)r!).ToList() ?? [],
                        (bool?)m["ignore_case"] ?? false, (bool?)m["ignore_punctuation"] ?? false, (bool?)m["ignore_numbers"] ?? false)
                    : null;
                string aggregation = (string?)m!["aggregation"] ?? Scoring.Aggregation.DefaultFor(metric);
                metrics.Add(new MetricSpec(metric, aggregation, (bool?)m["higher_is_better"] ?? metric is not ("perplexity" or "word_perplexity" or "byte_perplexity" or "bits_per_byte"), em));
            }
        if (metrics.Count == 0)
            metrics = type switch
            {
                OutputType.MultipleChoice => [new("acc", "mean", true), new("acc_norm", "mean", true)],
                OutputType.Loglikelihood => [new("perplexity", "perplexity", false), new("acc", "mean", true)],
                OutputType.LoglikelihoodRolling => [new("word_perplexity", "weighted_perplexity", false), new("byte_perplexity", "weighted_perplexity", false), new("bits_per_byte", "bits_per_byte", false)],
                _ => [new("exact_match", "mean", true, new ExactMatchOptions([], false, false, false))],
            };

        var filters = new List<FilterPipeline>();
        if (c["filter_list"] is JsonArray filterList)
            foreach (JsonNode? f in filterList)
                filters.Add(new FilterPipeline((string?)f?["name"] ?? "none",
                    (f?["filter"] as JsonArray ?? []).Select(s => new FilterStep(
                        (string?)s?["function"] ?? throw new TaskDefinitionException($"{source}: a filter step has no function"),
                        (string?)s!["regex_pattern"], Integer(s["group_select"], "group_select", source) ?? 0, (string?)s["fallback"] ?? "[invalid]")).ToList()));

        var generation = c["generation_kwargs"] as JsonObject;
        if (generation is not null && generation["temperature"] is JsonValue t && t.TryGetValue(out long whole)) generation["temperature"] = (double)whole;
        string fewshotDelimiter = Optional(c, "fewshot_delimiter") ?? "\n\n";
        return new EvalTask
        {
            Name = name,
            OutputType = type,
            Version = c["metadata"]?["version"] is JsonValue version && version.TryGetValue(out double vd) ? vd : 1.0,
            DocToText = doc => textTemplate.Length == 0 && type == OutputType.LoglikelihoodRolling ? "" : RenderText(textTemplate, doc, choices is not null, source),
            DocToTarget = doc => RenderTarget(targetTemplate, doc, choices is not null, source),
            DocToChoice = choices,
            Description = Optional(c, "description") ?? "",
            TargetDelimiter = Optional(c, "target_delimiter") ?? " ",
            FewshotDelimiter = fewshotDelimiter,
            NumFewshot = Integer(c["num_fewshot"], "num_fewshot", source) ?? 0,
            GenerationKwargs = type == OutputType.GenerateUntil ? (JsonObject?)generation?.DeepClone() : null,
            Filters = filters.Count > 0 ? filters : [new("none", [new FilterStep("take_first")])],
            Metrics = metrics,
            DefaultData = Optional(c, "data") is { } data ? Resolve(dir, data) : null,
            DefaultFewshotData = Optional(c, "fewshot_data") is { } fewshot ? Resolve(dir, fewshot) : null,
            ConfigExtras = new JsonObject { ["doc_to_text"] = textTemplate, ["doc_to_target"] = targetTemplate },
        };
    }

    private static string Resolve(string dir, string data) =>
        Data.HfDatasetReference.IsHf(data) || Path.IsPathRooted(data) ? data : Path.GetFullPath(Path.Combine(dir, data));

    /// <summary>A template, or a bare column name (the column's value).</summary>
    private static JsonNode? Evaluate(string template, JsonObject doc, string source)
    {
        if (!template.Contains("{{", StringComparison.Ordinal) && doc.ContainsKey(template)) return doc[template];
        return Render(template, doc, source);
    }

    private static string Render(string template, JsonObject doc, string source) =>
        s_placeholder.Replace(template, m =>
        {
            JsonNode? value = doc;
            foreach (string part in m.Groups[1].Value.Split('.'))
                value = value is JsonObject o && o.ContainsKey(part) ? o[part]
                    : throw new TaskDefinitionException($"{source}: the template uses \"{m.Groups[1].Value}\", which the document does not have (fields: {string.Join(", ", doc.Select(p => p.Key))})");
            return value is JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString() ?? "";
        });

    private static DocText RenderText(string template, JsonObject doc, bool hasChoices, string source)
    {
        JsonNode? value = Evaluate(template, doc, source);
        if (hasChoices && AsIndex(value) is { } index) return DocText.OfIndex(index);
        return value is JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString() ?? "";
    }

    private static DocTarget RenderTarget(string template, JsonObject doc, bool hasChoices, string source)
    {
        JsonNode? value = Evaluate(template, doc, source);
        if (value is JsonArray list) return DocTarget.OfIndices(list.Select(n => AsIndex(n) ?? throw new TaskDefinitionException($"{source}: a doc_to_target list must hold indices")).ToList());
        if (hasChoices && AsIndex(value) is { } index) return DocTarget.OfIndex(index);
        return DocTarget.OfText(value is JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString() ?? "");
    }

    /// <summary>An int, or a rendered string that <c>isdigit()</c> (lm-eval turns those into indices when choices exist).</summary>
    private static int? AsIndex(JsonNode? value) => value switch
    {
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out long l) => (int)l,
        JsonValue v when v.TryGetValue(out string? s) && s.Length > 0 && s.All(char.IsAsciiDigit) => int.Parse(s, CultureInfo.InvariantCulture),
        _ => null,
    };

    private static List<string> ResolveList(string column, JsonObject doc, string source)
    {
        JsonNode? value = doc;
        foreach (string part in column.Split('.'))
            value = value is JsonObject o && o.ContainsKey(part) ? o[part] : throw new TaskDefinitionException($"{source}: doc_to_choice names \"{column}\", which the document does not have");
        return value is JsonArray a ? a.Select(n => n is JsonValue v && v.TryGetValue(out string? s) ? s : n?.ToJsonString() ?? "").ToList()
            : throw new TaskDefinitionException($"{source}: doc_to_choice \"{column}\" is not a list");
    }

    private static string Required(JsonObject c, string key, string source) =>
        Optional(c, key) ?? throw new TaskDefinitionException($"{source}: the task has no \"{key}\"");

    private static string? Optional(JsonObject c, string key) =>
        c[key] is JsonValue v ? (v.TryGetValue(out string? s) ? s : v.ToJsonString()) : null;

    private static JsonObject ParseJson(string path, string text)
    {
        try { return JsonNode.Parse(text) as JsonObject ?? throw new TaskDefinitionException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new TaskDefinitionException($"{path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>A whole number however the file wrote it (YAML and JSON readers give long or double).</summary>
    private static int? Integer(JsonNode? node, string key, string source) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out long l) && l is >= int.MinValue and <= int.MaxValue => (int)l,
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue => (int)d,
        _ => throw new TaskDefinitionException($"{source}: {key} must be a whole number"),
    };

    private static JsonObject ParseYaml(string path, string text)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (YamlDotNet.Core.YamlException e) { throw new TaskDefinitionException($"{path}: not valid YAML ({e.Message})"); }
        if (stream.Documents.Count == 0 || ToJson(stream.Documents[0].RootNode) is not JsonObject root)
            throw new TaskDefinitionException($"{path}: expected a YAML mapping");
        return root;
    }

    /// <summary>YAML to JSON with YAML 1.2 core scalars: quoted stays text; plain true/false, null, numbers are typed.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p => KeyValuePair.Create(((YamlScalarNode)p.Key).Value ?? "", ToJson(p.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar when scalar.Style is YamlDotNet.Core.ScalarStyle.Plain => scalar.Value switch
        {
            null or "" or "~" or "null" => null,
            "true" or "True" => JsonValue.Create(true),
            "false" or "False" => JsonValue.Create(false),
            var s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l) => JsonValue.Create(l),
            var s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
            var s => JsonValue.Create(s),
        },
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? ""),
        _ => null,
    };
}
