using System.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>
/// A user's command line, run by the platform's shell (<c>/bin/sh -c</c>, <c>cmd.exe /c</c>). On Unix the shell
/// starts with SIGPIPE at its default action, as it would from a terminal: .NET ignores SIGPIPE, every process it
/// starts inherits that, and a shell cannot undo it (POSIX keeps a signal ignored on entry ignored), so in
/// <c>producer | head -n 1</c> the producer would go on writing into the closed pipe and fail loudly ("Broken pipe",
/// Python's BrokenPipeError) instead of ending quietly. perl (in every Debian and macOS base system) resets it and
/// execs the shell under the same process id; without perl the shell starts as .NET leaves it.
/// </summary>
public static class ShellCommand
{
    private static readonly Lazy<string?> Perl = new(() => FindOnPath("perl"));

    public static ProcessStartInfo StartInfo(string commandLine, string workingDirectory)
    {
        var start = new ProcessStartInfo { WorkingDirectory = workingDirectory };
        if (OperatingSystem.IsWindows())
        {
            start.FileName = "cmd.exe";
            start.ArgumentList.Add("/c");
        }
        else if (Perl.Value is { } perl)
        {
            start.FileName = perl;
            start.ArgumentList.Add("-e");
            start.ArgumentList.Add("$SIG{PIPE} = 'DEFAULT'; exec { $ARGV[0] } @ARGV or die \"cannot run $ARGV[0]: $!\\n\"");
            start.ArgumentList.Add("/bin/sh");
            start.ArgumentList.Add("-c");
        }
        else
        {
            start.FileName = "/bin/sh";
            start.ArgumentList.Add("-c");
        }
        start.ArgumentList.Add(commandLine);
        return start;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
