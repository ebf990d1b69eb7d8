using MlxBench.Core.Models;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Models;

/// <summary>An MLX model folder's <c>quantization</c>, as the envelope records it.</summary>
[TestClass]
public sealed class ModelFolderTests
{
    [TestMethod]
    [DataRow("""{"quantization": {"group_size": 64, "bits": 4}}""", "mlx-4bit")]
    [DataRow("""{"quantization_config": {"group_size": 32, "bits": 8}, "quantization": null}""", "mlx-8bit")]
    [DataRow("""{"model_type": "llama"}""", null)]
    [DataRow("""{ broken""", null)]
    public void Quantization_ComesFromConfigJson(string config, string? expected)
    {
        using var temp = new TempDirectory();
        temp.Write("config.json", config);

        Assert.AreEqual(expected, ModelFolder.Quantization(temp.Path));
    }

    [TestMethod]
    public void Files_AreRelative_Sorted_AndLeaveOutHiddenOnes()
    {
        using var temp = new TempDirectory();
        temp.Write("model-00002-of-00002.safetensors", "b");
        temp.Write("config.json", "{}");
        temp.Write("model-00001-of-00002.safetensors", "a");
        temp.Write(".cache/huggingface/download/x.lock", "");

        CollectionAssert.AreEqual(new[] { "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" }, ModelFolder.Files(temp.Path).ToArray());
    }
}
