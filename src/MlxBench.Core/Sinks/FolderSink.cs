using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;

namespace MlxBench.Core.Sinks;

/// <summary>
/// A dataset that is a folder on disk, laid out as the HuggingFace dataset is (<c>data/*.parquet</c>). Each shard is
/// written to a temporary name and moved into place without replacing an existing file.
/// </summary>
public sealed class FolderSink(string root) : IDatasetSink
{
    public string Root { get; } = Path.GetFullPath(root);

    public string Location => Root;

    public string Locate(string pathInDataset) => Path.Combine(Root, pathInDataset.Replace('/', Path.DirectorySeparatorChar));

    public Task<IReadOnlyList<ShardState>> AddAsync(IReadOnlyList<Shard> shards, CancellationToken cancellationToken)
    {
        var states = new List<ShardState>(shards.Count);
        foreach (Shard shard in shards)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = Locate(shard.PathInDataset);
            // The name carries a hash of the bytes, so an existing file with this name already holds this shard.
            states.Add(File.Exists(path) || !AtomicFile.TryCreateNew(path, shard.Bytes) ? ShardState.Present : ShardState.Added);
        }
        return Task.FromResult<IReadOnlyList<ShardState>>(states);
    }
}
