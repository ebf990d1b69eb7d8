using System.Text.Json.Serialization;

namespace MlxBench.Core.Sinks.Hub;

// The Hub's JSON shapes, as huggingface_hub reads and writes them. Each record names the client code it follows.

/// <summary><c>GET /api/datasets/{repo}/revision/{rev}</c>: the dataset's info at a revision; <c>sha</c> is the commit
/// the revision points at (huggingface_hub <c>hf_api.py</c> <c>dataset_info</c> / <c>DatasetInfo.sha</c>).</summary>
public sealed record HubRepoInfo([property: JsonPropertyName("id")] string? Id, [property: JsonPropertyName("sha")] string? Sha);

/// <summary>One entry of <c>paths-info</c> or <c>tree</c> (huggingface_hub <c>hf_api.py</c> <c>RepoFile</c>/<c>RepoFolder</c>):
/// <c>oid</c> is the git blob id; for LFS files <c>lfs.oid</c> is the SHA-256 of the content.</summary>
public sealed record HubPathInfo(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("oid")] string? Oid,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("lfs")] HubLfsInfo? Lfs);

public sealed record HubLfsInfo(
    [property: JsonPropertyName("oid")] string Oid,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("pointerSize")] long PointerSize);

/// <summary><c>preupload</c> request entry (huggingface_hub <c>_commit_api.py</c> <c>_fetch_upload_modes</c>): the first
/// 512 bytes (base64) and the size let the Hub decide between a regular git blob and LFS.</summary>
public sealed record HubPreuploadFile(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("sample")] string Sample,
    [property: JsonPropertyName("size")] long Size);

public sealed record HubPreuploadRequest([property: JsonPropertyName("files")] IReadOnlyList<HubPreuploadFile> Files);

public sealed record HubPreuploadAnswer(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("uploadMode")] string UploadMode,
    [property: JsonPropertyName("shouldIgnore")] bool ShouldIgnore,
    [property: JsonPropertyName("oid")] string? Oid);

public sealed record HubPreuploadResponse([property: JsonPropertyName("files")] IReadOnlyList<HubPreuploadAnswer>? Files);

/// <summary>Git LFS Batch API request (git-lfs <c>docs/api/batch.md</c>; huggingface_hub <c>lfs.py</c>
/// <c>post_lfs_batch_info</c>). We ask for the <c>basic</c> transfer only: one PUT per object, then verify.</summary>
public sealed record LfsBatchRequest(
    [property: JsonPropertyName("operation")] string Operation,
    [property: JsonPropertyName("transfers")] IReadOnlyList<string> Transfers,
    [property: JsonPropertyName("objects")] IReadOnlyList<LfsObjectSpec> Objects,
    [property: JsonPropertyName("hash_algo")] string HashAlgo,
    [property: JsonPropertyName("ref")] LfsRef? Ref);

public sealed record LfsRef([property: JsonPropertyName("name")] string Name);

public sealed record LfsObjectSpec([property: JsonPropertyName("oid")] string Oid, [property: JsonPropertyName("size")] long Size);

public sealed record LfsBatchResponse(
    [property: JsonPropertyName("transfer")] string? Transfer,
    [property: JsonPropertyName("objects")] IReadOnlyList<LfsBatchObject>? Objects);

/// <summary>One object of a batch answer: no <c>actions</c> means the storage already holds it; <c>error</c> means it
/// was refused (huggingface_hub <c>lfs.py</c> <c>_validate_batch_actions</c>, <c>_validate_batch_error</c>).</summary>
public sealed record LfsBatchObject(
    [property: JsonPropertyName("oid")] string Oid,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("actions")] LfsActions? Actions,
    [property: JsonPropertyName("error")] LfsError? Error);

public sealed record LfsActions(
    [property: JsonPropertyName("upload")] LfsAction? Upload,
    [property: JsonPropertyName("verify")] LfsAction? Verify);

public sealed record LfsAction(
    [property: JsonPropertyName("href")] string Href,
    [property: JsonPropertyName("header")] Dictionary<string, string>? Header);

public sealed record LfsError([property: JsonPropertyName("code")] int Code, [property: JsonPropertyName("message")] string Message);

/// <summary>Body of the verify action (huggingface_hub <c>lfs.py</c> <c>lfs_upload</c>, step 3).</summary>
public sealed record LfsVerifyRequest([property: JsonPropertyName("oid")] string Oid, [property: JsonPropertyName("size")] long Size);

/// <summary><c>POST /api/datasets/{repo}/commit/{rev}</c> answer (huggingface_hub <c>hf_api.py</c> <c>create_commit</c>).</summary>
public sealed record HubCommitResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("commitOid")] string? CommitOid,
    [property: JsonPropertyName("commitUrl")] string? CommitUrl);

/// <summary>The Hub's error body: <c>{"error": "..."}</c> (huggingface_hub <c>utils/_http.py</c> <c>hf_raise_for_status</c>).</summary>
public sealed record HubErrorBody([property: JsonPropertyName("error")] string? Error);

/// <summary>A file to commit, with the content facts every protocol step needs.</summary>
public sealed record HubUpload(string PathInRepo, byte[] Bytes)
{
    public string Sha256 { get; } = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Bytes));
    public long Size => Bytes.LongLength;
    /// <summary>The first 512 bytes, base64: what preupload looks at (huggingface_hub <c>UploadInfo.sample</c>).</summary>
    public string Sample => Convert.ToBase64String(Bytes.AsSpan(0, Math.Min(512, Bytes.Length)));
}
