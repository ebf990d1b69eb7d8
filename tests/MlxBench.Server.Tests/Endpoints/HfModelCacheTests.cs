using System.Net;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Endpoints;
using MlxBench.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>The HuggingFace cache layout of huggingface_hub, offline lookups, and downloads from a local stand-in for
/// the Hub (HF_ENDPOINT) that checks the token and redirects the file like the Hub's CDN does.</summary>
[TestClass]
public sealed class HfModelCacheTests
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";

    [TestMethod]
    public async Task Offline_MissingFile_IsACodedErrorNamingTheCache()
    {
        using var dir = new TempDirectory("mlxb-hf");
        var cache = new HfModelCache(n => n switch { "HF_HUB_CACHE" => dir.Path, "HF_HUB_OFFLINE" => "true", _ => null });
        BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() => cache.ResolveAsync("owner/model", "m.gguf", null, CancellationToken.None));
        Assert.AreEqual("MLXB5011", e.Diagnostic.Code);
        StringAssert.Contains(e.Diagnostic.Message, dir.Path);
    }

    [TestMethod]
    public void CacheDirectory_HonoursHfHubCache_ThenHfHome_ThenTheDefault()
    {
        Assert.AreEqual("/x/hub-cache", new HfModelCache(n => n == "HF_HUB_CACHE" ? "/x/hub-cache" : n == "HF_HOME" ? "/y" : null).CacheDirectory);
        Assert.AreEqual("/y/hub", new HfModelCache(n => n == "HF_HOME" ? "/y" : null).CacheDirectory);
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        Assert.AreEqual(Path.Combine(home, ".cache", "huggingface", "hub"), new HfModelCache(_ => null).CacheDirectory);
    }

    [TestMethod]
    public async Task Download_UsesTheToken_FollowsTheRedirect_AndWritesHuggingFaceHubsLayout()
    {
        using var dir = new TempDirectory("mlxb-hf");
        byte[] model = File.ReadAllBytes(TestServer.Stories260K);
        string? authOnResolve = null, authOnCdn = null;
        WebApplication hub = WebApplication.CreateSlimBuilder().Build();
        hub.Urls.Add("http://127.0.0.1:0");
        hub.MapGet("/{owner}/{name}/resolve/{revision}/{**file}", (HttpContext http, string owner, string name, string revision, string file) =>
        {
            authOnResolve = http.Request.Headers.Authorization;
            if (authOnResolve != "Bearer hf_secret") return Results.StatusCode(401);
            http.Response.Headers["X-Repo-Commit"] = Commit;
            http.Response.Headers["X-Linked-Etag"] = "\"sha256-of-the-blob\"";
            return Results.Redirect($"/cdn/{file}");
        });
        hub.MapGet("/cdn/{**file}", (HttpContext http) =>
        {
            authOnCdn = http.Request.Headers.Authorization;
            return Results.Bytes(model, "application/octet-stream");
        });
        await hub.StartAsync();
        try
        {
            var env = new Dictionary<string, string> { ["HF_HOME"] = dir.Path, ["HF_ENDPOINT"] = hub.Urls.First(), ["HF_TOKEN"] = "hf_secret" };
            var cache = new HfModelCache(n => env.GetValueOrDefault(n));

            string path = await cache.ResolveAsync("karpathy/tinyllamas", "sub/stories260K.gguf", null, CancellationToken.None);

            string repo = Path.Combine(dir.Path, "hub", "models--karpathy--tinyllamas");
            Assert.AreEqual(Path.Combine(repo, "snapshots", Commit, "sub", "stories260K.gguf"), path);
            CollectionAssert.AreEqual(model, File.ReadAllBytes(path));
            Assert.AreEqual(Commit, File.ReadAllText(Path.Combine(repo, "refs", "main")));
            Assert.IsTrue(File.Exists(Path.Combine(repo, "blobs", "sha256-of-the-blob")));
            Assert.IsNotNull(new FileInfo(path).LinkTarget, "the snapshot links to the blob, as huggingface_hub does");
            Assert.AreEqual("Bearer hf_secret", authOnResolve);
            Assert.IsTrue(string.IsNullOrEmpty(authOnCdn), "the token is not sent to the redirect target");
            Assert.AreEqual(0, Directory.GetFiles(repo, "*.incomplete", SearchOption.AllDirectories).Length);

            // Now offline, the same reference resolves from the cache alone.
            env["HF_HUB_OFFLINE"] = "1";
            env["HF_ENDPOINT"] = "http://127.0.0.1:9";
            Assert.AreEqual(path, await cache.ResolveAsync("karpathy/tinyllamas", "sub/stories260K.gguf", "main", CancellationToken.None));
            Assert.AreEqual(path, await cache.ResolveAsync("karpathy/tinyllamas", "sub/stories260K.gguf", Commit, CancellationToken.None));

            // Without a token the stand-in Hub refuses: a coded error that says what to do.
            env.Remove("HF_TOKEN");
            env.Remove("HF_HUB_OFFLINE");
            env["HF_ENDPOINT"] = hub.Urls.First();
            BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() => cache.ResolveAsync("karpathy/tinyllamas", "other.gguf", null, CancellationToken.None));
            Assert.AreEqual("MLXB5012", e.Diagnostic.Code);
            StringAssert.Contains(e.Diagnostic.Message, "HF_TOKEN");
        }
        finally
        {
            await hub.StopAsync();
            await hub.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task Snapshot_DownloadsTheFilesAModelFolderNeeds_ConfigLast_ThenResolvesOffline()
    {
        using var dir = new TempDirectory("mlxb-hf");
        var served = new List<string>();
        WebApplication hub = WebApplication.CreateSlimBuilder().Build();
        hub.Urls.Add("http://127.0.0.1:0");
        string[] siblings = [".gitattributes", "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "weights.gguf"];
        hub.MapGet("/api/models/{owner}/{name}/revision/{revision}", (string owner, string name, string revision) =>
            owner == "mlx-community" && revision == "main"
                ? Results.Json(new { sha = Commit, siblings = siblings.Select(f => new { rfilename = f }) })
                : Results.NotFound());
        hub.MapGet("/{owner}/{name}/resolve/{revision}/{**file}", (HttpContext http, string revision, string file) =>
        {
            served.Add(file);
            http.Response.Headers["X-Repo-Commit"] = revision;
            return Results.Text("content of " + file);
        });
        await hub.StartAsync();
        try
        {
            var env = new Dictionary<string, string> { ["HF_HUB_CACHE"] = dir.Path, ["HF_ENDPOINT"] = hub.Urls.First() };
            var cache = new HfModelCache(n => env.GetValueOrDefault(n));
            Assert.AreEqual(Commit, await cache.SnapshotCommitAsync("mlx-community/tiny-4bit", null, CancellationToken.None), "asks the Hub when not cached");

            string folder = await cache.ResolveSnapshotAsync("mlx-community/tiny-4bit", null, null, CancellationToken.None);

            Assert.AreEqual(Path.Combine(dir.Path, "models--mlx-community--tiny-4bit", "snapshots", Commit), folder);
            CollectionAssert.AreEqual(new[] { "model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json" }, served,
                "weights, configs and tokenizer only; config.json last, so a snapshot with it is complete");
            Assert.AreEqual("content of model.safetensors", File.ReadAllText(Path.Combine(folder, "model.safetensors")));
            Assert.AreEqual(Commit, File.ReadAllText(Path.Combine(dir.Path, "models--mlx-community--tiny-4bit", "refs", "main")));

            env["HF_HUB_OFFLINE"] = "1";
            env["HF_ENDPOINT"] = "http://127.0.0.1:9";
            Assert.AreEqual(folder, await cache.ResolveSnapshotAsync("mlx-community/tiny-4bit", "main", null, CancellationToken.None));
            Assert.AreEqual(folder, cache.FindCachedSnapshot("mlx-community/tiny-4bit", Commit));
            Assert.AreEqual(Commit, await cache.SnapshotCommitAsync("mlx-community/tiny-4bit", "main", CancellationToken.None));
            Assert.AreEqual(4, served.Count, "nothing is downloaded twice");

            BenchException offline = await Assert.ThrowsExactlyAsync<BenchException>(() => cache.ResolveSnapshotAsync("mlx-community/other", null, null, CancellationToken.None));
            Assert.AreEqual("MLXB5014", offline.Diagnostic.Code);
            Assert.IsNull(await cache.SnapshotCommitAsync("mlx-community/other", null, CancellationToken.None));
        }
        finally
        {
            await hub.StopAsync();
            await hub.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task Snapshot_OfARepositoryWithoutConfig_IsACodedErrorPointingAtFile()
    {
        using var dir = new TempDirectory("mlxb-hf");
        WebApplication hub = WebApplication.CreateSlimBuilder().Build();
        hub.Urls.Add("http://127.0.0.1:0");
        hub.MapGet("/api/models/{owner}/{name}/revision/{revision}", () =>
            Results.Json(new { sha = Commit, siblings = new[] { new { rfilename = "model-Q4_0.gguf" }, new { rfilename = "README.md" } } }));
        await hub.StartAsync();
        try
        {
            var cache = new HfModelCache(n => n switch { "HF_HUB_CACHE" => dir.Path, "HF_ENDPOINT" => hub.Urls.First(), _ => null });
            BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() => cache.ResolveSnapshotAsync("ggml-org/some-gguf", null, null, CancellationToken.None));
            Assert.AreEqual("MLXB5015", e.Diagnostic.Code);
            StringAssert.Contains(e.Diagnostic.Message, "File=");
            Assert.IsFalse(Directory.Exists(Path.Combine(dir.Path, "models--ggml-org--some-gguf", "snapshots")), "nothing half-written");
        }
        finally
        {
            await hub.StopAsync();
            await hub.DisposeAsync();
        }
    }
}
