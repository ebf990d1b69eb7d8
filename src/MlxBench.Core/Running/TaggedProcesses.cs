using System.Diagnostics;
using System.Text;

namespace MlxBench.Core.Running;

/// <summary>
/// Finds the processes a harness started, however they were started, by an environment variable every descendant
/// inherits (<see cref="Variable"/>, unique per cell run), as CI servers find the processes of a build. A process that
/// double-forked or outlived its shell is no longer in the harness's process tree, but it still carries the tag.
/// Linux reads <c>/proc/&lt;pid&gt;/environ</c>; elsewhere nothing is found and only the process tree is stopped.
/// </summary>
public static class TaggedProcesses
{
    /// <summary>Set for every harness process; documented for commands, which should leave it alone.</summary>
    public const string Variable = "MLXBENCH_RUN_ID";

    /// <summary>Kills every process carrying <paramref name="runId"/>, except this one; returns how many there were.</summary>
    public static int KillAll(string runId)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc")) return 0;
        byte[] entry = Encoding.UTF8.GetBytes($"{Variable}={runId}\0");
        int killed = 0;
        // A second pass catches a process that forked while the first one ran.
        for (int pass = 0; pass < 2; pass++)
        {
            int found = 0;
            foreach (int pid in Find(entry))
            {
                found++;
                try
                {
                    using Process process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                    killed++;
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Gone meanwhile.
                }
            }
            if (found == 0) break;
        }
        return killed;
    }

    private static IEnumerable<int> Find(byte[] entry)
    {
        int self = Environment.ProcessId;
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid) || pid == self) continue;
            byte[] environment;
            try
            {
                environment = File.ReadAllBytes(Path.Combine(directory, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (HasEntry(environment, entry)) yield return pid;
        }
    }

    /// <summary>Whether the NUL-separated block holds <paramref name="entry"/> (which ends in NUL) as a whole entry.</summary>
    private static bool HasEntry(ReadOnlySpan<byte> environment, ReadOnlySpan<byte> entry)
    {
        for (int at = 0; at < environment.Length;)
        {
            if (environment[at..].StartsWith(entry)) return true;
            int next = environment[at..].IndexOf((byte)0);
            if (next < 0) break;
            at += next + 1;
        }
        return false;
    }
}
