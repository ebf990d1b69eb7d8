using MlxBench.Core.Diagnostics;
using MlxBench.Core.Sinks.Hub;

namespace MlxBench.Report;

/// <summary>
/// The parquet shards of a dataset as local files. A folder is read in place (<c>data/**/*.parquet</c>, as the Hub
/// dataset is laid out; the folder itself when it has no <c>data/</c>). A HuggingFace dataset is listed with the
/// <c>tree</c> API and each shard downloaded through <c>resolve</c> into a temporary folder that
/// <see cref="Dispose"/> deletes; <c>HF_ENDPOINT</c> and (for private datasets) <c>HF_TOKEN</c> come from the environment.
/// </summary>
public sealed class DatasetFiles : IDisposable
{
    private readonly string? _temporary;

    private DatasetFiles(IReadOnlyList<string> files, string description, string? temporary)
    {
        Files = files;
        Description = description;
        _temporary = temporary;
    }

    public IReadOnlyList<string> Files { get; }
    public string Description { get; }

    public static async Task<DatasetFiles> OpenAsync(string dataset, CancellationToken cancellationToken, HubSettings? hub = null)
    {
        if (HubDatasetReference.IsHub(dataset))
            return await DownloadAsync(HubDatasetReference.Parse(dataset), hub ?? HubSettings.FromEnvironment(), cancellationToken);
        string root = Path.GetFullPath(dataset);
        if (!Directory.Exists(root))
            throw new BenchException(BenchDiagnostic.Error("Report.NoShards", dataset));
        string data = Path.Combine(root, "data");
        string[] files = Directory.GetFiles(Directory.Exists(data) ? data : root, "*.parquet", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new BenchException(BenchDiagnostic.Error("Report.NoShards", dataset));
        return new DatasetFiles(files, root, null);
    }

    private static async Task<DatasetFiles> DownloadAsync(HubDatasetReference repo, HubSettings settings, CancellationToken cancellationToken)
    {
        using var client = new HubClient(settings);
        var paths = new List<string>();
        await foreach (HubPathInfo entry in client.ListTreeAsync(repo, "data", cancellationToken))
            if (entry.Type == "file" && entry.Path.EndsWith(".parquet", StringComparison.Ordinal)) paths.Add(entry.Path);
        if (paths.Count == 0) throw new BenchException(BenchDiagnostic.Error("Report.NoShards", repo.ToString()));
        string temporary = Path.Combine(Path.GetTempPath(), "mlxbench-report-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var files = new List<string>();
            foreach (string path in paths.Order(StringComparer.Ordinal))
            {
                string local = Path.Combine(temporary, path.Replace('/', Path.DirectorySeparatorChar));
                Directory.CreateDirectory(Path.GetDirectoryName(local)!);
                await File.WriteAllBytesAsync(local, await client.DownloadAsync(repo, path, cancellationToken), cancellationToken);
                files.Add(local);
            }
            return new DatasetFiles(files, repo.ToString(), temporary);
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }
    }

    public void Dispose()
    {
        if (_temporary is not null && Directory.Exists(_temporary)) Directory.Delete(_temporary, recursive: true);
    }
}
