using System.Globalization;
using System.Text.RegularExpressions;

namespace MlxBench.Core.Provenance;

/// <summary>
/// What started a run (<c>trigger</c>, <c>pr_number</c>), read from the GitHub Actions environment when there is one:
/// <c>GITHUB_EVENT_NAME</c> <c>schedule</c>, <c>workflow_dispatch</c> and <c>pull_request[_target]</c> map to the v1
/// enum; anything else, or no CI at all, is <c>local</c>.
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
        if (trigger == "pr" && environment.GetValueOrDefault("GITHUB_REF") is { } gitRef && PullRef().Match(gitRef) is { Success: true } m)
            pr = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return (trigger, pr);
    }

    [GeneratedRegex(@"^refs/pull/(\d+)/")]
    private static partial Regex PullRef();
}
