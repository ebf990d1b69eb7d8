using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MlxBench.Core.Diagnostics;
using Polly;

namespace MlxBench.Core.Sinks.Hub;

/// <summary>What a commit came to: the new commit id, or a conflict because the branch moved past the parent.</summary>
public sealed record HubCommitOutcome(bool Committed, string? CommitOid);

/// <summary>
/// The Hub's HTTP protocol for dataset repositories, one method per endpoint, as huggingface_hub speaks it
/// (<c>hf_api.py</c>, <c>_commit_api.py</c>, <c>lfs.py</c>). Every request goes through <see cref="HubRetryPolicy"/>;
/// answers that are not transient become coded diagnostics. The token is sent only to the endpoint's own origin,
/// never to LFS storage URLs (they carry their own signature, as S3 presigned URLs do).
/// </summary>
public sealed partial class HubClient : IDisposable
{
    private static readonly MediaTypeWithQualityHeaderValue s_lfsMediaType = new("application/vnd.git-lfs+json");
    /// <summary>Which attempt a request was, so a final failure can say how often it was tried.</summary>
    private static readonly HttpRequestOptionsKey<int> s_attempt = new("mlxbench.hub.attempt");

    private readonly HubSettings _settings;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    public HubClient(HubSettings settings, Action<BenchDiagnostic>? report = null)
    {
        _settings = settings;
        _http = new HttpClient(settings.Handler ?? new SocketsHttpHandler(), disposeHandler: settings.Handler is null)
        {
            Timeout = settings.RequestTimeout,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("mlxbench", typeof(HubClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
        _pipeline = HubRetryPolicy.Create(settings, report);
    }

    public Uri Endpoint => _settings.Endpoint;

    private string Api(HubDatasetReference repo) => $"{_settings.Endpoint.AbsoluteUri.TrimEnd('/')}/api/datasets/{repo.RepoId}";

    private string Git(HubDatasetReference repo) => $"{_settings.Endpoint.AbsoluteUri.TrimEnd('/')}/datasets/{repo.RepoId}.git";

    /// <summary><c>GET /api/datasets/{repo}/revision/{rev}</c> (huggingface_hub <c>dataset_info</c>): the commit the
    /// revision points at, used as <c>parentCommit</c> so a concurrent writer cannot be overwritten.</summary>
    public async Task<string> GetHeadAsync(HubDatasetReference repo, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync("revision", () => new HttpRequestMessage(HttpMethod.Get, $"{Api(repo)}/revision/{repo.QuotedRevision}"), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new BenchException(BenchDiagnostic.Error("Hub.RepoNotFound", repo.RepoId, repo.Revision, _settings.Endpoint));
        await EnsureSuccessAsync(response, "revision", cancellationToken);
        HubRepoInfo info = await ReadJsonAsync<HubRepoInfo>(response, "revision", cancellationToken);
        return info.Sha is { Length: 40 } sha ? sha : throw Protocol("revision", "no 40-character \"sha\"");
    }

    /// <summary><c>POST /api/datasets/{repo}/paths-info/{rev}</c> with form fields <c>paths</c> (repeated) and
    /// <c>expand</c>, as huggingface_hub's <c>get_paths_info</c> sends them; paths that do not exist are left out of
    /// the answer. Batched like <c>_fetch_files_to_copy</c> does.</summary>
    public async Task<IReadOnlyList<HubPathInfo>> GetPathsInfoAsync(HubDatasetReference repo, string revision, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var found = new List<HubPathInfo>();
        foreach (string[] chunk in paths.Chunk(100))
        {
            using HttpResponseMessage response = await SendAsync("paths-info", () => new HttpRequestMessage(HttpMethod.Post, $"{Api(repo)}/paths-info/{Uri.EscapeDataString(revision)}")
            {
                Content = new FormUrlEncodedContent([.. chunk.Select(p => new KeyValuePair<string, string>("paths", p)), new("expand", "False")]),
            }, cancellationToken);
            await EnsureSuccessAsync(response, "paths-info", cancellationToken);
            found.AddRange(await ReadJsonAsync<List<HubPathInfo>>(response, "paths-info", cancellationToken));
        }
        return found;
    }

    /// <summary><c>POST /api/datasets/{repo}/preupload/{rev}</c> in chunks of 256 (huggingface_hub
    /// <c>_fetch_upload_modes</c>): whether each file goes to LFS or inline, and whether the repo ignores it.</summary>
    public async Task<IReadOnlyList<HubPreuploadAnswer>> PreuploadAsync(HubDatasetReference repo, IReadOnlyList<HubUpload> uploads, CancellationToken cancellationToken)
    {
        var answers = new List<HubPreuploadAnswer>();
        foreach (HubUpload[] chunk in uploads.Chunk(256))
        {
            var body = new HubPreuploadRequest(chunk.Select(u => new HubPreuploadFile(u.PathInRepo, u.Sample, u.Size)).ToList());
            using HttpResponseMessage response = await SendAsync("preupload", () => new HttpRequestMessage(HttpMethod.Post, $"{Api(repo)}/preupload/{repo.QuotedRevision}")
            {
                Content = JsonContent.Create(body),
            }, cancellationToken);
            await EnsureSuccessAsync(response, "preupload", cancellationToken);
            HubPreuploadResponse parsed = await ReadJsonAsync<HubPreuploadResponse>(response, "preupload", cancellationToken);
            if (parsed.Files is null || parsed.Files.Any(f => f.UploadMode is not ("lfs" or "regular")))
                throw Protocol("preupload", "\"files\" missing or an uploadMode other than lfs/regular");
            answers.AddRange(parsed.Files);
        }
        return answers;
    }

    /// <summary><c>POST {endpoint}/datasets/{repo}.git/info/lfs/objects/batch</c> (huggingface_hub
    /// <c>post_lfs_batch_info</c>): upload instructions per object.</summary>
    public async Task<IReadOnlyList<LfsBatchObject>> LfsBatchAsync(HubDatasetReference repo, IReadOnlyList<HubUpload> uploads, CancellationToken cancellationToken)
    {
        var body = new LfsBatchRequest("upload", ["basic"], uploads.Select(u => new LfsObjectSpec(u.Sha256, u.Size)).ToList(), "sha256", new LfsRef(repo.Revision));
        using HttpResponseMessage response = await SendAsync("LFS batch", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"{Git(repo)}/info/lfs/objects/batch") { Content = JsonContent.Create(body, s_lfsMediaType) };
            request.Headers.Accept.Add(s_lfsMediaType);
            return request;
        }, cancellationToken);
        await EnsureSuccessAsync(response, "LFS batch", cancellationToken);
        LfsBatchResponse parsed = await ReadJsonAsync<LfsBatchResponse>(response, "LFS batch", cancellationToken);
        if (parsed.Objects is null) throw Protocol("LFS batch", "no \"objects\"");
        if (parsed.Transfer is { } transfer && transfer != "basic") throw Protocol("LFS batch", $"transfer \"{transfer}\" although only basic was offered");
        return parsed.Objects;
    }

    /// <summary>The <c>basic</c> transfer: one PUT of the whole object to the action's href with the action's headers
    /// (huggingface_hub <c>lfs.py</c> <c>_upload_single_part</c>; no token, the href is presigned).</summary>
    public async Task UploadAsync(LfsAction upload, HubUpload file, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync($"LFS upload of {file.PathInRepo}", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, FixEndpoint(upload.Href)) { Content = new ByteArrayContent(file.Bytes) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            AddActionHeaders(request, upload);
            return request;
        }, cancellationToken, authorize: false);
        await EnsureSuccessAsync(response, $"LFS upload of {file.PathInRepo}", cancellationToken);
    }

    /// <summary>The verify action: <c>{oid, size}</c> posted back so the Hub checks the storage holds the object
    /// (huggingface_hub <c>lfs.py</c> <c>lfs_upload</c> step 3, which sends the Hub headers, token included).</summary>
    public async Task VerifyAsync(LfsAction verify, HubUpload file, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync($"LFS verify of {file.PathInRepo}", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, FixEndpoint(verify.Href)) { Content = JsonContent.Create(new LfsVerifyRequest(file.Sha256, file.Size), s_lfsMediaType) };
            request.Headers.Accept.Add(s_lfsMediaType);
            AddActionHeaders(request, verify);
            return request;
        }, cancellationToken);
        await EnsureSuccessAsync(response, $"LFS verify of {file.PathInRepo}", cancellationToken);
    }

    /// <summary>
    /// <c>POST /api/datasets/{repo}/commit/{rev}</c> as NDJSON (huggingface_hub <c>_prepare_commit_payload</c>): a
    /// <c>header</c> line with summary, description and <c>parentCommit</c>, then one <c>lfsFile</c> (path, sha256 oid)
    /// or <c>file</c> (base64 content) line per file. With a parent commit, a retry after a lost answer is safe: if the
    /// first attempt landed, the branch moved and the Hub answers 412, which the caller re-plans from.
    /// </summary>
    public async Task<HubCommitOutcome> CommitAsync(HubDatasetReference repo, string summary, string description, string parentCommit,
        IReadOnlyList<(HubUpload File, bool Lfs)> files, CancellationToken cancellationToken)
    {
        byte[] payload = CommitPayload(summary, description, parentCommit, files);
        using HttpResponseMessage response = await SendAsync("commit", () =>
        {
            var content = new ByteArrayContent(payload);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
            return new HttpRequestMessage(HttpMethod.Post, $"{Api(repo)}/commit/{repo.QuotedRevision}") { Content = content };
        }, cancellationToken);
        // 412: "A commit has happened since. Please refresh and try again." (huggingface_hub tests/test_hf_api.py).
        if (response.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
            return new HubCommitOutcome(false, null);
        await EnsureSuccessAsync(response, "commit", cancellationToken);
        HubCommitResponse parsed = await ReadJsonAsync<HubCommitResponse>(response, "commit", cancellationToken);
        return parsed.CommitOid is { } oid ? new HubCommitOutcome(true, oid) : throw Protocol("commit", "no \"commitOid\"");
    }

    internal static byte[] CommitPayload(string summary, string description, string parentCommit, IReadOnlyList<(HubUpload File, bool Lfs)> files)
    {
        var lines = new List<object>
        {
            new { key = "header", value = new { summary, description, parentCommit } },
        };
        foreach ((HubUpload file, bool lfs) in files)
            lines.Add(lfs
                ? new { key = "lfsFile", value = (object)new { path = file.PathInRepo, algo = "sha256", oid = file.Sha256 } }
                : new { key = "file", value = (object)new { content = Convert.ToBase64String(file.Bytes), path = file.PathInRepo, encoding = "base64" } });
        var text = new StringBuilder();
        foreach (object line in lines)
            text.Append(JsonSerializer.Serialize(line)).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary><c>GET /api/datasets/{repo}/tree/{rev}/{path}?recursive=true</c>, following <c>Link: rel="next"</c>
    /// pages (huggingface_hub <c>list_repo_tree</c> / <c>paginate</c>).</summary>
    public async IAsyncEnumerable<HubPathInfo> ListTreeAsync(HubDatasetReference repo, string path, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? url = $"{Api(repo)}/tree/{repo.QuotedRevision}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}?recursive=true&expand=false";
        while (url is not null)
        {
            string current = url;
            using HttpResponseMessage response = await SendAsync("tree", () => new HttpRequestMessage(HttpMethod.Get, current), cancellationToken);
            // The Hub tells a missing folder (X-Error-Code: EntryNotFound) from a missing repo or revision.
            if (response.StatusCode == HttpStatusCode.NotFound && ErrorCode(response) == "EntryNotFound")
                yield break;
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new BenchException(BenchDiagnostic.Error("Hub.RepoNotFound", repo.RepoId, repo.Revision, _settings.Endpoint));
            await EnsureSuccessAsync(response, "tree", cancellationToken);
            foreach (HubPathInfo entry in await ReadJsonAsync<List<HubPathInfo>>(response, "tree", cancellationToken))
                yield return entry;
            url = response.Headers.TryGetValues("Link", out IEnumerable<string>? links) ? NextLink(string.Join(",", links)) : null;
        }
    }

    /// <summary><c>GET {endpoint}/datasets/{repo}/resolve/{rev}/{path}</c> (huggingface_hub <c>hf_hub_url</c>).</summary>
    public async Task<byte[]> DownloadAsync(HubDatasetReference repo, string pathInRepo, CancellationToken cancellationToken)
    {
        string url = $"{_settings.Endpoint.AbsoluteUri.TrimEnd('/')}/datasets/{repo.RepoId}/resolve/{repo.QuotedRevision}/{string.Join('/', pathInRepo.Split('/').Select(Uri.EscapeDataString))}";
        using HttpResponseMessage response = await SendAsync($"download of {pathInRepo}", () => new HttpRequestMessage(HttpMethod.Get, url), cancellationToken);
        await EnsureSuccessAsync(response, $"download of {pathInRepo}", cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(string operation, Func<HttpRequestMessage> create, CancellationToken cancellationToken, bool authorize = true)
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(HubRetryPolicy.Operation, operation);
        try
        {
            var attempts = new StrongBox<int>();
            return await _pipeline.ExecuteAsync(async (ctx, state) =>
            {
                HttpRequestMessage request = state.create();
                request.Options.Set(s_attempt, ++state.attempts.Value);
                if (state.authorize) state.self.Authorize(request);
                return await state.self._http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ctx.CancellationToken);
            }, context, (self: this, create, authorize, attempts));
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new BenchException(BenchDiagnostic.Error("Hub.RequestFailed", operation, _settings.Endpoint, _settings.MaxRetries + 1, Redact(HubRetryPolicy.Describe(e))));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (_settings.Token is not { } token || request.RequestUri is not { } uri) return;
        if (Uri.Compare(uri, _settings.Endpoint, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) != 0) return;
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.BearerValue);
    }

    private static void AddActionHeaders(HttpRequestMessage request, LfsAction action)
    {
        foreach ((string name, string value) in action.Header ?? [])
        {
            // A multipart transfer puts part URLs and chunk_size into the header map; basic never does, and they are no headers.
            if (name.Equals("chunk_size", StringComparison.OrdinalIgnoreCase) || name.All(char.IsAsciiDigit)) continue;
            if (!request.Headers.TryAddWithoutValidation(name, value))
                request.Content?.Headers.TryAddWithoutValidation(name, value);
        }
    }

    /// <summary>Upload and verify URLs name the public Hub even when a mirror answered; point them back at the mirror
    /// (huggingface_hub <c>fix_hf_endpoint_in_url</c>).</summary>
    private string FixEndpoint(string href) =>
        _settings.Endpoint != HubSettings.DefaultEndpoint && href.StartsWith(HubSettings.DefaultEndpoint.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal)
            ? _settings.Endpoint.AbsoluteUri.TrimEnd('/') + href[HubSettings.DefaultEndpoint.AbsoluteUri.TrimEnd('/').Length..]
            : href;

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string operation, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        string detail = await ErrorTextAsync(response, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new BenchException(BenchDiagnostic.Error("Hub.TokenRejected", _settings.Endpoint, (int)response.StatusCode, operation, detail));
        int attempts = response.RequestMessage?.Options.TryGetValue(s_attempt, out int n) == true ? n : 1;
        throw new BenchException(BenchDiagnostic.Error("Hub.RequestFailed", operation, _settings.Endpoint, attempts,
            $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {detail}"));
    }

    private async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            if (JsonSerializer.Deserialize<HubErrorBody>(text)?.Error is { } error) text = error;
        }
        catch (JsonException)
        {
            // not the Hub's JSON error shape: show the text as it came
        }
        if (text.Length > 300) text = text[..300] + "...";
        return Redact(text.ReplaceLineEndings(" "));
    }

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, string operation, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(cancellationToken) ?? throw Protocol(operation, "JSON null");
        }
        catch (JsonException e)
        {
            throw Protocol(operation, e.Message);
        }
    }

    private static string? ErrorCode(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Error-Code", out IEnumerable<string>? values) ? values.FirstOrDefault() : null;

    private static BenchException Protocol(string operation, string detail) =>
        new(BenchDiagnostic.Error("Hub.ProtocolError", operation, detail));

    private string Redact(string text) => _settings.Token?.Redact(text) ?? text;

    internal static string? NextLink(string header)
    {
        Match match = NextLinkPattern().Match(header);
        return match.Success ? match.Groups[1].Value : null;
    }

    [GeneratedRegex("<([^>]+)>;\\s*rel=\"next\"")]
    private static partial Regex NextLinkPattern();

    public void Dispose() => _http.Dispose();
}
