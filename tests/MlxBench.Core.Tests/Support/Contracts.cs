using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;
using Microsoft.Extensions.Time.Testing;

[assembly: Parallelize(Scope = ExecutionScope.ClassLevel)]

namespace MlxBench.Core.Tests;

/// <summary>The two contracts every envelope we produce is held to: our <c>schema.json</c> and upstream's 0.6.1 schema.</summary>
internal static class Contracts
{
    private static readonly Lazy<SchemaValidator> s_upstream =
        new(() => SchemaValidator.FromJson(SharedData.ReadFixture("upstream", "schema.v0.6.1.json")));

    public static SchemaValidator Upstream061 => s_upstream.Value;

    /// <summary>Fails with every error when the envelope breaks ours or (if it uses no later v1 field) upstream's 0.6.1 schema.</summary>
    public static void AssertValidUnderBoth(Envelope envelope, string because = "") => AssertValidUnderBoth(EnvelopeJson.Serialize(envelope), because);

    public static void AssertValidUnderBoth(string json, string because = "")
    {
        IReadOnlyList<SchemaError> ours = SchemaValidator.Default.Validate(json);
        Assert.IsEmpty(ours, $"{because} breaks schema.json:\n{string.Join("\n", ours)}\n{json}");
        IReadOnlyList<SchemaError> upstream = Upstream061.Validate(json);
        Assert.IsEmpty(upstream, $"{because} breaks upstream's 0.6.1 schema:\n{string.Join("\n", upstream)}\n{json}");
    }
}

/// <summary>Converter contexts as the SDK builds them, with a fixed machine and a fixed clock.</summary>
internal static class Contexts
{
    public static readonly DateTimeOffset Now = new(2026, 5, 4, 12, 30, 15, TimeSpan.Zero);

    public static SystemInfo System() => new() { Os = "Debian GNU/Linux 12 (bookworm)", Chip = "AMD EPYC 7763", MemoryGb = 24, Kernel = "6.1.0-18-amd64" };

    public static ConverterContext For(string suite, string model = "mlx-community/Qwen3.5-9B-MLX-4bit", params (string Key, string Value)[] extraTags) => new()
    {
        Suite = suite,
        Model = model,
        GitSha = "deadbeef",
        System = System(),
        ExtraTags = extraTags.Select(t => new KeyValuePair<string, string>(t.Key, t.Value)).ToArray(),
        Clock = new FakeTimeProvider(Now),
    };
}
