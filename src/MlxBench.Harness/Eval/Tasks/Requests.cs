using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>A chat message as lm-eval builds it for <c>--apply_chat_template</c>.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A prompt: plain text, or chat messages. For chat, <see cref="Text"/> is what lm-eval logs and hashes as <c>arg_0</c>:
/// <c>json.dumps(messages, ensure_ascii=False)</c> (0.4.9–0.4.11 add <c>"type": "text"</c> to each message).
/// </summary>
public sealed record Prompt(string Text, IReadOnlyList<ChatMessage>? Messages = null)
{
    public bool IsChat => Messages is not null;

    public static Prompt Chat(IReadOnlyList<ChatMessage> messages, bool typeField)
    {
        var array = new JsonArray();
        foreach (ChatMessage m in messages)
        {
            var item = new JsonObject { ["role"] = m.Role, ["content"] = m.Content };
            if (typeField) item["type"] = "text";
            array.Add(item);
        }
        return new Prompt(PyJson.Dumps(array, ensureAscii: false), messages);
    }
}

/// <summary>One request of a document (lm-eval's <c>Instance.arguments</c>).</summary>
public abstract record EvalRequest;

/// <summary>log P(continuation | context), and whether the continuation is the greedy one.</summary>
public sealed record LoglikelihoodRequest(string Context, string Continuation) : EvalRequest;

/// <summary>The log-likelihood of a whole text, over rolling windows.</summary>
public sealed record RollingRequest(string Text) : EvalRequest;

/// <summary>Generate from <paramref name="Context"/> until a stop sequence; <paramref name="GenKwargs"/> as lm-eval logs it.</summary>
public sealed record GenerateRequest(Prompt Context, JsonObject GenKwargs) : EvalRequest
{
    public IReadOnlyList<string> Until =>
        GenKwargs["until"] is JsonArray a ? a.Select(n => n!.GetValue<string>()).ToList()
        : GenKwargs["until"] is JsonValue v && v.TryGetValue(out string? s) ? [s] : [];
}

/// <summary>A document of the eval split with the requests built for it, in lm-eval's order.</summary>
public sealed record DocRequests(int DocId, JsonObject Doc, IReadOnlyList<EvalRequest> Requests);

/// <summary>What a backend answered for one request.</summary>
public abstract record EvalResponse;

public sealed record LoglikelihoodResponse(double LogLikelihood, bool IsGreedy) : EvalResponse;

public sealed record RollingResponse(double LogLikelihood) : EvalResponse;

public sealed record GenerateResponse(string Text) : EvalResponse;
