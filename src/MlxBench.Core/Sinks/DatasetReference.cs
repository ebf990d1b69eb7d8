using MlxBench.Core.Diagnostics;
using MlxBench.Core.Sinks.Hub;

namespace MlxBench.Core.Sinks;

/// <summary>Parses <c>BenchDataset</c>: a folder path (relative to the project), or <c>hf://datasets/owner/name[@revision]</c>.</summary>
public static class DatasetReference
{
    public const string HubPrefix = HubDatasetReference.Prefix;

    /// <summary>Opens the sink. For the Hub, <c>HF_ENDPOINT</c> and <c>HF_TOKEN</c> are read from this process's
    /// environment here, so they never pass through MSBuild properties; a missing token only matters once something
    /// is really uploaded (a dry run needs none). <paramref name="report"/> receives retry warnings.</summary>
    public static IDatasetSink Open(string dataset, string projectDirectory, Action<BenchDiagnostic>? report = null)
    {
        if (string.IsNullOrWhiteSpace(dataset))
            throw new BenchException(BenchDiagnostic.Error("Publish.BadDataset", dataset));
        if (HubDatasetReference.IsHub(dataset))
            return new HubSink(HubDatasetReference.Parse(dataset), HubSettings.FromEnvironment(), report);
        if (dataset.Contains("://", StringComparison.Ordinal))
            throw new BenchException(BenchDiagnostic.Error("Publish.BadDataset", dataset));
        return new FolderSink(Path.Combine(projectDirectory, dataset));
    }
}
