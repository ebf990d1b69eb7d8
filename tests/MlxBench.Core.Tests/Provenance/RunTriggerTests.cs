using MlxBench.Core.Provenance;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Provenance;

[TestClass]
public sealed class RunTriggerTests
{
    private static Dictionary<string, string?> Env(params (string Key, string Value)[] variables) =>
        variables.ToDictionary(v => v.Key, v => (string?)v.Value, StringComparer.Ordinal);

    [TestMethod]
    [DataRow("schedule", "schedule")]
    [DataRow("workflow_dispatch", "workflow_dispatch")]
    [DataRow("push", "local")]
    [DataRow("release", "local")]
    public void GitHubEvent_MapsToTheV1Trigger(string eventName, string trigger)
    {
        Assert.AreEqual((trigger, (long?)null), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", eventName), ("GITHUB_REF", "refs/heads/main"))));
    }

    [TestMethod]
    public void NoCi_IsLocal()
    {
        Assert.AreEqual(("local", (long?)null), RunTrigger.Detect(Env()));
    }

    [TestMethod]
    public void PullRequest_TakesItsNumberFromTheMergeRef()
    {
        Assert.AreEqual(("pr", (long?)42), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_REF", "refs/pull/42/merge"))));
    }

    [TestMethod]
    public void PullRequestTarget_TakesItsNumberFromTheEventPayload()
    {
        // pull_request_target runs on the base branch: GITHUB_REF is refs/heads/main, the number is only in the payload.
        using var dir = new TempDirectory();
        string payload = dir.Write("event.json", """{"action": "synchronize", "number": 7, "pull_request": {"number": 7, "head": {"ref": "feature"}}}""");

        Assert.AreEqual(("pr", (long?)7), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", "pull_request_target"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_EVENT_PATH", payload))));
    }

    [TestMethod]
    [DataRow("{ broken")]
    [DataRow("[]")]
    [DataRow("""{"pull_request": {"number": "seven"}}""")]
    public void UnreadablePayload_GivesNoNumber(string payload)
    {
        using var dir = new TempDirectory();
        string path = dir.Write("event.json", payload);

        Assert.AreEqual(("pr", (long?)null), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", "pull_request_target"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_EVENT_PATH", path))));
    }

    [TestMethod]
    public void ExplicitTrigger_Wins_AndGetsNoPrNumberOutsideAPullRequest()
    {
        Assert.AreEqual(("workflow_dispatch", (long?)null), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", "schedule")), " workflow_dispatch "));
        Assert.AreEqual(("pr", (long?)5), RunTrigger.Detect(Env(("GITHUB_REF", "refs/pull/5/head")), "pr"));
    }

    [TestMethod]
    public void BranchNamedLikeAPull_IsNotAPrNumber()
    {
        Assert.AreEqual(("pr", (long?)null), RunTrigger.Detect(Env(("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_REF", "refs/heads/refs/pull/3/merge"))));
    }
}
