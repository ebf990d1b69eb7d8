using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Sinks;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>
/// Turns envelopes into parquet shards in the dataset (<c>BenchDataset</c>) and returns one <c>BenchShard</c> per shard:
/// <c>Include</c> is the shard's path in the dataset; metadata <c>Envelope</c>, <c>State</c> (<c>Added</c> or
/// <c>Present</c>, or <c>Planned</c> with <see cref="DryRun"/>), <c>Location</c>. For an <c>hf://datasets/...</c>
/// dataset the token is read here from the environment (<c>HF_TOKEN</c>), never from a task parameter.
/// </summary>
public sealed class PublishBenchShards : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    public ITaskItem[] Envelopes { get; set; } = [];
    [Required] public string Dataset { get; set; } = "";
    [Required] public string ProjectDirectory { get; set; } = "";
    [Required] public string ProjectName { get; set; } = "";
    /// <summary>Plan without writing anything or touching the network (<c>-p:BenchDryRun=true</c>).</summary>
    public bool DryRun { get; set; }

    [Output] public ITaskItem[] Shards { get; private set; } = [];

    public void Cancel() => _cancel.Cancel();

    public override bool Execute()
    {
        if (Envelopes.Length == 0)
        {
            Log.Log(BenchDiagnostic.Warning("Publish.NothingToPublish"));
            return true;
        }
        try
        {
            IDatasetSink sink = DatasetReference.Open(Dataset, ProjectDirectory, Log.Log);
            var publisher = new DatasetPublisher(sink, SchemaValidator.Default) { DryRun = DryRun };
            var (shards, problems) = publisher
                .PublishAsync(Envelopes.Select(e => e.GetMetadata("FullPath")).ToList(), _cancel.Token)
                .GetAwaiter().GetResult();
            foreach (BenchDiagnostic problem in problems) Log.Log(problem);
            Shards = shards.Select(ToItem).ToArray();
            foreach (PublishedShard shard in shards)
                Log.LogMessage(MessageImportance.High, "  {0}: {1}", shard.PathInDataset, shard.State switch
                {
                    ShardState.Added => "added",
                    ShardState.Planned => $"dry-run: would publish {shard.Size} bytes",
                    _ => "already present",
                });
            if (DryRun)
                Log.LogMessage(MessageImportance.High, "{0} -> {1} (dry run: {2} shard(s) planned, nothing written)", ProjectName, sink.Location, shards.Count);
            else
                Log.LogMessage(MessageImportance.High, "{0} -> {1} ({2} added, {3} already present)", ProjectName, sink.Location,
                    shards.Count(s => s.State == ShardState.Added), shards.Count(s => s.State == ShardState.Present));
        }
        catch (BenchException e)
        {
            Log.Log(e.Diagnostic);
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            return false;
        }
        return !Log.HasLoggedErrors;
    }

    private static TaskItem ToItem(PublishedShard shard)
    {
        var item = new TaskItem(shard.PathInDataset);
        item.SetMetadata("Envelope", shard.EnvelopePath);
        item.SetMetadata("State", shard.State.ToString());
        item.SetMetadata("Location", shard.Location);
        return item;
    }
}
