using MlxBench.Core.Shards;

namespace MlxBench.Core.Sinks;

/// <summary>Whether a shard was newly added to the dataset, was already there (same name, same bytes), or, in a dry
/// run, would be published.</summary>
public enum ShardState { Added, Present, Planned }

/// <summary>Where shards are published. Implementations never overwrite a shard.</summary>
public interface IDatasetSink
{
    /// <summary>A human-readable location, for logs (never contains a secret).</summary>
    string Location { get; }

    /// <summary>Where a shard path inside the dataset can be found, for result items.</summary>
    string Locate(string pathInDataset);

    Task<IReadOnlyList<ShardState>> AddAsync(IReadOnlyList<Shard> shards, CancellationToken cancellationToken);
}
