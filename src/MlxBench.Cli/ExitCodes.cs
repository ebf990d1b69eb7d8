namespace MlxBench.Cli;

/// <summary>Exit codes, upstream's <c>mlx-bench-publish</c> ones where they overlap.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A cell's harness failed (the message says why).</summary>
    public const int Failed = 1;
    /// <summary>Unreadable file, invalid JSON, or bad usage.</summary>
    public const int BadInput = 2;
    /// <summary>An envelope breaks schema.json.</summary>
    public const int Invalid = 3;
}
