using MlxBench.Server.Text;
using MlxBench.Testing;

namespace MlxBench.Server.Tests;

/// <summary>Real chat templates (as shipped in GGUF files and HF tokenizer configs) give the prompts HF's
/// apply_chat_template gives (trim_blocks and lstrip_blocks on).</summary>
[TestClass]
public sealed class JinjaTemplateTests
{
    private static readonly ChatMessage[] s_conversation =
        [new("system", "S"), new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")];

    private static string Render(string template, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, string bos = "<s>", string eos = "</s>") =>
        JinjaChatTemplate.TryCreate(template, bos, eos)?.Render(messages, addGenerationPrompt) ?? throw new AssertFailedException("the template did not parse");

    [TestMethod]
    public void Qwen2Template_FromTheSharedGguf_RendersChatMlWithItsDefaultSystemPrompt()
    {
        string gguf = SharedData.RequireShared("tokenizers", "ggml-vocab-qwen2.gguf");
        using var model = MlxBench.Server.Engine.EngineModel.LoadVocabOnly(gguf, TestServer.EngineLibrary);
        Assert.IsNotNull(model.ChatTemplate);
        ChatTemplate template = ChatTemplate.For(model);
        Assert.AreEqual("tokenizer.chat_template (GGUF)", template.Source);
        Assert.AreEqual("<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            template.Render([new ChatMessage("user", "Hi")], true));
    }

    [TestMethod]
    public void Llama2Template_PutsTheSystemPromptInTheFirstTurn_AndRaisesOnBadOrder()
    {
        const string llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
        Assert.AreEqual("<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]", Render(llama2, s_conversation));
        var template = JinjaChatTemplate.TryCreate(llama2, "<s>", "</s>")!;
        JinjaException e = Assert.ThrowsExactly<JinjaException>(() => template.Render([new ChatMessage("assistant", "x")], true));
        StringAssert.Contains(e.Message, "must alternate");
    }

    [TestMethod]
    public void Llama3Template_TrimsContentAndAddsTheHeader()
    {
        const string llama3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
        Assert.AreEqual("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Render(llama3, [new ChatMessage("user", "  Hi ")], bos: "<|begin_of_text|>"));
    }

    [TestMethod]
    public void ZephyrTemplate_WithNewlinesBetweenTags_KeepsOnlyTheNewlinesAfterOutput()
    {
        const string zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
        Assert.AreEqual("<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n", Render(zephyr, [new ChatMessage("system", "S"), new ChatMessage("user", "Hi")]));
    }

    [TestMethod]
    public void NamespacesFiltersAndTests_BehaveLikeJinja()
    {
        const string t = "{%- set ns = namespace(found=false, n=0) -%}\n{%- for m in messages if m.role != 'system' -%}\n  {%- set ns.n = ns.n + 1 -%}\n  {%- if m.content is defined and 'y' in m.content %}{% set ns.found = true %}{% endif -%}\n{%- endfor -%}\n{{ ns.n }}|{{ ns.found }}|{{ messages | length }}|{{ (messages | selectattr('role', 'equalto', 'user') | list | length) }}|{{ messages[-1]['content'] | upper }}|{{ undefined_var | default('d') }}|{{ [1, 2, 3] | join('-') }}|{{ 'a,b' .split(',') | tojson }}|{{ {'k': 1} | tojson }}|{{ 7 // 2 }}|{{ 'x' if none is none else 'y' }}";
        Assert.AreEqual("3|True|4|2|BYE|d|1-2-3|[\"a\", \"b\"]|{\"k\": 1}|3|x", Render(t, s_conversation));
    }

    [TestMethod]
    public void UnsupportedJinja_IsRefused_SoTheServerFallsBackToChatMl()
    {
        Assert.IsNull(JinjaChatTemplate.TryCreate("{% macro m() %}x{% endmacro %}{{ m() }}", "", ""));
        Assert.IsNull(JinjaChatTemplate.TryCreate("{{ messages | frobnicate }}", "", ""));
        Assert.IsNull(JinjaChatTemplate.TryCreate("{% if %}", "", ""));
    }
}
