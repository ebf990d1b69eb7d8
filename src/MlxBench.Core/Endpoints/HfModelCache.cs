using System.Net;
using System.IO.Enumeration;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Endpoints;

/// <summary>
/// Finds a file of a HuggingFace model repository the way <c>huggingface_hub</c> stores it, so a model downloaded by
/// any HF tool is found and one we download is found by them:
/// <c>$HF_HUB_CACHE</c> (default <c>$HF_HOME/hub</c>, <c>HF_HOME</c> default <c>~/.cache/huggingface</c>)
/// <c>/models--&lt;owner&gt;--&lt;name&gt;/snapshots/&lt;commit&gt;/&lt;file&gt;</c>, with branch and tag names resolved
/// through <c>refs/&lt;name&gt;</c> (<c>refs/main</c> by default) and the bytes in <c>blobs/&lt;etag&gt;</c>.
/// With <c>HF_HUB_OFFLINE</c> set a missing file is an error; otherwise it is downloaded from <c>$HF_ENDPOINT</c>
/// (default https://huggingface.co) with <c>HF_TOKEN</c> (or the token file) as bearer token, read here and never logged.
/// </summary>
public sealed partial class HfModelCache
{
    private readonly Func<string, string?> _environment;
    private readonly HttpMessageHandler? _handler;

    public HfModelCache(Func<string, string?>? environment = null, HttpMessageHandler? handler = null)
    {
        _environment = environment ?? Environment.GetEnvironmentVariable;
        _handler = handler;
    }

    public string CacheDirectory
    {
        get
        {
            if (Env("HF_HUB_CACHE") is { } hub) return Path.GetFullPath(hub);
            return Path.Combine(HomeDirectory, "hub");
        }
    }

