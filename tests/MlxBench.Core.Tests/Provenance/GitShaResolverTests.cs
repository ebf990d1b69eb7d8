using System.Diagnostics;
using MlxBench.Core.Provenance;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Provenance;

[TestClass]
public sealed class GitShaResolverTests
{
    private static string Git(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // A commit needs an identity; give one without touching the user's git configuration.
        start.Environment["GIT_AUTHOR_NAME"] = start.Environment["GIT_COMMITTER_NAME"] = "MlxBench tests";
        start.Environment["GIT_AUTHOR_EMAIL"] = start.Environment["GIT_COMMITTER_EMAIL"] = "tests@mlxbench.invalid";
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.AreEqual(0, process.ExitCode, $"git {string.Join(' ', arguments)}: {error}");
        return output.Trim();
    }

    [TestMethod]
    public void ExplicitSha_Wins()
    {
        using var dir = new TempDirectory();

        Assert.AreEqual(("abc1234", false), GitShaResolver.Resolve(" abc1234 ", dir.Path));
    }

    [TestMethod]
    public void InsideAGitRepository_IsHead_FromAnySubfolder()
    {
        using var dir = new TempDirectory();
        Git(dir.Path, "init", "-q");
        dir.Write("bench/models.benchproj", "<Project />");
        Git(dir.Path, "add", ".");
        Git(dir.Path, "commit", "-q", "-m", "bench project");
        string head = Git(dir.Path, "rev-parse", "HEAD");

        Assert.AreEqual((head, false), GitShaResolver.Resolve(null, dir.Combine("bench")));
        Assert.AreEqual(40, head.Length);
        Assert.AreEqual((head, false), GitShaResolver.Resolve("", dir.Path), "an empty BenchGitSha is unset");
    }

    [TestMethod]
    public void RepositoryWithoutCommits_FallsBack()
    {
        using var dir = new TempDirectory();
        Git(dir.Path, "init", "-q");

        Assert.AreEqual((GitShaResolver.Fallback, true), GitShaResolver.Resolve(null, dir.Path));
    }

    [TestMethod]
    public void OutsideAnyRepository_FallsBackToZeros_AndSaysSo()
    {
        using var dir = new TempDirectory();
        Assert.AreNotEqual(0, new Func<int>(() =>
        {
            using Process p = Process.Start(new ProcessStartInfo("git", "rev-parse --git-dir") { WorkingDirectory = dir.Path, RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode;
        })(), "the temp folder must not be inside a repository for this test");

        (string sha, bool fallback) = GitShaResolver.Resolve(null, dir.Path);

        Assert.AreEqual("0000000", sha);
        Assert.IsTrue(fallback);
        StringAssert.Matches(sha, new System.Text.RegularExpressions.Regex("^[0-9a-fA-F]{7,64}$"), "the fallback still satisfies the schema");
    }
}
