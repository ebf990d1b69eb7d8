using System.Globalization;
using System.Resources;

namespace MlxBench.Core.Diagnostics;

public enum DiagnosticSeverity { Error, Warning }

/// <summary>
/// A coded problem found by Core, to be reported by whoever called it (an MSBuild task, the CLI, a test).
/// The text lives in <c>Strings.resx</c> under <see cref="ResourceName"/> and starts with its <c>MLXBnnnn</c> code.
/// </summary>
public sealed record BenchDiagnostic(string ResourceName, object?[] Args, DiagnosticSeverity Severity = DiagnosticSeverity.Error, string? File = null)
{
    public static ResourceManager Resources { get; } = new("MlxBench.Core.Diagnostics.Strings", typeof(BenchDiagnostic).Assembly);

    public static BenchDiagnostic Error(string resourceName, params object?[] args) => new(resourceName, args);

    public static BenchDiagnostic Warning(string resourceName, params object?[] args) => new(resourceName, args, DiagnosticSeverity.Warning);

    public BenchDiagnostic InFile(string? file) => this with { File = file };

    /// <summary>The full message, code included.</summary>
    public string Text => string.Format(CultureInfo.InvariantCulture,
        Resources.GetString(ResourceName, CultureInfo.InvariantCulture) ?? throw new InvalidOperationException($"no resource {ResourceName}"),
        Args);

    /// <summary>The <c>MLXBnnnn</c> code at the start of <see cref="Text"/>.</summary>
    public string Code => Text[..Text.IndexOf(':')];

    /// <summary>The message without its code.</summary>
    public string Message => Text[(Text.IndexOf(':') + 1)..].TrimStart();

    public override string ToString() => Text;
}

/// <summary>Raised by Core when a problem must stop the current unit of work; carries a coded diagnostic.</summary>
public sealed class BenchException(BenchDiagnostic diagnostic) : Exception(diagnostic.Text)
{
    public BenchDiagnostic Diagnostic { get; } = diagnostic;
}
