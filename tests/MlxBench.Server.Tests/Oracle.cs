using MlxBench.Testing;

namespace MlxBench.Server.Tests;

/// <summary>The documented greedy output of stories260K from BOS + "Once upon a time" (shared/models/README.md).</summary>
internal static class Oracle
{
    public const string Prompt = "Once upon a time";

    /// <summary>The whole oracle text, prompt included.</summary>
    public static string Text
    {
        get
        {
            string readme = File.ReadAllText(SharedData.RequireShared("models", "README.md"));
            int start = readme.IndexOf("```\n", readme.IndexOf("Correctness oracle", StringComparison.Ordinal), StringComparison.Ordinal) + 4;
            int end = readme.IndexOf("\n```", start, StringComparison.Ordinal);
            return readme[start..end];
        }
    }

    /// <summary>What a completion of <see cref="Prompt"/> must start with.</summary>
    public static string Continuation => Text[Prompt.Length..];
}
