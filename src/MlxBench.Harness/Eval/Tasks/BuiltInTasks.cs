using System.Globalization;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>
/// lm-eval's core tasks with their v0.4.11 configs (templates, delimiters, generation kwargs, filters, metrics,
/// versions). Each reads the HuggingFace rows lm-eval reads and the MosaicML ICL rows of <c>shared/tasks</c>, which
/// carry the same text in another shape; the prompts are the same either way.
/// </summary>
public static class BuiltInTasks
{
    public static IReadOnlyList<string> Names { get; } = ["arc_easy", "piqa", "winogrande", "lambada_openai", "gsm8k", "gsm8k_cot_zeroshot"];

    public static EvalTask? Find(string name) => name switch
    {
        "arc_easy" => ArcEasy(),
        "piqa" => Piqa(),
        "winogrande" => Winogrande(),
        "lambada_openai" => LambadaOpenAi(),
        "gsm8k" => Gsm8k(),
        "gsm8k_cot_zeroshot" => Gsm8kCotZeroshot(),
        _ => null,
    };

    private static readonly MetricSpec[] s_accAndNorm =
        [new("acc", "mean", HigherIsBetter: true), new("acc_norm", "mean", HigherIsBetter: true)];

    public static EvalTask ArcEasy() => new()
    {
        Name = "arc_easy",
        OutputType = OutputType.MultipleChoice,
        Tags = ["ai2_arc"],
        // HF: {id, question, choices: {text, label}, answerKey}; MosaicML: {query: "Question: <q>", choices, gold}.
        DocToText = doc => doc.ContainsKey("query") ? Str(doc, "query") + "\nAnswer:" : "Question: " + Str(doc, "question") + "\nAnswer:",
        DocToTarget = doc => DocTarget.OfIndex(doc.ContainsKey("gold")
            ? Int(doc, "gold")
            : Strings(doc["choices"]!["label"]).IndexOf(Str(doc, "answerKey"))),
        DocToChoice = doc => doc["choices"] is JsonArray ? Strings(doc["choices"]) : Strings(doc["choices"]!["text"]),
        Metrics = s_accAndNorm,
        DefaultData = "hf://datasets/allenai/ai2_arc/ARC-Easy/test-*.parquet",
        ConfigExtras = Config("allenai/ai2_arc", "ARC-Easy", test: "test", "Question: {{question}}\nAnswer:",
            "{{choices.label.index(answerKey)}}", "{{choices.text}}", train: "train", validation: "validation"),
    };

    public static EvalTask Piqa() => new()
    {
        Name = "piqa",
        OutputType = OutputType.MultipleChoice,
        // HF: {goal, sol1, sol2, label}; MosaicML: {query: "Question: <goal>\n", choices, gold}.
        DocToText = doc => doc.ContainsKey("query") ? Str(doc, "query") + "Answer:" : "Question: " + Str(doc, "goal") + "\nAnswer:",
        DocToTarget = doc => DocTarget.OfIndex(doc.ContainsKey("gold") ? Int(doc, "gold") : Int(doc, "label")),
        DocToChoice = doc => doc["choices"] is JsonArray ? Strings(doc["choices"]) : [Str(doc, "sol1"), Str(doc, "sol2")],
        Metrics = s_accAndNorm,
        DefaultData = "hf://datasets/baber/piqa/data/validation-*.parquet",
        ConfigExtras = Config("baber/piqa", null, test: null, "Question: {{goal}}\nAnswer:", "label", "{{[sol1, sol2]}}",
            train: "train", validation: "validation"),
    };

    /// <summary>lm-eval's "partial evaluation": the gold is the index of the right context, the target the rest of the sentence.</summary>
    public static EvalTask Winogrande() => new()
    {
        Name = "winogrande",
        OutputType = OutputType.MultipleChoice,
        // HF: {sentence, option1, option2, answer: "1"|"2"}; MosaicML: {context_options, continuation, gold}.
        DocToText = doc => DocText.OfIndex(doc.ContainsKey("gold") ? Int(doc, "gold") : Str(doc, "answer") switch
        {
            "1" => 0,
            "2" => 1,
            var a => throw new FormatException($"winogrande answer \"{a}\" is neither \"1\" nor \"2\""),
        }),
        DocToTarget = doc =>
        {
            if (doc.ContainsKey("continuation")) return DocTarget.OfText(Str(doc, "continuation"));
            string sentence = Str(doc, "sentence");
            return DocTarget.OfText(PyStr.Strip(sentence[(sentence.IndexOf('_', StringComparison.Ordinal) + 1)..]));
        },
        DocToChoice = doc =>
        {
            if (doc["context_options"] is JsonArray options) return Strings(options);
            string sentence = Str(doc, "sentence");
            string head = sentence[..sentence.IndexOf('_', StringComparison.Ordinal)];
            return [head + Str(doc, "option1"), head + Str(doc, "option2")];
        },
        Metrics = [new("acc", "mean", HigherIsBetter: true)],
        DefaultData = "hf://datasets/allenai/winogrande/winogrande_xl/validation-*.parquet",
        ConfigExtras = Config("allenai/winogrande", "winogrande_xl", test: null, "<function doc_to_text>", "<function doc_to_target>",
            "<function doc_to_choice>", train: "train", validation: "validation"),
    };

