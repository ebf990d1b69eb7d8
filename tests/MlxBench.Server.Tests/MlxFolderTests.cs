using System.Text.Json.Nodes;
using MlxBench.Testing;

namespace MlxBench.Server.Tests;

/// <summary>The server serves an MLX-format model folder (what mlx-community publishes) as it serves a GGUF file: the
/// folder is stories260K converted by the engine's own <c>mlxbench-engine convert</c>, quantized to 8 bits.</summary>
[TestClass]
public sealed class MlxFolderTests
{
    [TestMethod]
    public async Task An8BitMlxFolder_GivesTheGgufsGreedyText_AndIsServedUnderItsFolderName()
    {
        using var temp = new TempDirectory("mlxb-mlx-folder");
        string folder = temp.Combine("stories260K-8bit");
        TestServer.RunEngineCli("convert", "-m", TestServer.Stories260K, "-o", folder, "--q-bits", "8");
        await using TestServer server = await TestServer.StartAsync(o => o with { ModelPath = folder, ServedModelName = null });

        JsonNode models = JsonNode.Parse(await server.Client.GetStringAsync("v1/models"))!;
        Assert.AreEqual("stories260K-8bit", (string)models["data"]![0]!["id"]!);
        // 40 tokens: the GGUF's own greedy text has its first near-tie (top two logits 0.07 apart) at token 57, where
        // 8-bit weights may rightly choose the other story.
        JsonNode r = await server.PostOkAsync("v1/completions", new { model = "stories260K-8bit", prompt = Oracle.Prompt, max_tokens = 40, temperature = 0 });
        string text = (string)r["choices"]![0]!["text"]!;
        Assert.AreEqual(40, (int)r["usage"]!["completion_tokens"]!);
        Assert.AreEqual(Oracle.Continuation[..text.Length], text);
    }
}
