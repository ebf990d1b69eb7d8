using System.Diagnostics;
using System.Security;
using MlxBench.Testing;

namespace MlxBench.Sdk.Tests;

/// <summary>Ctrl+C during a cell: the harness process is stopped, nothing is recorded, the cell runs again next time.</summary>
[TestClass]
public sealed class InterruptTests
{
    [TestMethod]
    public void CtrlC_StopsTheCommand_RecordsNothing_AndTheCellRerunsNextTime()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("sends SIGINT, as a terminal does on Ctrl+C");
        string command = SecurityElement.Escape(
            "if [ ! -f first-done ]; then touch first-done; sleep 300 & echo $! > sleeper.pid; wait; fi; " +
            "echo ran >> runs.log; printf '{\"duration\": 1, \"request_throughput\": 2}' > \"$MLXBENCH_OUTPUT\"");
        using var project = new UserProject($"""
            <BenchModel Include="org/alpha" />
            <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="{command}" />
            """, "<BenchGitSha>aaa3ff3</BenchGitSha>");
        string pidFile = Path.Combine(project.Directory, "sleeper.pid");

        using Process build = Dotnet.Start(project.Directory, ["build", project.ProjectPath, "-t:Bench", "-nr:false"], interruptible: true);
        var output = new System.Text.StringBuilder();
        build.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        build.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        build.BeginOutputReadLine();
        build.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (!File.Exists(pidFile) && clock.Elapsed < TimeSpan.FromMinutes(2) && !build.HasExited) Thread.Sleep(100);
        Assert.IsTrue(File.Exists(pidFile), "the command never started:\n" + output);
        Thread.Sleep(300);
        int sleeper = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        Process.Start("kill", ["-INT", build.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        if (!build.WaitForExit(60_000))
        {
            // Seen twice on a loaded machine and never reproduced since: say where every process of the tree is,
            // then stop it, so the failure can be diagnosed and leaves nothing running.
            string tree = ProcessTree(build.Id);
            build.Kill(entireProcessTree: true);
            Assert.Fail($"the build did not stop within 60 s of Ctrl+C; its processes (pid, state, kernel wait, signals pending/blocked/ignored/caught, command):\n{tree}\nits output:\n{output}");
        }
        build.WaitForExit();

        Assert.AreNotEqual(0, build.ExitCode);
        var dying = Stopwatch.StartNew();
        while (IsAlive(sleeper) && dying.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(100);
        Assert.IsFalse(IsAlive(sleeper), "the cell's process tree must be stopped with the build");
        Assert.AreEqual(0, Directory.GetFiles(Path.Combine(project.Directory, "obj"), "envelope.json", SearchOption.AllDirectories).Length,
            "an interrupted cell leaves no envelope:\n" + output);

        BuildRun rerun = project.Build("Bench", resultOf: "Bench");
        Assert.IsTrue(rerun.Succeeded, rerun.Output);
        Assert.AreEqual("Ran", rerun.Items.Single()["State"]);
        Assert.AreEqual(1, File.ReadAllLines(Path.Combine(project.Directory, "runs.log")).Length);
    }

    /// <summary>The process and its descendants, one line each, from /proc.</summary>
    private static string ProcessTree(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                if (!children.TryGetValue(ppid, out List<int>? list)) children[ppid] = list = [];
                list.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        }
        var lines = new System.Text.StringBuilder();
        var pending = new Stack<int>([root]);
        while (pending.Count > 0)
        {
            int pid = pending.Pop();
            try
            {
                string dir = $"/proc/{pid}";
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                string status = File.ReadAllText(Path.Combine(dir, "status"));
                string signals = string.Join(' ', status.Split('\n').Where(l => l.StartsWith("Sig", StringComparison.Ordinal) && !l.StartsWith("SigQ", StringComparison.Ordinal)).Select(l => l.Split('\t')[^1]));
                string wchan = File.Exists(Path.Combine(dir, "wchan")) ? File.ReadAllText(Path.Combine(dir, "wchan")) : "?";
                string cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                lines.AppendLine($"{pid} {stat[(stat.LastIndexOf(')') + 2)..][0]} {wchan} {signals} {cmd}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (int child in children.GetValueOrDefault(pid) ?? []) pending.Push(child);
        }
        return lines.ToString();
    }

    /// <summary>Running, as /proc tells it: a killed process whose parent has not reaped it yet is a zombie, not alive.</summary>
    private static bool IsAlive(int pid)
    {
        string stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return false;
        try
        {
            string text = File.ReadAllText(stat);
            char state = text[(text.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }
}
