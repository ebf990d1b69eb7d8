using System.Text;
using System.Text.Json.Nodes;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>How prompts are laid out beyond what the task says (lm-eval's command-line switches).</summary>
public sealed record PromptOptions
{
    /// <summary><c>--num_fewshot</c>: overrides the task's own count.</summary>
    public int? NumFewshot { get; init; }
    /// <summary><c>--apply_chat_template</c>: prompts become chat messages (generation tasks only here).</summary>
    public bool ApplyChatTemplate { get; init; }
    public bool FewshotAsMultiturn { get; init; }
    public string? SystemInstruction { get; init; }
    /// <summary>Reproduce lm-eval 0.4.3–0.4.9.x: chat runs without multi-turn draw few-shot examples twice per document.</summary>
    public bool DoubleSampleChatFewshot { get; init; }
    /// <summary>Reproduce lm-eval 0.4.9–0.4.11: each logged chat message carries <c>"type": "text"</c>.</summary>
    public bool ChatMessageTypeField { get; init; }
    /// <summary><c>--gen_kwargs</c>: merged over the task's generation_kwargs (dict update, as lm-eval does).</summary>
    public JsonObject? GenKwargs { get; init; }
}

/// <summary>
/// Builds each document's requests exactly as lm-eval's <c>fewshot_context</c> + <c>construct_requests</c> do: the
/// description, the few-shot examples (text, target delimiter, target, few-shot delimiter), then the document's text;
/// one loglikelihood request per choice, or one generation request with the task's generation kwargs.
/// </summary>
public sealed class PromptBuilder(EvalTask task, FewshotSampler? sampler, PromptOptions options)
{
    public int NumFewshot => options.NumFewshot ?? task.NumFewshot;

    public DocRequests Build(int docId, JsonObject doc)
    {
        IReadOnlyList<EvalRequest> requests = task.OutputType switch
        {
            OutputType.MultipleChoice => MultipleChoice(doc),
            OutputType.Loglikelihood => [new LoglikelihoodRequest(TextContext(doc), TargetText(doc))],
            OutputType.LoglikelihoodRolling => [new RollingRequest(TargetText(doc))],
            OutputType.GenerateUntil => [new GenerateRequest(Context(doc), GenerationKwargs())],
            _ => throw new InvalidOperationException(task.OutputType.ToString()),
        };
        return new DocRequests(docId, doc, requests);
    }

    private List<EvalRequest> MultipleChoice(JsonObject doc)
    {
        IReadOnlyList<string> choices = Choices(doc);
        if (task.IsMultipleInput(doc))
        {
            // The choices are contexts; the one continuation follows each of them.
            string examples = LabeledExamplesText(doc);
            string continuation = task.TargetDelimiter + TargetText(doc);
            return choices.Select(c => (EvalRequest)new LoglikelihoodRequest(examples + c, continuation)).ToList();
        }
        string context = TextContext(doc);
        return choices.Select(c => (EvalRequest)new LoglikelihoodRequest(context, task.TargetDelimiter + c)).ToList();
    }

    /// <summary>The prompt of a loglikelihood task, which lm-eval never renders as chat here.</summary>
    private string TextContext(JsonObject doc) => LabeledExamplesText(doc) + ExampleText(doc);

    private Prompt Context(JsonObject doc)
    {
        if (!options.ApplyChatTemplate) return new Prompt(TextContext(doc));

        var messages = new List<ChatMessage>();
        if (SystemPrompt() is { Length: > 0 } system) messages.Add(new ChatMessage("system", system));
        if (NumFewshot > 0 && sampler is not null)
        {
            if (options.FewshotAsMultiturn)
            {
                foreach (JsonObject example in sampler.Draw(doc, NumFewshot))
                {
                    messages.Add(new ChatMessage("user", ExampleContent(example)));
                    messages.Add(new ChatMessage("assistant", ExampleTarget(example) ?? ""));
                }
            }
            else
            {
                if (options.DoubleSampleChatFewshot) sampler.Draw(doc, NumFewshot);
                messages.Add(new ChatMessage("user", FewshotText(doc)));
            }
        }
        string question = ExampleText(doc);
        if (!options.FewshotAsMultiturn && messages.Count > 0 && messages[^1].Role == "user")
            messages[^1] = messages[^1] with { Content = messages[^1].Content + question };
        else messages.Add(new ChatMessage("user", question));
        return Prompt.Chat(messages, options.ChatMessageTypeField);
    }

    /// <summary>description (or system instruction) + few-shot examples, the part every choice shares.</summary>
    private string LabeledExamplesText(JsonObject doc)
    {
        string text = SystemPrompt() ?? "";
        if (NumFewshot > 0 && sampler is not null) text += FewshotText(doc);
        return text;
    }

    private string? SystemPrompt()
    {
        string description = task.Description;
        if (options.SystemInstruction is { } instruction)
            return description.Length > 0 ? instruction + task.FewshotDelimiter + description : instruction;
        return description.Length > 0 ? description : null;
    }

    /// <summary><c>ContextSampler.get_context</c>: each example's text, delimiter, target and few-shot delimiter.</summary>
    private string FewshotText(JsonObject doc)
    {
        var b = new StringBuilder();
        foreach (JsonObject example in sampler!.Draw(doc, NumFewshot))
        {
            b.Append(ExampleContent(example));
            if (ExampleTarget(example) is { } target)
            {
                b.Append(task.TargetDelimiter).Append(target).Append(task.FewshotDelimiter);
            }
        }
        return b.ToString();
    }

    private string ExampleContent(JsonObject example)
    {
        DocText text = task.DocToText(example);
        return text.Text ?? Choices(example)[text.Index!.Value];
    }

    /// <summary>The example's answer as the prompt shows it; null when lm-eval skips it (an empty target).</summary>
    private string? ExampleTarget(JsonObject example)
    {
        DocTarget target = task.DocToTarget(example);
        if (target.Text is { } text) return text.Length == 0 ? null : text;
        if (target.Indices is { } list) return list[0].ToString(System.Globalization.CultureInfo.InvariantCulture);
        return task.DocToChoice is null ? target.ToString() : Choices(example)[target.Index!.Value];
    }

    /// <summary>The document's own text after the examples (for multiple-input tasks: nothing, the choices carry it).</summary>
    private string ExampleText(JsonObject doc)
    {
        DocText text = task.DocToText(doc);
        if (text.Text is { } s) return s;
        return task.IsMultipleInput(doc) ? "" : Choices(doc)[text.Index!.Value];
    }

    private string TargetText(JsonObject doc) => task.DocToTarget(doc).Text
        ?? throw new InvalidOperationException($"task {task.Name}: doc_to_target must give text for a {task.OutputType} task");

    private IReadOnlyList<string> Choices(JsonObject doc) => task.DocToChoice?.Invoke(doc)
        ?? throw new InvalidOperationException($"task {task.Name} has no doc_to_choice");

    private JsonObject GenerationKwargs()
    {
        var kwargs = (JsonObject)(task.GenerationKwargs?.DeepClone() ?? new JsonObject
        {
            ["temperature"] = 0.0,
            ["do_sample"] = false,
            ["max_gen_toks"] = 256,
        });
        if (options.GenKwargs is { } overrides)
            foreach ((string key, JsonNode? value) in overrides) kwargs[key] = value?.DeepClone();
        if (!kwargs.ContainsKey("until")) kwargs["until"] = new JsonArray(task.FewshotDelimiter);
        return kwargs;
    }
}
