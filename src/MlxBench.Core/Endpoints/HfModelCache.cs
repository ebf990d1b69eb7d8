using System.Net;
using System.Net.Http.Headers;
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

    private async Task<string> DownloadAsync(string repoId, string file, string revision, CancellationToken cancellationToken)
    {
        string endpoint = (Env("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/');
        string url = $"{endpoint}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}";
        using var client = new HttpClient(_handler ?? new SocketsHttpHandler { AllowAutoRedirect = false }, disposeHandler: _handler is null)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        client.DefaultRequestHeaders.UserAgent.ParseAdd("mlxbench/1");

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
