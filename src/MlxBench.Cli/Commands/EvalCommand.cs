using System.CommandLine;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness;
using MlxBench.Harness.Eval;

namespace MlxBench.Cli.Commands;

/// <summary>
/// <c>mlxbench eval --base-url URL --model NAME --tasks arc_easy;gsm8k [--set Key=Value]... --output DIR</c>: the
/// built-in evaluator without MSBuild. Suite metadata (Limit, Data, Concurrency, ...) is given as <c>--set</c> pairs;
/// lm-eval-shaped results and samples go to DIR, the request cache to DIR/eval-cache.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var baseUrl = new Option<string>("--base-url") { Description = "The server's OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1", Required = true };
        var model = new Option<string>("--model") { Description = "The model name the server serves", Required = true };
        var tasks = new Option<string>("--tasks") { Description = "Tasks, ';'-separated (built-in names or task files)", Required = true };
        var set = SuiteSettings.Option("Suite metadata as Key=Value (Limit=100, Data=..., Concurrency=4, ...)");
        var output = new Option<DirectoryInfo>("--output") { Description = "Folder for results_*.json and samples_*.jsonl", Required = true };
        var command = new Command("eval", "Score an OpenAI-compatible endpoint on lm-eval tasks (Harness=\"eval\" without MSBuild)")
        {
            baseUrl, model, tasks, set, output,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["Tasks"] = parse.GetValue(tasks)! };
            if (SuiteSettings.TryAdd(parse.GetValue(set), metadata) is { } malformed)
            {
                await Console.Error.WriteLineAsync(SuiteSettings.Malformed(malformed));
                return ExitCodes.BadInput;
            }
            string outputDir = parse.GetValue(output)!.FullName;
            Directory.CreateDirectory(outputDir);
            var cell = new BenchCell(
                new ModelSpec(parse.GetValue(model)!, parse.GetValue(model)!, null, null, null, "cli", new SortedDictionary<string, string>(StringComparer.Ordinal)),
                new SuiteSpec("eval", "knowledge", EvalHarness.HarnessName, null, "lm-eval", null, [], metadata),
                new EndpointSpec("cli", parse.GetValue(baseUrl)!.TrimEnd('/'), new SortedDictionary<string, string>(StringComparer.Ordinal)),
                new string('0', 64));
            if (!metadata.ContainsKey("CacheDirectory")) metadata["CacheDirectory"] = Path.Combine(outputDir, "eval-cache");
            try
            {
                await new EvalHarness().RunAsync(new HarnessRun(cell, Path.Combine(outputDir, "results.json"), Console.Out), cancellationToken);
                return ExitCodes.Ok;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync(e.Diagnostic.Text);
                return ExitCodes.Failed;
            }
        });
        return command;
    }
}
