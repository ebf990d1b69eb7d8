using System.Security.Cryptography;
using System.Text;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Shards;

namespace MlxBench.Core.Sinks.Hub;

/// <summary>
/// A HuggingFace dataset repository as a sink. One publish is one commit, the way huggingface_hub's
/// <c>create_commit</c> builds it, plus the checks upstream's publisher skips:
/// <list type="number">
/// <item>the branch head is read, to be the commit's <c>parentCommit</c>;</item>
/// <item><c>paths-info</c> at that head says which shard paths exist; the name carries a hash of the bytes, so an
/// existing path with the same SHA-256 is this shard (<c>Present</c>), and one with other bytes is refused;</item>
/// <item><c>preupload</c> gives each new file's upload mode; a file the repo would ignore is refused;</item>
/// <item>LFS files go through the batch API (basic transfer, then verify);</item>
/// <item>one NDJSON commit adds every new shard. If another writer moved the branch (412), everything from step 1 is
/// done again, so a shard the other writer added is reported <c>Present</c> and never committed twice.</item>
/// </list>
/// Each request is retried on 429/5xx/network errors by <see cref="HubRetryPolicy"/>.
/// </summary>
public sealed class HubSink(HubDatasetReference reference, HubSettings settings, Action<BenchDiagnostic>? report = null) : IDatasetSink
{
    public HubDatasetReference Reference { get; } = reference;

    public string Location => Reference.Revision == HubDatasetReference.DefaultRevision
        ? $"{Base}/datasets/{Reference.RepoId}"
        : $"{Base}/datasets/{Reference.RepoId}/tree/{Reference.QuotedRevision}";

    public string Locate(string pathInDataset) => $"{Base}/datasets/{Reference.RepoId}/blob/{Reference.QuotedRevision}/{pathInDataset}";

    /// <summary>The commit the last <see cref="AddAsync"/> created, if it created one.</summary>
    public string? LastCommit { get; private set; }

    private string Base => settings.Endpoint.AbsoluteUri.TrimEnd('/');

    public async Task<IReadOnlyList<ShardState>> AddAsync(IReadOnlyList<Shard> shards, CancellationToken cancellationToken)
    {
        LastCommit = null;
        if (settings.Token is null)
            throw new BenchException(BenchDiagnostic.Error("Hub.TokenMissing", Reference, HubToken.EnvironmentVariable));
        var states = new ShardState[shards.Count];
        // Two envelopes can make the same shard (same bytes, same name): upload it once, report the copy Present.
        var uploads = new Dictionary<string, HubUpload>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            if (uploads.ContainsKey(shards[i].PathInDataset)) states[i] = ShardState.Present;
            else uploads[shards[i].PathInDataset] = new HubUpload(shards[i].PathInDataset, shards[i].Bytes);
        }
        if (uploads.Count == 0) return states;

