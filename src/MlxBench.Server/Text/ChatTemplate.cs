using System.Text;
using MlxBench.Server.Engine;

namespace MlxBench.Server.Text;

/// <summary>One chat message after parsing: its role and its text content.</summary>
internal sealed record ChatMessage(string Role, string Content);

/// <summary>
/// Turns chat messages into the prompt text a model was trained on: the GGUF's <c>tokenizer.chat_template</c>
/// (a Jinja2 template, rendered by <see cref="JinjaTemplate"/>) when the file has one that renders, ChatML otherwise.
/// </summary>
internal abstract class ChatTemplate
{
    public static ChatTemplate ChatMl { get; } = new ChatMlTemplate();

    /// <summary>Where the template came from, for /tokenizer_info and the startup log.</summary>
    public abstract string Source { get; }

    /// <summary>The template text as /tokenizer_info reports it.</summary>
    public abstract string Text { get; }

    public abstract string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);

    public static ChatTemplate For(EngineModel model)
    {
        if (model.ChatTemplate is not { Length: > 0 } text) return ChatMl;
        return JinjaChatTemplate.TryCreate(text, model.BosText ?? "", model.EosText ?? "") ?? ChatMl;
    }

    private sealed class ChatMlTemplate : ChatTemplate
    {
        public override string Source => "chatml (built in)";

        public override string Text =>
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

        public override string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var sb = new StringBuilder();
            foreach (ChatMessage m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
            if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
            return sb.ToString();
        }
    }
}

/// <summary>A GGUF chat template rendered with the Jinja subset chat templates use.</summary>
internal sealed class JinjaChatTemplate : ChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string _bos, _eos;

    private JinjaChatTemplate(string text, JinjaTemplate template, string bos, string eos)
    {
        Text = text;
        _template = template;
        _bos = bos;
        _eos = eos;
    }

    public override string Source => "tokenizer.chat_template (GGUF)";
    public override string Text { get; }

    /// <summary>Null when the template uses Jinja this renderer does not support, or fails on a simple conversation.</summary>
    public static JinjaChatTemplate? TryCreate(string text, string bos, string eos)
    {
        try
        {
            var template = new JinjaChatTemplate(text, JinjaTemplate.Parse(text), bos, eos);
            template.Render([new ChatMessage("system", "s"), new ChatMessage("user", "u"), new ChatMessage("assistant", "a"), new ChatMessage("user", "u")], true);
            return template;
        }
        catch (JinjaException)
        {
            return null;
        }
    }

    public override string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var list = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList();
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = list,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = _bos,
            ["eos_token"] = _eos,
        };
        return _template.Render(variables);
    }
}
