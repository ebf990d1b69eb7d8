using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;

namespace MlxBench.Core.Sinks;

/// <summary>What publishing one envelope came to.</summary>
public sealed record PublishedShard(string EnvelopePath, string PathInDataset, string Location, ShardState State, long Size = 0);

/// <summary>
/// Publishes envelopes: each is read, validated and refused when it has no results; the rest become shards that are
/// added to the sink together. Problems are coded diagnostics, one per envelope, and do not stop the others.
/// </summary>
public sealed class DatasetPublisher(IDatasetSink sink, SchemaValidator validator)
{
    /// <summary>Plan only: shards are built, named and validated, but the sink is never called, so nothing is written
    /// and nothing goes over the network (upstream's <c>--dry-run</c>). Every shard comes back <c>Planned</c>.</summary>
    public bool DryRun { get; init; }

    public async Task<(IReadOnlyList<PublishedShard> Shards, IReadOnlyList<BenchDiagnostic> Problems)> PublishAsync(
        IReadOnlyList<string> envelopePaths, CancellationToken cancellationToken)
    {
        var problems = new List<BenchDiagnostic>();
        var pending = new List<(string EnvelopePath, Shard Shard)>();
        foreach (string path in envelopePaths)
        {
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add(BenchDiagnostic.Error("Validate.Unreadable", path, e.Message).InFile(path));
                continue;
            }
            IReadOnlyList<SchemaError> errors = validator.Validate(text);
            if (errors.Count > 0)
            {
                problems.Add(BenchDiagnostic.Error("Publish.InvalidEnvelope", path, string.Join("; ", errors)).InFile(path));
                continue;
            }
            Envelope envelope = EnvelopeJson.Parse(text);
            if (envelope.Results.Count == 0)
            {
                problems.Add(BenchDiagnostic.Error("Publish.EmptyResults", path).InFile(path));
                continue;
            }
            pending.Add((path, await ShardWriter.WriteAsync(envelope, cancellationToken)));
        }

        IReadOnlyList<ShardState> states = pending.Count == 0 ? []
            : DryRun ? pending.Select(_ => ShardState.Planned).ToList()
            : await sink.AddAsync(pending.Select(p => p.Shard).ToList(), cancellationToken);
        var published = pending
            .Select((p, i) => new PublishedShard(p.EnvelopePath, p.Shard.PathInDataset, sink.Locate(p.Shard.PathInDataset), states[i], p.Shard.Bytes.LongLength))
            .ToList();
        return (published, problems);
    }
}