    private string HomeDirectory => Env("HF_HOME") is { } home
        ? Path.GetFullPath(home)
        : Path.Combine(Env("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");

    public bool Offline => Env("HF_HUB_OFFLINE") is { } v && v.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on";

    /// <summary>The snapshot path of <paramref name="file"/> if it is in the cache, else null.</summary>
    public string? FindCached(string repoId, string file, string? revision)
    {
        string repo = RepoDirectory(repoId);
        string? commit = IsCommit(revision) ? revision : ReadRef(repo, revision ?? "main");
        if (commit is null) return null;
        string path = Path.Combine(repo, "snapshots", commit, file);
        return File.Exists(path) ? path : null;
    }

    /// <summary>The commit a data set repository's <paramref name="revision"/> (a branch, tag or commit) resolves to in
    /// the cache, when its snapshot is there; else null. Never touches the network.</summary>
    public string? CachedDatasetCommit(string repoId, string revision)
    {
        string repo = Path.Combine(CacheDirectory, "datasets--" + repoId.Replace("/", "--", StringComparison.Ordinal));
        string? commit = IsCommit(revision) ? revision : ReadRef(repo, revision);
        return commit is not null && Directory.Exists(Path.Combine(repo, "snapshots", commit)) ? commit : null;
    }

    /// <summary>True for a full (40 hex digit) commit hash.</summary>
    public static bool IsCommitHash(string? revision) => IsCommit(revision);

    /// <summary>The local path of the file, downloading it into the cache when needed and allowed.</summary>
    public async Task<string> ResolveAsync(string repoId, string file, string? revision, CancellationToken cancellationToken)
    {
        if (!ValidRepoId().IsMatch(repoId))
            throw new BenchException(BenchDiagnostic.Error("Hf.BadRepo", repoId));
        if (FindCached(repoId, file, revision) is { } cached) return cached;
        if (Offline)
            throw new BenchException(BenchDiagnostic.Error("Hf.NotCached", repoId, file, revision ?? "main", CacheDirectory));
        return await DownloadAsync(repoId, file, revision ?? "main", cancellationToken);
    }

    /// <summary>What loading a model folder reads (mlx-lm downloads the same): weights, configs, tokenizer files and
    /// chat templates, not READMEs, other weight formats or code.</summary>
    private static readonly string[] s_modelFolderPatterns = ["*.json", "*.safetensors", "tokenizer.model", "*.tiktoken", "*.txt", "*.jinja"];

    /// <summary>The snapshot folder of a whole model repository (an MLX-format model) if it is in the cache, else null.
    /// A snapshot counts only once its <c>config.json</c> is there: it is always downloaded last.</summary>
    public string? FindCachedSnapshot(string repoId, string? revision)
    {
        if (!ValidRepoId().IsMatch(repoId)) return null;
        string repo = RepoDirectory(repoId);
        string? commit = IsCommit(revision) ? revision : ReadRef(repo, revision ?? "main");
        if (commit is null) return null;
        string folder = Path.Combine(repo, "snapshots", commit);
        return File.Exists(Path.Combine(folder, "config.json")) ? folder : null;
    }

    /// <summary>The commit a model repository's revision stands for: the cache's when it has the snapshot, else the
    /// Hub's answer (one small request); null when offline and not cached, or the Hub cannot be asked.</summary>
    public async Task<string?> SnapshotCommitAsync(string repoId, string? revision, CancellationToken cancellationToken)
    {
        if (!ValidRepoId().IsMatch(repoId)) return null;
        if (IsCommit(revision)) return revision;
        if (FindCachedSnapshot(repoId, revision) is { } cached) return Path.GetFileName(cached);
        if (Offline) return null;
        try
        {
            return (await ListSnapshotAsync(repoId, revision ?? "main", cancellationToken)).Commit;
        }
        catch (BenchException)
        {
            return null;   // the endpoint's start reports it with the whole story
        }
    }

    /// <summary>
    /// The local folder of a whole model repository at <paramref name="revision"/> (an MLX-format model:
    /// <c>config.json</c>, safetensors, tokenizer files), downloading the files a model folder needs when they are not
    /// cached and that is allowed. <paramref name="commit"/>, when known, pins the snapshot the cell was planned with.
    /// </summary>
    public async Task<string> ResolveSnapshotAsync(string repoId, string? revision, string? commit, CancellationToken cancellationToken)
    {
        if (!ValidRepoId().IsMatch(repoId))
            throw new BenchException(BenchDiagnostic.Error("Hf.BadRepo", repoId));
        if (FindCachedSnapshot(repoId, commit ?? revision) is { } cached) return cached;
        if (Offline)
            throw new BenchException(BenchDiagnostic.Error("Hf.SnapshotNotCached", repoId, revision ?? "main", CacheDirectory));
        (string sha, IReadOnlyList<string> files) = await ListSnapshotAsync(repoId, commit ?? revision ?? "main", cancellationToken);
        if (!files.Contains("config.json", StringComparer.Ordinal))
            throw new BenchException(BenchDiagnostic.Error("Hf.NotAModelFolder", repoId, revision ?? "main"));
        foreach (string file in files.Where(f => f != "config.json").Append("config.json"))
            if (FindCached(repoId, file, sha) is null) await DownloadAsync(repoId, file, sha, cancellationToken);
        if (!IsCommit(revision)) AtomicWrite(Path.Combine(RepoDirectory(repoId), "refs", revision ?? "main"), sha);
        return Path.Combine(RepoDirectory(repoId), "snapshots", sha);
    }

    /// <summary>The Hub's commit for the revision and the repository's files a model folder needs
    /// (<c>GET /api/models/{repo}/revision/{revision}</c>: <c>sha</c> and <c>siblings[].rfilename</c>).</summary>
    private async Task<(string Commit, IReadOnlyList<string> Files)> ListSnapshotAsync(string repoId, string revision, CancellationToken cancellationToken)
    {
        string endpoint = (Env("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/');
        string url = $"{endpoint}/api/models/{repoId}/revision/{Uri.EscapeDataString(revision)}";
        using HttpClient client = NewClient(TimeSpan.FromMinutes(1), followRedirects: true);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (Token() is { } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new BenchException(BenchDiagnostic.Error("Hf.DownloadFailed", url, e.Message, "Check HF_ENDPOINT and the network, or set HF_HUB_OFFLINE=1 to use the cache alone."));
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode) throw Failure(url, response.StatusCode);
            JsonNode? info;
            try
            {
                info = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            }
            catch (JsonException e)
            {
                throw new BenchException(BenchDiagnostic.Error("Hf.DownloadFailed", url, "the answer is not JSON: " + e.Message, ""));
            }
            string sha = info?["sha"]?.GetValue<string>() is { } s && IsCommit(s) ? s
                : throw new BenchException(BenchDiagnostic.Error("Hf.DownloadFailed", url, "the answer names no commit (sha)", ""));
            List<string> files = (info?["siblings"] as JsonArray ?? [])
                .Select(f => f?["rfilename"]?.GetValue<string>())
                .OfType<string>()
                .Where(f => s_modelFolderPatterns.Any(p => FileSystemName.MatchesSimpleExpression(p, Path.GetFileName(f))))
                .Order(StringComparer.Ordinal)
                .ToList();
            return (sha, files);
        }
    }

    private async Task<string> DownloadAsync(string repoId, string file, string revision, CancellationToken cancellationToken)
    {
        string endpoint = (Env("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/');
        string url = $"{endpoint}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}";
        using HttpClient client = NewClient(Timeout.InfiniteTimeSpan, followRedirects: false);

        using var first = new HttpRequestMessage(HttpMethod.Get, url);
        if (Token() is { } token) first.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response = await client.SendAsync(first, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        // The Hub answers with the commit and the blob's id, then redirects large (LFS) files to a CDN that needs
        // no token: follow it ourselves so the token never leaves the Hub.
        string? commit = Header(response, "X-Repo-Commit");
        string? etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag;
        for (int hops = 0; IsRedirect(response.StatusCode) && hops < 5; hops++)
        {
            Uri next = new(new Uri(url), response.Headers.Location ?? throw Failure(url, response.StatusCode));
            response.Dispose();
            response = await client.GetAsync(next, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            etag ??= response.Headers.ETag?.Tag;
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode) throw Failure(url, response.StatusCode);
            commit ??= IsCommit(revision) ? revision : throw new BenchException(BenchDiagnostic.Error("Hf.DownloadFailed", url, "the answer names no commit (X-Repo-Commit)", ""));
            string blobId = (etag ?? Guid.NewGuid().ToString("N")).Replace("W/", "", StringComparison.Ordinal).Trim('"');
            string repo = RepoDirectory(repoId);
            string blob = Path.Combine(repo, "blobs", blobId);
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            if (!File.Exists(blob))
            {
                string partial = blob + "." + Guid.NewGuid().ToString("N")[..8] + ".incomplete";
                try
                {
                    await using (FileStream output = File.Create(partial))
                        await response.Content.CopyToAsync(output, cancellationToken);
                    File.Move(partial, blob, overwrite: true);
                }
                finally
                {
                    File.Delete(partial);
                }
            }
            string snapshot = Path.Combine(repo, "snapshots", commit, file);
            Directory.CreateDirectory(Path.GetDirectoryName(snapshot)!);
            if (!File.Exists(snapshot)) LinkOrCopy(blob, snapshot);
            if (!IsCommit(revision)) AtomicWrite(Path.Combine(repo, "refs", revision), commit);
            return snapshot;
        }
    }

    /// <summary>A client for one call (the Hub is asked a few times per build at most), over the test's handler when one
    /// was given.</summary>
    private HttpClient NewClient(TimeSpan timeout, bool followRedirects)
    {
        var client = new HttpClient(_handler ?? new SocketsHttpHandler { AllowAutoRedirect = followRedirects }, disposeHandler: _handler is null) { Timeout = timeout };
        client.DefaultRequestHeaders.UserAgent.ParseAdd("mlxbench/1");
        return client;
    }

    /// <summary>huggingface_hub's relative symlink; a copy where links are not allowed (Windows without privileges).</summary>
    private static void LinkOrCopy(string blob, string snapshot)
    {
        try
        {
            File.CreateSymbolicLink(snapshot, Path.GetRelativePath(Path.GetDirectoryName(snapshot)!, blob));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, snapshot, overwrite: true);
        }
    }

    private static void AtomicWrite(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    private string RepoDirectory(string repoId) => Path.Combine(CacheDirectory, "models--" + repoId.Replace("/", "--", StringComparison.Ordinal));

    private static string? ReadRef(string repo, string name)
    {
        string path = Path.Combine(repo, "refs", name);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    private string? Token()
    {
        if (Env("HF_TOKEN") is { } token) return token.Trim();
        string file = Env("HF_TOKEN_PATH") ?? Path.Combine(HomeDirectory, "token");
        return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } stored ? stored : null;
    }

    private string? Env(string name) => _environment(name) is { Length: > 0 } value ? value : null;

    private static bool IsCommit(string? revision) => revision is not null && CommitHash().IsMatch(revision);

    private static bool IsRedirect(HttpStatusCode status) => (int)status is >= 300 and < 400;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;

    private static BenchException Failure(string url, HttpStatusCode status)
    {
        string hint = status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? "The repository is gated or private: set HF_TOKEN to a token that can read it."
            : status == HttpStatusCode.NotFound ? "Check the repository id, the File path inside it and the Revision." : "";
        return new BenchException(BenchDiagnostic.Error("Hf.DownloadFailed", url, $"HTTP {(int)status}", hint));
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    private static partial Regex ValidRepoId();
}
