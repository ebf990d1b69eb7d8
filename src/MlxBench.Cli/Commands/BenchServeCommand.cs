using System.CommandLine;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;

namespace MlxBench.Cli.Commands;

/// <summary>
/// <c>mlxbench bench-serve --base-url http://127.0.0.1:8000/v1 --model NAME [--set Key=Value]... [--output serving.jsonl]</c>:
/// the serving harness without MSBuild. <c>--set</c> takes the same keys as a serving suite's metadata
/// (<c>--set Concurrency=1;4;16 --set Requests=200</c>); the output is the same vLLM JSON Lines the SDK converts.
/// </summary>
internal static class BenchServeCommand
{
    public static Command Create()
    {
        var baseUrl = new Option<string>("--base-url") { Description = "The server's OpenAI root, e.g. http://127.0.0.1:8000/v1", Required = true };
        var model = new Option<string>("--model") { Description = "The model name to send", Required = true };
        var settings = SuiteSettings.Option("A serving suite setting, Key=Value (repeatable; see README \"Serving suites\")");
        var output = new Option<FileInfo>("--output") { Description = "Where to write the vLLM result JSON Lines", DefaultValueFactory = _ => new FileInfo("serving.jsonl") };
        var command = new Command("bench-serve", "Measure an OpenAI-compatible endpoint like vllm bench serve") { baseUrl, model, settings, output };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (SuiteSettings.TryAdd(parse.GetValue(settings), metadata) is { } malformed)
            {
                await Console.Error.WriteLineAsync(SuiteSettings.Malformed(malformed));
                return ExitCodes.BadInput;
            }
            ServingClient.PreferInlineSocketCompletions();
            var suite = new SuiteSpec("bench-serve", "throughput", "serving", null, "vllm", null, [], metadata);
            try
            {
                ServingOptions options = ServingOptions.Parse(suite, Environment.CurrentDirectory);
                IReadOnlyList<LevelResult> levels = await new ServingBenchmark(options, parse.GetValue(baseUrl)!, options.ServedModelName ?? parse.GetValue(model)!, Console.Out, "bench-serve")
                    .RunAsync(cancellationToken);
                FileInfo file = parse.GetValue(output)!;
                ServingHarness.Write(file.FullName, levels, "bench-serve");
                Console.WriteLine($"-> {file.FullName}");
                return ExitCodes.Ok;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync(e.Diagnostic.Text);
                return e.Diagnostic.Code is "MLXB6002" or "MLXB6003" or "MLXB6004" or "MLXB6009" ? ExitCodes.BadInput : ExitCodes.Failed;
            }
        });
        return command;
    }
}
