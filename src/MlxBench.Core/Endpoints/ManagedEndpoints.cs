using System.Globalization;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Endpoints;

/// <summary>
/// The <c>BenchEndpoint</c> items Bench starts itself: <c>Server="native"</c> (MlxBench.Server over the native engine,
/// serving the model of each <c>BenchModel</c> that names the endpoint) or <c>Command="..."</c> (any server, run
/// through the shell with <c>MLXBENCH_PORT</c> and the model's variables set). Their settings are item metadata,
/// checked here at planning time so a typo fails before anything runs.
/// </summary>
public static class ManagedEndpoints
{
    public const string NativeServer = "native";

    /// <summary>Whole-number settings and what they mean; all optional.</summary>
    public static IReadOnlyDictionary<string, string> NumberSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["ReadyTimeout"] = "seconds to wait for the server to answer its health probe (default 120)",
        ["Parallel"] = "native: sequences decoded together (default 8)",
        ["ContextSize"] = "native: positions per sequence (default: the model's, at most 4096)",
        ["Threads"] = "native: compute threads (default: all cores)",
    };

    public const int DefaultReadyTimeoutSeconds = 120;
    public const int DefaultParallel = 8;

    /// <summary>True when the item is a managed endpoint; <paramref name="spec"/> is null when it had errors (reported).</summary>
    public static bool TryParse(DeclaredItem item, List<BenchDiagnostic> diagnostics, out EndpointSpec? spec)
    {
        spec = null;
        string? server = item.Get("Server");
        string? command = item.Get("Command");
        if (server is null && command is null) return false;

        int before = diagnostics.Count;
        if (server is not null && command is not null)
            diagnostics.Add(BenchDiagnostic.Error("Endpoint.ServerAndCommand", item.Name));
        if (item.Get("BaseUrl") is { } baseUrl)
            diagnostics.Add(BenchDiagnostic.Error("Endpoint.ManagedWithBaseUrl", item.Name, server is not null ? "Server" : "Command", baseUrl));
        if (server is not null && !string.Equals(server, NativeServer, StringComparison.OrdinalIgnoreCase))
            diagnostics.Add(BenchDiagnostic.Error("Endpoint.UnknownServer", item.Name, server, NativeServer));
        foreach (string key in NumberSettings.Keys)
            if (item.Get(key) is { } text && !(int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0))
                diagnostics.Add(BenchDiagnostic.Error("Items.BadNumber", "BenchEndpoint", item.Name, key, text));
        if (diagnostics.Count > before) return true;

        spec = new EndpointSpec(item.Name, "", new SortedDictionary<string, string>(StringComparer.Ordinal))
        {
            Server = server?.ToLowerInvariant(),
            Command = command,
        };
        return true;
    }

    public static int Number(EndpointSpec endpoint, string key, int fallback) =>
        endpoint.Metadata.TryGetValue(key, out string? text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : fallback;

    public static string? Text(EndpointSpec endpoint, string key) =>
        endpoint.Metadata.TryGetValue(key, out string? text) && !string.IsNullOrWhiteSpace(text) ? text.Trim() : null;
}
