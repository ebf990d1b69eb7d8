using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MlxBench.Harness.Eval.Data;

/// <summary>A parsed <c>hf://datasets/&lt;owner&gt;/&lt;name&gt;[@revision]/&lt;path or glob&gt;</c> reference.</summary>
public sealed record HfDatasetReference(string Repo, string Revision, string PathPattern)
{
    public const string Prefix = "hf://datasets/";

    public static bool IsHf(string value) => value.StartsWith(Prefix, StringComparison.Ordinal);

    public static HfDatasetReference Parse(string value)
    {
        string rest = value[Prefix.Length..];
        string[] parts = rest.Split('/', 3);
        if (parts.Length < 3 || parts[0].Length == 0 || parts[1].Length == 0 || parts[2].Length == 0)
            throw new DataException($"\"{value}\" is not of the form hf://datasets/<owner>/<name>[@revision]/<file or glob>");
        string name = parts[1], revision = "main";
        int at = name.IndexOf('@');
        if (at >= 0) { revision = name[(at + 1)..]; name = name[..at]; }
        return new HfDatasetReference($"{parts[0]}/{name}", revision, parts[2]);
    }

    public Regex PathRegex() =>
        new("^" + Regex.Escape(PathPattern).Replace("\\*", "[^/]*", StringComparison.Ordinal).Replace("\\?", "[^/]", StringComparison.Ordinal) + "$");
}

/// <summary>
/// Resolves <c>hf://datasets/...</c> files through the standard HuggingFace cache layout
/// (<c>$HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>:
/// <c>datasets--owner--name/refs/&lt;rev&gt;</c> holds the commit, <c>snapshots/&lt;commit&gt;/&lt;path&gt;</c> the files),
/// so files fetched by <c>huggingface-cli download</c> or the <c>datasets</c> library are reused. With
/// <c>HF_HUB_OFFLINE=1</c> only the cache is read; otherwise missing files are downloaded from <c>$HF_ENDPOINT</c>
/// (default https://huggingface.co) into the same layout, with <c>HF_TOKEN</c> read from the environment.
/// </summary>
public sealed class HfDatasets(HttpClient http, IReadOnlyDictionary<string, string?>? environment = null)
{
    private string? Env(string name) => environment is not null ? environment.GetValueOrDefault(name) : Environment.GetEnvironmentVariable(name);

    public string CacheRoot =>
        Env("HF_HUB_CACHE") is { Length: > 0 } hubCache ? hubCache
        : Env("HF_HOME") is { Length: > 0 } home ? Path.Combine(home, "hub")
        : Path.Combine(Env("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface", "hub");

    public bool Offline => Env("HF_HUB_OFFLINE") is "1" or "true" or "TRUE" or "yes" or "ON" or "on";

    private string Endpoint => (Env("HF_ENDPOINT") is { Length: > 0 } e ? e : "https://huggingface.co").TrimEnd('/');

    public string RepoFolder(HfDatasetReference reference) => Path.Combine(CacheRoot, "datasets--" + reference.Repo.Replace("/", "--", StringComparison.Ordinal));

    public async Task<IReadOnlyList<string>> ResolveAsync(string value, CancellationToken cancellationToken)
    {
        HfDatasetReference reference = HfDatasetReference.Parse(value);
        if (FromCache(reference) is { Count: > 0 } cached) return cached;
        if (Offline)
            throw new DataException($"{value} is not in the HuggingFace cache ({RepoFolder(reference)}) and HF_HUB_OFFLINE is set. " +
                $"Download it first (huggingface-cli download --repo-type dataset {reference.Repo} --include \"{reference.PathPattern}\"), or give a local file in Data=\"...\".");
        return await DownloadAsync(reference, value, cancellationToken);
    }

    private List<string>? FromCache(HfDatasetReference reference)
    {
        string repo = RepoFolder(reference);
        string refFile = Path.Combine(repo, "refs", reference.Revision);
        string commit = File.Exists(refFile) ? File.ReadAllText(refFile).Trim() : reference.Revision;
        string snapshot = Path.Combine(repo, "snapshots", commit);
        if (!Directory.Exists(snapshot)) return null;
        Regex pattern = reference.PathRegex();
        return Directory.EnumerateFiles(snapshot, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(snapshot, f).Replace('\\', '/'))
            .Where(p => pattern.IsMatch(p))
            .Order(StringComparer.Ordinal)
            .Select(p => Path.Combine(snapshot, p))
            .ToList();
    }

    private async Task<IReadOnlyList<string>> DownloadAsync(HfDatasetReference reference, string value, CancellationToken cancellationToken)
    {
        JsonNode info;
        try
        {
            using HttpRequestMessage request = Authorized(HttpMethod.Get, $"{Endpoint}/api/datasets/{reference.Repo}/revision/{Uri.EscapeDataString(reference.Revision)}");
            using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
                throw new DataException($"{value}: the Hub answered {(int)response.StatusCode} for {reference.Repo}@{reference.Revision}" +
                    (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden ? " (a gated or private data set needs HF_TOKEN)" : ""));
            info = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
        }
        catch (HttpRequestException e)
        {
            throw new DataException($"{value}: the Hub at {Endpoint} could not be reached ({e.Message}); set HF_HUB_OFFLINE=1 to use the cache only, or give a local file in Data=\"...\"");
        }
        string commit = (string?)info["sha"] ?? throw new DataException($"{value}: the Hub's answer has no commit sha");
        Regex pattern = reference.PathRegex();
        string[] files = (info["siblings"] as JsonArray ?? [])
            .Select(s => (string?)s?["rfilename"]).OfType<string>().Where(p => pattern.IsMatch(p)).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new DataException($"{value}: no file of {reference.Repo}@{reference.Revision} matches \"{reference.PathPattern}\"");

        string repo = RepoFolder(reference);
        string snapshot = Path.Combine(repo, "snapshots", commit);
        var paths = new List<string>();
        foreach (string file in files)
        {
            string target = Path.Combine(snapshot, file);
            if (!File.Exists(target))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using HttpRequestMessage request = Authorized(HttpMethod.Get, $"{Endpoint}/datasets/{reference.Repo}/resolve/{commit}/{file}");
                using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (!response.IsSuccessStatusCode) throw new DataException($"{value}: downloading {file} failed with HTTP {(int)response.StatusCode}");
                string temp = target + ".incomplete";
                await using (FileStream output = File.Create(temp))
                    await response.Content.CopyToAsync(output, cancellationToken);
                File.Move(temp, target, overwrite: true);
            }
            paths.Add(target);
        }
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        if (reference.Revision != commit) await File.WriteAllTextAsync(Path.Combine(repo, "refs", reference.Revision), commit, cancellationToken);
        return paths;
    }

    private HttpRequestMessage Authorized(HttpMethod method, string url)
    {
        var request = new HttpRequestMessage(method, url);
        if (Env("HF_TOKEN") is { Length: > 0 } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }
}
