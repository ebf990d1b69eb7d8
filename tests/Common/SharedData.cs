namespace MlxBench.Testing;

/// <summary>
/// Locates the repository and the read-only <c>shared/</c> folder beside it (or <c>MLXBENCH_SHARED</c>). Tests that
/// need shared data call <see cref="RequireShared"/>, which marks them inconclusive with a clear message when it is absent.
/// </summary>
internal static class SharedData
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string? SharedRoot
    {
        get
        {
            string? fromEnvironment = Environment.GetEnvironmentVariable("MLXBENCH_SHARED");
            if (!string.IsNullOrEmpty(fromEnvironment) && Directory.Exists(fromEnvironment)) return Path.GetFullPath(fromEnvironment);
            string beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(beside) ? beside : null;
        }
    }

    public static string RequireShared(params string[] parts)
    {
        string? root = SharedRoot;
        if (root is null)
            Assert.Inconclusive("shared/ is not beside the repository and MLXBENCH_SHARED is not set; this test needs its data.");
        string path = Path.Combine([root!, .. parts]);
        if (!File.Exists(path) && !Directory.Exists(path))
            Assert.Inconclusive($"{path} is missing from shared/.");
        return path;
    }

    public static string Fixture(params string[] parts) => RequireShared(["fixtures", .. parts]);

    public static string ReadFixture(params string[] parts) => File.ReadAllText(Fixture(parts));

    private static string FindRepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "schema.json")) && File.Exists(Path.Combine(dir, "global.json")))
                return dir;
        throw new InvalidOperationException("cannot find the repository root (schema.json + global.json) above " + AppContext.BaseDirectory);
    }
}
