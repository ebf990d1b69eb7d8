namespace MlxBench.Core.Cells;

/// <summary>An item as declared in the project: its name (<c>Include</c>) and its custom metadata.</summary>
public sealed record DeclaredItem(string Name, IReadOnlyDictionary<string, string> Metadata)
{
    public string? Get(string key) => Metadata.TryGetValue(key, out string? value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
}

/// <summary>A server the cells talk to. <see cref="BaseUrl"/> is the OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1.
/// A managed endpoint (<see cref="Server"/> or <see cref="Command"/>) is started by Bench itself: its BaseUrl is empty
/// when planned and filled in once it runs (see <c>Endpoints/EndpointSessions</c>).</summary>
public sealed record EndpointSpec(string Name, string BaseUrl, SortedDictionary<string, string> Metadata)
{
    /// <summary><c>Server="native"</c>: MlxBench's own server over the native engine.</summary>
    public string? Server { get; init; }

    /// <summary><c>Command="..."</c>: any server, started through the shell with <c>MLXBENCH_PORT</c> set.</summary>
    public string? Command { get; init; }

    public bool IsManaged => Server is not null || Command is not null;
}

/// <summary>A model as the cells see it: <see cref="Name"/> is unique in the project, <see cref="Id"/> is what the envelope records.</summary>
public sealed record ModelSpec(
    string Name,
    string Id,
    string? Revision,
    string? Quantization,
    string? File,
    string? Endpoint,
    SortedDictionary<string, string> Metadata)
{
    /// <summary>For a model served from its whole HuggingFace repository (no File): the commit its revision stood for
    /// when the cell was planned, which identifies the model's content; null when it could not be known.</summary>
    public string? SnapshotCommit { get; init; }
}

/// <summary>A suite: <see cref="Category"/> is its v1 <c>suite</c> value (its own name unless mapped with Category).
/// <see cref="DataFiles"/> are its inputs as <see cref="SuiteInputs"/> names them: full paths of local files, and
/// <c>hf://datasets/...</c> references (with <c>#commit</c> when the HF cache resolves them).</summary>
public sealed record SuiteSpec(
    string Name,
    string Category,
    string Harness,
    string? Command,
    string Converter,
    int? TimeoutSeconds,
    IReadOnlyList<string> DataFiles,
    SortedDictionary<string, string> Metadata);

/// <summary>One model x suite combination: the unit that is run, fingerprinted, cached and published.</summary>
public sealed record BenchCell(ModelSpec Model, SuiteSpec Suite, EndpointSpec? Endpoint, string Fingerprint)
{
    /// <summary>How the cell is named in logs and errors: <c>suite/model</c>.</summary>
    public string Id => $"{Suite.Name}/{Model.Name}";
}

/// <summary>The state a cell ends a Bench run in, as reported in <c>BenchResult</c> items.</summary>
public enum CellState { Ran, UpToDate, Failed }
