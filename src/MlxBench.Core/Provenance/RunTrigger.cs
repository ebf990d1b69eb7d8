using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MlxBench.Core.Provenance;

/// <summary>
/// What started a run (<c>trigger</c>, <c>pr_number</c>), read from the GitHub Actions environment when there is one:
/// <c>GITHUB_EVENT_NAME</c> <c>schedule</c>, <c>workflow_dispatch</c> and <c>pull_request[_target]</c> map to the v1
/// enum; anything else, or no CI at all, is <c>local</c>. The pull request number comes from <c>GITHUB_REF</c>
/// (<c>refs/pull/N/merge</c>) or, for <c>pull_request_target</c> whose ref is the base branch, from the event payload.
/// </summary>
public static partial class RunTrigger
{
    public static (string Trigger, long? PrNumber) Detect(IReadOnlyDictionary<string, string?> environment, string? explicitTrigger = null)
    {
        string? eventName = environment.GetValueOrDefault("GITHUB_EVENT_NAME");
        string trigger = !string.IsNullOrWhiteSpace(explicitTrigger) ? explicitTrigger.Trim() : eventName switch
        {
            "schedule" => "schedule",
            "workflow_dispatch" => "workflow_dispatch",
            "pull_request" or "pull_request_target" => "pr",
            _ => "local",
        };
        long? pr = null;
        if (trigger == "pr")
            pr = FromRef(environment.GetValueOrDefault("GITHUB_REF")) ?? FromEventPayload(environment.GetValueOrDefault("GITHUB_EVENT_PATH"));
        return (trigger, pr);
    }

    private static long? FromRef(string? gitRef) =>
        gitRef is not null && PullRef().Match(gitRef) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    /// <summary>The event JSON GitHub writes for the job: <c>pull_request.number</c>, or <c>number</c> at the top.</summary>
    private static long? FromEventPayload(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path)) return null;
        try
        {
            using JsonDocument payload = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement root = payload.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            if (root.TryGetProperty("pull_request", out JsonElement pull) && pull.ValueKind == JsonValueKind.Object
                && pull.TryGetProperty("number", out JsonElement number) && number.ValueKind == JsonValueKind.Number && number.TryGetInt64(out long fromPull))
                return fromPull;
            return root.TryGetProperty("number", out JsonElement top) && top.ValueKind == JsonValueKind.Number && top.TryGetInt64(out long n) ? n : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^refs/pull/(\d+)/")]
    private static partial Regex PullRef();
}