    public static EvalTask LambadaOpenAi() => new()
    {
        Name = "lambada_openai",
        OutputType = OutputType.Loglikelihood,
        Tags = ["lambada"],
        // HF: {text}, split on single spaces; MosaicML: {context, continuation: the last word}.
        DocToText = doc => doc.ContainsKey("context") ? Str(doc, "context") : string.Join(' ', Str(doc, "text").Split(' ')[..^1]),
        DocToTarget = doc => DocTarget.OfText(" " + (doc.ContainsKey("continuation") ? Str(doc, "continuation") : Str(doc, "text").Split(' ')[^1])),
        Metrics = [new("perplexity", "perplexity", HigherIsBetter: false), new("acc", "mean", HigherIsBetter: true)],
        DefaultData = "hf://datasets/EleutherAI/lambada_openai/default/test-*.parquet",
        ConfigExtras = Config("EleutherAI/lambada_openai", "default", test: "test", "{{text.split(' ')[:-1]|join(' ')}}",
            "{{' '+text.split(' ')[-1]}}", null),
    };

    private static readonly ExactMatchOptions s_gsm8kExactMatch = new([",", "\\$", "(?s).*#### ", "\\.$"], IgnoreCase: true, IgnorePunctuation: false, IgnoreNumbers: false);

    public static EvalTask Gsm8k() => new()
    {
        Name = "gsm8k",
        OutputType = OutputType.GenerateUntil,
        Version = 3.0,
        Tags = ["math_word_problems"],
        DocToText = doc => "Question: " + Str(doc, "question") + "\nAnswer:",
        DocToTarget = doc => DocTarget.OfText(Str(doc, "answer")),
        NumFewshot = 5,
        GenerationKwargs = new JsonObject
        {
            ["until"] = new JsonArray("Question:", "</s>", "<|im_end|>"),
            ["do_sample"] = false,
            ["temperature"] = 0.0,
        },
        Filters =
        [
            new("strict-match", [new FilterStep("regex", "#### (\\-?[0-9\\.\\,]+)"), new FilterStep("take_first")]),
            new("flexible-extract", [new FilterStep("regex", "(-?[$0-9.,]{2,})|(-?[0-9]+)", GroupSelect: -1), new FilterStep("take_first")]),
        ],
        Metrics = [new("exact_match", "mean", HigherIsBetter: true, s_gsm8kExactMatch)],
        DefaultData = "hf://datasets/openai/gsm8k/main/test-*.parquet",
        DefaultFewshotData = "hf://datasets/openai/gsm8k/main/train-*.parquet",
        ConfigExtras = Config("openai/gsm8k", "main", test: "test", "Question: {{question}}\nAnswer:", "{{answer}}", null,
            train: "train", fewshot: "train"),
    };

    public static EvalTask Gsm8kCotZeroshot() => Gsm8k() with
    {
        Name = "gsm8k_cot_zeroshot",
        DocToText = doc => "Q: " + Str(doc, "question") + "\nA: Let's think step by step.",
        NumFewshot = 0,
        GenerationKwargs = new JsonObject
        {
            ["until"] = new JsonArray("Q:", "</s>", "<|im_end|>"),
            ["do_sample"] = false,
        },
        Filters =
        [
            new("strict-match", [new FilterStep("regex", "The answer is (\\-?[0-9\\.\\,]+)."), new FilterStep("take_first")]),
            new("flexible-extract", [new FilterStep("regex", "(-?[$0-9.,]{2,})|(-?[0-9]+)", GroupSelect: -1), new FilterStep("take_first")]),
        ],
        Tags = ["chain_of_thought"],
        DefaultFewshotData = null,
        ConfigExtras = Config("openai/gsm8k", "main", test: "test", "Q: {{question}}\nA: Let's think step by step.", "{{answer}}", null),
    };

    private static JsonObject Config(string path, string? name, string? test, string text, string target, string? choice,
        string? train = null, string? validation = null, string? fewshot = null)
    {
        var config = new JsonObject { ["dataset_path"] = path };
        if (name is not null) config["dataset_name"] = name;
        if (train is not null) config["training_split"] = train;
        if (validation is not null) config["validation_split"] = validation;
        if (test is not null) config["test_split"] = test;
        if (fewshot is not null) config["fewshot_split"] = fewshot;
        config["doc_to_text"] = text;
        config["doc_to_target"] = target;
        if (choice is not null) config["doc_to_choice"] = choice;
        return config;
    }

    internal static string Str(JsonObject doc, string key) =>
        doc[key] is JsonValue v && v.TryGetValue(out string? s) ? s
        : throw new FormatException($"the document has no text field \"{key}\" (fields: {string.Join(", ", doc.Select(p => p.Key))})");

    internal static int Int(JsonObject doc, string key) => doc[key] switch
    {
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out long l) => checked((int)l),
        JsonValue v when v.TryGetValue(out string? s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) => parsed,
        _ => throw new FormatException($"the document has no integer field \"{key}\" (fields: {string.Join(", ", doc.Select(p => p.Key))})"),
    };

    internal static List<string> Strings(JsonNode? node) =>
        node is JsonArray array ? array.Select(n => n is JsonValue v && v.TryGetValue(out string? s) ? s : n?.ToJsonString() ?? "").ToList()
        : throw new FormatException("expected a list of strings");
}