        using var client = new HubClient(settings, report);
        HashSet<string> added = await PublishAsync(client, uploads.Values.ToList(), cancellationToken);
        var firstSeen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string path = shards[i].PathInDataset;
            if (!firstSeen.Add(path)) continue;
            states[i] = added.Contains(path) ? ShardState.Added : ShardState.Present;
        }
        return states;
    }

    /// <summary>Returns the paths this publish committed; the others were already in the dataset.</summary>
    private async Task<HashSet<string>> PublishAsync(HubClient client, IReadOnlyList<HubUpload> uploads, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt <= settings.MaxCommitConflicts; attempt++)
        {
            string head = await client.GetHeadAsync(Reference, cancellationToken);
            List<HubUpload> missing = await MissingAsync(client, head, uploads, cancellationToken);
            if (missing.Count == 0) return [];

            IReadOnlyList<HubPreuploadAnswer> modes = await client.PreuploadAsync(Reference, missing, cancellationToken);
            var modeOf = modes.ToDictionary(m => m.Path, StringComparer.Ordinal);
            var files = new List<(HubUpload File, bool Lfs)>(missing.Count);
            foreach (HubUpload upload in missing)
            {
                if (!modeOf.TryGetValue(upload.PathInRepo, out HubPreuploadAnswer? mode))
                    throw new BenchException(BenchDiagnostic.Error("Hub.ProtocolError", "preupload", $"no answer for {upload.PathInRepo}"));
                if (mode.ShouldIgnore)
                    throw new BenchException(BenchDiagnostic.Error("Hub.Ignored", upload.PathInRepo, Reference));
                // Empty files cannot go to LFS storage (huggingface_hub _fetch_upload_modes); shards are never empty.
                files.Add((upload, mode.UploadMode == "lfs" && upload.Size > 0));
            }

            await UploadLfsAsync(client, files.Where(f => f.Lfs).Select(f => f.File).ToList(), cancellationToken);

            HubCommitOutcome outcome = await client.CommitAsync(Reference, CommitSummary(missing.Count), CommitDescription(missing), head, files, cancellationToken);
            if (outcome.Committed)
            {
                LastCommit = outcome.CommitOid;
                return missing.Select(m => m.PathInRepo).ToHashSet(StringComparer.Ordinal);
            }
            // The branch moved under us: plan again against the new head.
        }
        throw new BenchException(BenchDiagnostic.Error("Hub.Conflict", Reference, settings.MaxCommitConflicts + 1));
    }

    private async Task<List<HubUpload>> MissingAsync(HubClient client, string head, IReadOnlyList<HubUpload> uploads, CancellationToken cancellationToken)
    {
        IReadOnlyList<HubPathInfo> existing = await client.GetPathsInfoAsync(Reference, head, uploads.Select(u => u.PathInRepo).ToList(), cancellationToken);
        var byPath = existing.Where(e => e.Type == "file").ToDictionary(e => e.Path, StringComparer.Ordinal);
        var missing = new List<HubUpload>();
        foreach (HubUpload upload in uploads)
        {
            if (!byPath.TryGetValue(upload.PathInRepo, out HubPathInfo? there))
            {
                missing.Add(upload);
                continue;
            }
            string theirs = there.Lfs?.Oid ?? there.Oid ?? "";
            string ours = there.Lfs is not null ? upload.Sha256 : GitBlobOid(upload.Bytes);
            if (!string.Equals(theirs, ours, StringComparison.OrdinalIgnoreCase))
                throw new BenchException(BenchDiagnostic.Error("Hub.PathClash", upload.PathInRepo, Reference, theirs, ours));
        }
        return missing;
    }

    /// <summary>Uploads what LFS storage does not hold yet: an object without actions is already there; the others
    /// are PUT (basic transfer) and verified (huggingface_hub <c>_commit_api.py</c> <c>_upload_lfs_object</c>).</summary>
    private async Task UploadLfsAsync(HubClient client, IReadOnlyList<HubUpload> files, CancellationToken cancellationToken)
    {
        if (files.Count == 0) return;
        IReadOnlyList<LfsBatchObject> objects = await client.LfsBatchAsync(Reference, files, cancellationToken);
        var byOid = files.GroupBy(f => f.Sha256, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        var answered = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (LfsBatchObject item in objects)
        {
            if (!byOid.TryGetValue(item.Oid, out HubUpload? file))
                throw new BenchException(BenchDiagnostic.Error("Hub.ProtocolError", "LFS batch", $"an object {item.Oid} that was not asked for"));
            answered.Add(item.Oid);
            if (item.Error is { } error)
                throw new BenchException(BenchDiagnostic.Error("Hub.LfsRefused", file.PathInRepo, error.Message, error.Code));
            if (item.Actions?.Upload is not { } upload) continue;
            await client.UploadAsync(upload, file, cancellationToken);
            if (item.Actions.Verify is { } verify)
                await client.VerifyAsync(verify, file, cancellationToken);
        }
        if (byOid.Keys.FirstOrDefault(oid => !answered.Contains(oid)) is { } unanswered)
            throw new BenchException(BenchDiagnostic.Error("Hub.ProtocolError", "LFS batch", $"no answer for {byOid[unanswered].PathInRepo}"));
    }

    private static string CommitSummary(int count) => count == 1 ? "feat: add 1 benchmark shard" : $"feat: add {count} benchmark shards";

    private static string CommitDescription(IReadOnlyList<HubUpload> files) =>
        "Published by MlxBench.Sdk.\n\n" + string.Join("\n", files.Select(f => "- " + f.PathInRepo));

    /// <summary>The id git gives a regular file: SHA-1 of <c>blob &lt;size&gt;\0</c> and the content.</summary>
    internal static string GitBlobOid(byte[] bytes)
    {
        byte[] header = Encoding.ASCII.GetBytes($"blob {bytes.Length}\0");
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(header);
        sha1.AppendData(bytes);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }
}
