using MlxBench.Core.Shards;

namespace MlxBench.Core.Cells;

/// <summary>
/// Where a cell keeps its files under the project's bench state folder (<c>obj/bench</c> by default):
/// <c>&lt;suite&gt;/&lt;model-slug&gt;/&lt;fingerprint[..16]&gt;/</c> holds <c>envelope.json</c> (present only when the
/// cell completed and validated), <c>raw/</c> (the harness's raw output), <c>cell.log</c> and <c>cell.json</c> (the cell as planned, to explain a rerun).
/// Keying by fingerprint keeps earlier configurations cached: switching back is instantly up to date.
/// </summary>
public sealed class CellStore(string stateDirectory)
{
    public string StateDirectory { get; } = Path.GetFullPath(stateDirectory);

    public string FileHashCachePath => Path.Combine(StateDirectory, "file-hashes.json");

    public CellPaths PathsFor(BenchCell cell) =>
        new(Path.Combine(StateDirectory, ShardNaming.Slug(cell.Suite.Name), ShardNaming.Slug(cell.Model.Name), cell.Fingerprint[..16]));

    /// <summary>A cell is up to date when its envelope exists: it is written only after it validated.</summary>
    public bool IsUpToDate(BenchCell cell) => File.Exists(PathsFor(cell).Envelope);
}

/// <summary>The files of one cell.</summary>
public sealed record CellPaths(string Directory)
{
    public string Envelope => Path.Combine(Directory, "envelope.json");
    public string RawDirectory => Path.Combine(Directory, "raw");
    public string Log => Path.Combine(Directory, "cell.log");
    public string CellDocument => Path.Combine(Directory, "cell.json");
}
