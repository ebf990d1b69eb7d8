using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MlxBench.Core.Tests.Hub;

/// <summary>A request as the server saw it, for assertions (never its Authorization value).</summary>
internal sealed record HubRequestRecord(HubOperation Operation, string Method, string Path, int Status, bool Authorized, string? Fault);

/// <summary>
/// A HuggingFace Hub on 127.0.0.1 (Kestrel) that implements the endpoints a dataset publish and a dataset read use,
/// with the Hub's request and answer shapes: <c>revision</c>, <c>paths-info</c> (form or JSON), <c>tree</c> (paged
/// with <c>Link</c>), <c>preupload</c>, the git-lfs batch API with basic transfer to a presigned storage URL and a
/// verify action, the NDJSON <c>commit</c> with <c>parentCommit</c> (412 when stale), and <c>resolve</c>. Storage
/// refuses a request that carries the Hub token (as S3 refuses a second auth mechanism), stores an object only when
/// its whole body hashes to its oid, and a commit referencing an object not in storage is refused. Faults come from
/// <see cref="Faults"/>. Nothing is logged, so the token cannot leak through the server either.
/// </summary>
internal sealed class FakeHubServer : IAsyncDisposable
{
    public const string LfsAttributes = "*.parquet filter=lfs diff=lfs merge=lfs -text\n*.json -text\n";

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<string, HubRepo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _storage = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<HubRequestRecord> _log = new();
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);

    private FakeHubServer(WebApplication app, string token)
    {
        _app = app;
        Token = token;
    }

    public string Token { get; }
    public Uri Endpoint { get; private set; } = null!;
    public HubFaultPlan Faults { get; } = new();
    /// <summary>Entries per <c>tree</c> page; small values exercise pagination.</summary>
    public int TreePageSize { get; set; } = 1000;
    public IReadOnlyCollection<HubRequestRecord> Requests => _log.ToArray();
    public int StoredObjects => _storage.Count;

    public static async Task<FakeHubServer> StartAsync(string token)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = 256L << 20).UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        var server = new FakeHubServer(app, token);
        server.Map(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Endpoint = new Uri(address);
        return server;
    }

    /// <summary>Creates a dataset repository with the initial commit the Hub makes (<c>.gitattributes</c>).</summary>
    public HubRepo CreateDataset(string repoId, string branch = "main")
    {
        lock (_gate)
        {
            var repo = new HubRepo(repoId);
            repo.Commit(branch, "initial commit", [GitObjects.Regular(".gitattributes", Encoding.UTF8.GetBytes(LfsAttributes))]);
            _repos[repoId] = repo;
            return repo;
        }
    }

    public HubRepo Repo(string repoId)
    {
        lock (_gate) return _repos[repoId];
    }

    /// <summary>Runs <paramref name="read"/> on the server state under its lock.</summary>
    public T Read<T>(Func<T> read)
    {
        lock (_gate) return read();
    }

    public byte[]? StoredObject(string sha256) => _storage.GetValueOrDefault(sha256);

    /// <summary>Commits as another writer would (an LFS object goes to storage too).</summary>
    public HubCommit CommitAsAnotherWriter(HubRepo repo, string branch, string path, byte[] content, bool lfs)
    {
        lock (_gate)
        {
            if (!lfs) return repo.Commit(branch, "another writer", [GitObjects.Regular(path, content)]);
            string oid = GitObjects.Sha256(content);
            _storage[oid] = content;
            return repo.Commit(branch, "another writer", [GitObjects.Lfs(path, oid, content.Length)]);
        }
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            HubOperation operation = HubFaultPlan.Classify(context.Request);
            HubFault? fault = Faults.Take(operation);
            try
            {
                switch (fault)
                {
                    case StatusFault status:
                        context.Response.StatusCode = status.Status;
                        if (status.RetryAfter is { } after) context.Response.Headers.RetryAfter = after;
                        await context.Response.WriteAsJsonAsync(new { error = $"injected {status.Status}" });
                        return;
                    case DropMidBodyFault drop:
                        var buffer = new byte[drop.BytesBeforeDrop];
                        int read = 0;
                        while (read < buffer.Length)
                        {
                            int n = await context.Request.Body.ReadAsync(buffer.AsMemory(read));
                            if (n == 0) break;
                            read += n;
                        }
                        context.Abort();
                        return;
                    case DropAnswerFault:
                        Stream original = context.Response.Body;
                        context.Response.Body = new MemoryStream();
                        await next(context);
                        context.Response.Body = original;
                        context.Abort();
                        return;
                    case ConcurrentWriterFault writer:
                        lock (_gate) writer.Write(_repos.Values.First());
                        break;
                }
                await next(context);
            }
            finally
            {
                _log.Enqueue(new HubRequestRecord(operation, context.Request.Method, context.Request.Path, context.Response.StatusCode,
                    context.Request.Headers.Authorization.Count > 0, fault?.GetType().Name));
            }
        });

        app.MapGet("/api/datasets/{owner}/{name}/revision/{**revision}", (HttpContext c, string owner, string name, string revision) =>
            WithRepo(c, owner, name, write: false, repo =>
            {
                HubCommit? commit = repo.Resolve(Uri.UnescapeDataString(revision));
                if (commit is null) return NotFound("RevisionNotFound", $"Invalid rev id: {revision}");
                return Results.Json(new
                {
                    _id = "6" + commit.Oid[..23],
                    id = repo.Id,
                    sha = commit.Oid,
                    @private = false,
                    lastModified = "2026-11-01T00:00:00.000Z",
                    siblings = commit.Tree.Keys.Order(StringComparer.Ordinal).Select(p => new { rfilename = p }),
                });
            }));

        app.MapPost("/api/datasets/{owner}/{name}/paths-info/{**revision}", async (HttpContext c, string owner, string name, string revision) =>
        {
            List<string> paths = await ReadPathsAsync(c.Request);
            return WithRepo(c, owner, name, write: false, repo =>
            {
                if (repo.Resolve(Uri.UnescapeDataString(revision)) is not { } commit) return NotFound("RevisionNotFound", $"Invalid rev id: {revision}");
                if (paths.Count == 0) return Results.Json(new { error = "paths must be a non-empty list" }, statusCode: 400);
                var answer = new List<object>();
                foreach (string path in paths.Distinct(StringComparer.Ordinal))
                {
                    if (commit.Tree.TryGetValue(path, out HubFile? file)) answer.Add(Describe(file));
                    else if (commit.Tree.Keys.Any(k => k.StartsWith(path.TrimEnd('/') + "/", StringComparison.Ordinal)))
                        answer.Add(new { type = "directory", oid = new string('0', 40), size = 0, path = path.TrimEnd('/') });
                }
                return Results.Json(answer);
            });
        });

        app.MapGet("/api/datasets/{owner}/{name}/tree/{revision}/{**path}", (HttpContext c, string owner, string name, string revision, string? path) =>
            WithRepo(c, owner, name, write: false, repo =>
            {
                if (repo.Resolve(Uri.UnescapeDataString(revision)) is not { } commit) return NotFound("RevisionNotFound", $"Invalid rev id: {revision}");
                string prefix = string.IsNullOrEmpty(path) ? "" : path.TrimEnd('/') + "/";
                bool recursive = c.Request.Query["recursive"] == "true";
                var entries = commit.Tree.Values.Where(f => f.Path.StartsWith(prefix, StringComparison.Ordinal)
                        && (recursive || !f.Path[prefix.Length..].Contains('/')))
                    .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
                if (entries.Count == 0 && prefix.Length > 0) return NotFound("EntryNotFound", $"{path} does not exist on \"{revision}\"");
                int cursor = int.TryParse(c.Request.Query["cursor"], out int at) ? at : 0;
                List<HubFile> page = entries.Skip(cursor).Take(TreePageSize).ToList();
                if (cursor + page.Count < entries.Count)
                    c.Response.Headers.Link = $"<{Endpoint.AbsoluteUri.TrimEnd('/')}{c.Request.Path}?recursive={(recursive ? "true" : "false")}&cursor={cursor + page.Count}>; rel=\"next\"";
                return Results.Json(page.Select(Describe));
            }));

        app.MapPost("/api/datasets/{owner}/{name}/preupload/{**revision}", async (HttpContext c, string owner, string name, string revision) =>
        {
            JsonNode? body = await JsonNode.ParseAsync(c.Request.Body);
            return WithRepo(c, owner, name, write: true, repo =>
            {
                if (repo.Resolve(Uri.UnescapeDataString(revision)) is not { } commit) return NotFound("RevisionNotFound", $"Invalid rev id: {revision}");
                if (body?["files"] is not JsonArray files) return Results.Json(new { error = "files is required" }, statusCode: 400);
                return Results.Json(new
                {
                    files = files.Select(f =>
                    {
                        string path = (string)f!["path"]!;
                        long size = (long)f["size"]!;
                        byte[] sample = Convert.FromBase64String((string?)f["sample"] ?? "");
                        bool lfs = path.EndsWith(".parquet", StringComparison.Ordinal) || sample.Contains((byte)0) || size >= 10 << 20;
                        return new
                        {
                            path,
                            uploadMode = lfs ? "lfs" : "regular",
                            shouldIgnore = repo.GitIgnore.Split('\n', StringSplitOptions.RemoveEmptyEntries).Any(rule => Ignores(rule.Trim(), path)),
                            oid = commit.Tree.GetValueOrDefault(path)?.BlobOid,
                        };
                    }),
                    commitOid = commit.Oid,
                });
            });
        });

        app.MapPost("/datasets/{owner}/{name}.git/info/lfs/objects/batch", async (HttpContext c, string owner, string name) =>
        {
            if (!c.Request.Headers.Accept.ToString().Contains("application/vnd.git-lfs+json", StringComparison.Ordinal))
                return Results.Json(new { message = "Accept must be application/vnd.git-lfs+json" }, statusCode: 406);
            JsonNode? body = await JsonNode.ParseAsync(c.Request.Body);
            return WithRepo(c, owner, name, write: true, repo =>
            {
                if ((string?)body?["operation"] != "upload") return Results.Json(new { message = "only upload is supported" }, statusCode: 422);
                if (body["transfers"] is JsonArray transfers && !transfers.Any(t => (string?)t == "basic"))
                    return Results.Json(new { message = "no supported transfer adapter" }, statusCode: 422);
                string baseUrl = Endpoint.AbsoluteUri.TrimEnd('/');
                var objects = ((JsonArray)body["objects"]!).Select(o =>
                {
                    string oid = (string)o!["oid"]!;
                    long size = (long)o["size"]!;
                    if (oid.Length != 64 || !oid.All(char.IsAsciiHexDigitLower))
                        return (object)new { oid, size, error = new { code = 422, message = "oid must be a lowercase sha256" } };
                    if (_storage.ContainsKey(oid)) return new { oid, size, authenticated = true };
                    return new
                    {
                        oid,
                        size,
                        authenticated = true,
                        actions = new
                        {
                            upload = new { href = $"{baseUrl}/lfs-storage/{oid}?size={size}", header = new Dictionary<string, string> { ["x-mlxb-signature"] = Sign(oid, size) }, expires_in = 900 },
                            verify = new { href = $"{baseUrl}/datasets/{repo.Id}.git/info/lfs/objects/verify", header = new Dictionary<string, string>() },
                        },
                    };
                });
                return Results.Json(new { transfer = "basic", objects, hash_algo = "sha256" }, contentType: "application/vnd.git-lfs+json");
            });
        });

        app.MapPut("/lfs-storage/{oid}", async (HttpContext c, string oid) =>
        {
            if (c.Request.Headers.Authorization.Count > 0)
                return Results.Text("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>", "application/xml", statusCode: 400);
            long size = long.TryParse(c.Request.Query["size"], out long s) ? s : -1;
            if (c.Request.Headers["x-mlxb-signature"] != Sign(oid, size))
                return Results.Text("<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml", statusCode: 403);
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            byte[] bytes = body.ToArray();
            if (bytes.Length != size || GitObjects.Sha256(bytes) != oid)
                return Results.Text("<Error><Code>BadDigest</Code></Error>", "application/xml", statusCode: 400);
            _storage[oid] = bytes;
            return Results.Ok();
        });

        app.MapPost("/datasets/{owner}/{name}.git/info/lfs/objects/verify", async (HttpContext c, string owner, string name) =>
        {
            JsonNode? body = await JsonNode.ParseAsync(c.Request.Body);
            return WithRepo(c, owner, name, write: true, _ =>
            {
                string oid = (string?)body?["oid"] ?? "";
                if (!_storage.TryGetValue(oid, out byte[]? bytes)) return Results.Json(new { message = "object not found" }, statusCode: 404);
                if ((long?)body?["size"] != bytes.Length) return Results.Json(new { message = "size mismatch" }, statusCode: 422);
                return Results.Json(new { message = "ok" });
            });
        });

        app.MapPost("/api/datasets/{owner}/{name}/commit/{**revision}", async (HttpContext c, string owner, string name, string revision) =>
        {
            if (!c.Request.ContentType?.StartsWith("application/x-ndjson", StringComparison.Ordinal) ?? true)
                return Results.Json(new { error = "Content-Type must be application/x-ndjson" }, statusCode: 400);
            string text = await new StreamReader(c.Request.Body).ReadToEndAsync();
            return WithRepo(c, owner, name, write: true, repo => Commit(repo, Uri.UnescapeDataString(revision), text));
        });

        app.MapGet("/datasets/{owner}/{name}/resolve/{revision}/{**path}", (HttpContext c, string owner, string name, string revision, string path) =>
            WithRepo(c, owner, name, write: false, repo =>
            {
                if (repo.Resolve(Uri.UnescapeDataString(revision)) is not { } commit || !commit.Tree.TryGetValue(path, out HubFile? file))
                    return NotFound("EntryNotFound", $"{path} does not exist");
                c.Response.Headers["X-Repo-Commit"] = commit.Oid;
                byte[] bytes = file.LfsOid is { } oid ? _storage[oid] : file.InlineBytes!;
                return Results.Bytes(bytes, "application/octet-stream");
            }));
    }

    private IResult Commit(HubRepo repo, string branch, string ndjson)
    {
        if (!repo.Branches.ContainsKey(branch)) return NotFound("RevisionNotFound", $"Invalid rev id: {branch}");
        var lines = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        if (lines.Count == 0 || (string?)lines[0]["key"] != "header") return Results.Json(new { error = "the first line must be the header" }, statusCode: 400);
        JsonNode header = lines[0]["value"]!;
        if ((string?)header["parentCommit"] is { } parent && repo.Branches[branch] != parent && !repo.Branches[branch].StartsWith(parent, StringComparison.Ordinal))
            return Results.Json(new { error = "A commit has happened since. Please refresh and try again." }, statusCode: 412);
        var files = new List<HubFile>();
        foreach (JsonNode line in lines.Skip(1))
        {
            JsonNode value = line["value"]!;
            string path = (string)value["path"]!;
            switch ((string?)line["key"])
            {
                case "lfsFile":
                    string oid = (string)value["oid"]!;
                    if ((string?)value["algo"] != "sha256") return Results.Json(new { error = "algo must be sha256" }, statusCode: 400);
                    if (!_storage.TryGetValue(oid, out byte[]? stored))
                        return Results.Json(new { error = $"Your push was rejected because an LFS pointer pointed to a file that does not exist. For instance: {path}" }, statusCode: 422);
                    files.Add(GitObjects.Lfs(path, oid, stored.Length));
                    break;
                case "file":
                    if ((string?)value["encoding"] != "base64") return Results.Json(new { error = "encoding must be base64" }, statusCode: 400);
                    files.Add(GitObjects.Regular(path, Convert.FromBase64String((string)value["content"]!)));
                    break;
                default:
                    return Results.Json(new { error = $"unknown key {(string?)line["key"]}" }, statusCode: 400);
            }
        }
        HubCommit commit = repo.Commit(branch, (string?)header["summary"] ?? "", files);
        return Results.Json(new { success = true, commitOid = commit.Oid, commitUrl = $"{Endpoint.AbsoluteUri.TrimEnd('/')}/datasets/{repo.Id}/commit/{commit.Oid}", hookOutput = "" });
    }

    /// <summary>Auth as the Hub does it: a wrong token is refused everywhere; reads of a public repo need none; writes
    /// need the right one.</summary>
    private IResult WithRepo(HttpContext c, string owner, string name, bool write, Func<HubRepo, IResult> handle)
    {
        string authorization = c.Request.Headers.Authorization.ToString();
        bool hasToken = authorization.Length > 0;
        if (hasToken && authorization != $"Bearer {Token}")
            return Results.Json(new { error = "Invalid credentials in Authorization header" }, statusCode: 401);
        if (write && !hasToken)
            return Results.Json(new { error = "You must be authenticated to access this resource" }, statusCode: 401);
        lock (_gate)
        {
            if (!_repos.TryGetValue($"{owner}/{name}", out HubRepo? repo))
                return NotFound("RepoNotFound", "Repository not found");
            return handle(repo);
        }
    }

    private object Describe(HubFile file) => file.LfsOid is { } oid
        ? new { type = "file", oid = file.BlobOid, size = file.Size, path = file.Path, lfs = (object?)new { oid, size = file.Size, pointerSize = GitObjects.LfsPointer(oid, file.Size).Length } }
        : new { type = "file", oid = file.BlobOid, size = file.Size, path = file.Path, lfs = (object?)null };

    private static IResult NotFound(string code, string message) => new ErrorResult(404, code, message);

    private static async Task<List<string>> ReadPathsAsync(HttpRequest request)
    {
        if (request.HasFormContentType)
            return (await request.ReadFormAsync())["paths"].Where(p => p is not null).Select(p => p!).ToList();
        JsonNode? body = await JsonNode.ParseAsync(request.Body);
        return body?["paths"] is JsonArray paths ? paths.Select(p => (string)p!).ToList() : [];
    }

    private static bool Ignores(string rule, string path) =>
        rule.StartsWith("*.", StringComparison.Ordinal) ? path.EndsWith(rule[1..], StringComparison.Ordinal) : path.StartsWith(rule.TrimEnd('*'), StringComparison.Ordinal);

    private string Sign(string oid, long size) => Convert.ToHexStringLower(HMACSHA256.HashData(_signingKey, Encoding.UTF8.GetBytes($"{oid}:{size}")));

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private sealed class ErrorResult(int status, string code, string message) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.Headers["X-Error-Code"] = code;
            return httpContext.Response.WriteAsJsonAsync(new { error = message });
        }
    }
}
