using System.Diagnostics;
using System.Security;

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

        using Process build = Dotnet.Start(project.Directory, ["build", project.ProjectPath, "-t:Bench", "-nr:false"]);
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
        Assert.IsTrue(build.WaitForExit(60_000), "the build did not stop after Ctrl+C:\n" + output);
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
