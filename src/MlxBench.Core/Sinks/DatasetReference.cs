using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Sinks;

/// <summary>Parses <c>BenchDataset</c>: a folder path (relative to the project), or <c>hf://datasets/owner/name[@revision]</c>.</summary>
public static class DatasetReference
{
    public const string HubPrefix = "hf://datasets/";

    public static IDatasetSink Open(string dataset, string projectDirectory)
    {
        if (string.IsNullOrWhiteSpace(dataset))
            throw new BenchException(BenchDiagnostic.Error("Publish.BadDataset", dataset));
        if (dataset.StartsWith(HubPrefix, StringComparison.OrdinalIgnoreCase))
            throw new BenchException(BenchDiagnostic.Error("Publish.HubUnsupported", dataset));
        if (dataset.Contains("://", StringComparison.Ordinal))
            throw new BenchException(BenchDiagnostic.Error("Publish.BadDataset", dataset));
        return new FolderSink(Path.Combine(projectDirectory, dataset));
    }
}
