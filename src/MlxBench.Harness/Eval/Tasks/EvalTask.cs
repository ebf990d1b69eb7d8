using System.Text.Json.Nodes;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>lm-eval's four request kinds (a task's <c>output_type</c>).</summary>
public enum OutputType { MultipleChoice, Loglikelihood, LoglikelihoodRolling, GenerateUntil }

/// <summary>What <c>doc_to_text</c> returns: a prompt string, or (WinoGrande) the index of the right context.</summary>
public readonly record struct DocText(string? Text, int? Index)
{
    public static implicit operator DocText(string text) => new(text, null);
    public static DocText OfIndex(int index) => new(null, index);
}

/// <summary>What <c>doc_to_target</c> returns: a choice index, a list of acceptable indices, or a string.</summary>
public readonly record struct DocTarget(int? Index, IReadOnlyList<int>? Indices, string? Text)
{
    public static DocTarget OfIndex(int index) => new(index, null, null);
    public static DocTarget OfText(string text) => new(null, null, text);
    public static DocTarget OfIndices(IReadOnlyList<int> indices) => new(null, indices, null);

    /// <summary><c>str(target)</c>, as the samples file's <c>target</c> field holds it.</summary>
    public override string ToString() =>
        Index is { } i ? i.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : Indices is { } list ? "[" + string.Join(", ", list) + "]"
        : Text ?? "";
}

/// <summary>One metric of a task: its per-document function name, how documents aggregate, and its direction.</summary>
/// <param name="Name">lm-eval's metric name (<c>acc</c>, <c>acc_norm</c>, <c>exact_match</c>, <c>perplexity</c>, ...).</param>
/// <param name="Aggregation"><c>mean</c>, <c>perplexity</c>, <c>weighted_perplexity</c> or <c>bits_per_byte</c>.</param>
public sealed record MetricSpec(string Name, string Aggregation, bool HigherIsBetter, ExactMatchOptions? ExactMatch = null);

/// <summary>The keyword arguments of lm-eval's <c>exact_match</c> metric.</summary>
public sealed record ExactMatchOptions(IReadOnlyList<string> RegexesToIgnore, bool IgnoreCase, bool IgnorePunctuation, bool IgnoreNumbers);

/// <summary>One step of a filter pipeline (<c>regex</c>, <c>take_first</c>, <c>remove_whitespace</c>, <c>lowercase</c>, <c>uppercase</c>).</summary>
public sealed record FilterStep(string Function, string? RegexPattern = null, int GroupSelect = 0, string Fallback = "[invalid]");

/// <summary>A named filter pipeline; its name is the metric-key suffix (<c>exact_match,strict-match</c>).</summary>
public sealed record FilterPipeline(string Name, IReadOnlyList<FilterStep> Steps);

/// <summary>
/// A task as lm-eval's <c>TaskConfig</c> describes it, with the document functions as delegates: the built-in tasks
/// implement them in C#, user tasks (<see cref="UserTaskLoader"/>) from templates. Everything that shapes a prompt or a
/// score is here, so two tasks with the same config produce the same requests.
/// </summary>
public sealed record EvalTask
{
    public required string Name { get; init; }
    public required OutputType OutputType { get; init; }
    /// <summary><c>metadata.version</c>, as lm-eval writes it under <c>versions</c>.</summary>
    public double Version { get; init; } = 1.0;
    public required Func<JsonObject, DocText> DocToText { get; init; }
    public required Func<JsonObject, DocTarget> DocToTarget { get; init; }
    public Func<JsonObject, IReadOnlyList<string>>? DocToChoice { get; init; }
    /// <summary>Applied to every document after loading (lm-eval's <c>process_docs</c>); null keeps the row.</summary>
    public Func<JsonObject, JsonObject>? ProcessDocs { get; init; }
    /// <summary>For rolling tasks: the text whose words and bytes are counted (lm-eval counts on the original document).</summary>
    public Func<JsonObject, string>? RollingCountText { get; init; }
    public string Description { get; init; } = "";
    public string TargetDelimiter { get; init; } = " ";
    public string FewshotDelimiter { get; init; } = "\n\n";
    public int NumFewshot { get; init; }
    /// <summary>generate_until's <c>generation_kwargs</c> in lm-eval's key order (<c>until</c>, <c>do_sample</c>, <c>temperature</c>, ...).</summary>
    public JsonObject? GenerationKwargs { get; init; }
    /// <summary>No <c>filter_list</c> means one pipeline <c>none</c> = take_first.</summary>
    public IReadOnlyList<FilterPipeline> Filters { get; init; } = [new("none", [new FilterStep("take_first")])];
    public required IReadOnlyList<MetricSpec> Metrics { get; init; }
    /// <summary>Where the documents come from when the suite gives no <c>Data</c>: an <c>hf://datasets/...</c> reference.</summary>
    public string? DefaultData { get; init; }
    /// <summary>Where few-shot examples come from when the suite gives no <c>FewshotData</c>; null: the eval split itself.</summary>
    public string? DefaultFewshotData { get; init; }
    /// <summary>Extra <c>configs</c> keys written to the results file (dataset_path, splits, templates as lm-eval shows them).</summary>
    public JsonObject ConfigExtras { get; init; } = [];
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>WinoGrande-style tasks: doc_to_text gives the gold index and the choices are contexts.</summary>
    public bool IsMultipleInput(JsonObject doc) => OutputType == OutputType.MultipleChoice && DocToText(doc).Index is not null;
}
