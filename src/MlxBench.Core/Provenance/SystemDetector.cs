using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Provenance;

/// <summary>
/// Describes the machine the way upstream's <c>detect_system()</c> does: <c>os</c>, <c>chip</c>, <c>memory_gb</c>
/// (GiB, rounded to the nearest integer), <c>kernel</c> and <c>runner</c>. Values that have no v1 system field
/// (.NET version, MlxBench version) are reported by <see cref="ExtraTags"/> for results' tags.
/// </summary>
public sealed class SystemDetector(IReadOnlyDictionary<string, string?>? environment = null)
{
    private readonly IReadOnlyDictionary<string, string?> _environment = environment ?? EnvironmentSnapshot.Current();

    public SystemInfo Detect() => new()
    {
        Os = OsName(),
        Chip = ChipName(),
        MemoryGb = MemoryGb(TotalMemoryBytes()),
        Kernel = KernelRelease(),
        Runner = Get("RUNNER_NAME") ?? Get("GITHUB_RUNNER_LABEL"),
    };

    /// <summary>Tags every MlxBench result carries about the software that produced it.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ExtraTags(string mlxbenchVersion) =>
    [
        new("mlxbench_version", mlxbenchVersion),
        new("dotnet_version", Environment.Version.ToString()),
    ];

    internal static long MemoryGb(long bytes) => (long)Math.Round(bytes / (double)(1L << 30), MidpointRounding.ToEven);

    private string? Get(string name) => _environment.TryGetValue(name, out string? value) && !string.IsNullOrEmpty(value) ? value : null;

    private static string OsName()
    {
        if (OperatingSystem.IsMacOS()) return "macOS " + (RunQuiet("sw_vers", "-productVersion") ?? Environment.OSVersion.Version.ToString());
        if (OperatingSystem.IsLinux() && ReadOsRelease("PRETTY_NAME") is { } pretty) return pretty;
        return RuntimeInformation.OSDescription.Trim();
    }

    private static string ChipName()
    {
        if (OperatingSystem.IsMacOS() && RunQuiet("sysctl", "-n machdep.cpu.brand_string") is { Length: > 0 } brand) return brand;
        if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                    return line[(colon + 1)..].Trim();
        }
        return RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
    }

    private static long TotalMemoryBytes()
    {
        if (OperatingSystem.IsLinux() && File.Exists("/proc/meminfo"))
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long kib)) return kib * 1024;
            }
        }
        if (OperatingSystem.IsMacOS() && long.TryParse(RunQuiet("sysctl", "-n hw.memsize"), CultureInfo.InvariantCulture, out long bytes))
            return bytes;
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    private static string KernelRelease()
    {
        if (OperatingSystem.IsLinux() && File.Exists("/proc/sys/kernel/osrelease"))
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        return RunQuiet("uname", "-r") ?? Environment.OSVersion.Version.ToString();
    }

    private static string? ReadOsRelease(string key)
    {
        foreach (string path in new[] { "/etc/os-release", "/usr/lib/os-release" })
        {
            if (!File.Exists(path)) continue;
            foreach (string line in File.ReadLines(path))
                if (line.StartsWith(key + "=", StringComparison.Ordinal))
                    return line[(key.Length + 1)..].Trim('"');
        }
        return null;
    }

    /// <summary>Runs a short system query with a time limit; any failure means "unknown".</summary>
    internal static string? RunQuiet(string file, string arguments, string? workingDirectory = null)
    {
        try
        {
            var start = new ProcessStartInfo(file, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            };
            using Process process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(3000))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }
            return process.ExitCode == 0 ? output.Trim() : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }
}

/// <summary>A copy of the process environment, so detection code can be tested with a fake one.</summary>
public static class EnvironmentSnapshot
{
    public static IReadOnlyDictionary<string, string?> Current() =>
        Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);
}
