using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;

namespace MlxBench.Core.Sinks;

/// <summary>
/// A dataset that is a folder on disk, laid out as the HuggingFace dataset is (<c>data/*.parquet</c>). Each shard is
/// written to a temporary name and moved into place without replacing an existing file. A file already at a shard's
/// name with the same bytes is that shard (<see cref="ShardState.Present"/>); one with other bytes is never replaced:
/// the whole batch is refused before anything is written.
/// </summary>
public sealed class FolderSink(string root) : IDatasetSink
{
    public string Root { get; } = Path.GetFullPath(root);

    public string Location => Root;

    public string Locate(string pathInDataset) => Path.Combine(Root, pathInDataset.Replace('/', Path.DirectorySeparatorChar));

    public Task<IReadOnlyList<ShardState>> AddAsync(IReadOnlyList<Shard> shards, CancellationToken cancellationToken)
    {
        foreach (Shard shard in shards)
            if (File.Exists(Locate(shard.PathInDataset))) EnsureSame(shard);

        var states = new List<ShardState>(shards.Count);
        foreach (Shard shard in shards)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = Locate(shard.PathInDataset);
            try
            {
                if (File.Exists(path) || !AtomicFile.TryCreateNew(path, shard.Bytes))
                {
                    // Someone else may have added it meanwhile; it only counts as present if it is the same shard.
                    EnsureSame(shard);
                    states.Add(ShardState.Present);
                }
                else states.Add(ShardState.Added);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BenchException(BenchDiagnostic.Error("Publish.WriteFailed", path, e.Message));
            }
        }
        return Task.FromResult<IReadOnlyList<ShardState>>(states);
    }

    private void EnsureSame(Shard shard)
    {
        string path = Locate(shard.PathInDataset);
        byte[] existing;
        try
        {
            existing = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BenchException(BenchDiagnostic.Error("Publish.WriteFailed", path, e.Message));
        }
        if (!existing.AsSpan().SequenceEqual(shard.Bytes))
            throw new BenchException(BenchDiagnostic.Error("Publish.ShardConflict", path));
    }
}
