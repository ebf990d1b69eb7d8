using System.Text;
using System.Text.Json;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Results;

namespace MlxBench.Harness.Serving;

/// <summary>
/// <c>Harness="serving"</c>: measures the cell's endpoint the way <c>vllm bench serve</c> does and writes one vLLM
/// result object per level as JSON Lines (the <c>vllm</c> converter's sweep input). The endpoint is the cell's
/// <c>BaseUrl</c> (an OpenAI <c>/v1</c> root), the model name <c>ServedModelName</c> or the model's id.
/// </summary>
public sealed class ServingHarness : IBuiltInHarness
{
    public string Name => "serving";

    public async Task RunAsync(HarnessRun run, CancellationToken cancellationToken)
    {
        BenchCell cell = run.Cell;
        string baseUrl = cell.Endpoint?.BaseUrl
            ?? throw new BenchException(BenchDiagnostic.Error("Serving.NoEndpoint", cell.Id, cell.Model.Name));
        ServingClient.PreferInlineSocketCompletions();
        // The SDK starts the CLI in the project folder, so dataset paths resolve as the user wrote them.
        ServingOptions options = ServingOptions.Parse(cell.Suite, Environment.CurrentDirectory);
        string model = options.ServedModelName ?? cell.Model.Id;
        IReadOnlyList<LevelResult> levels = await new ServingBenchmark(options, baseUrl, model, run.Log, cell.Id).RunAsync(cancellationToken).ConfigureAwait(false);
        Write(run.OutputPath, levels, cell.Id);
    }

    /// <summary>Writes the levels as JSON Lines to a temporary file beside <paramref name="path"/>, then moves it in place.</summary>
    public static void Write(string path, IReadOnlyList<LevelResult> levels, string id)
    {
        string temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                foreach (LevelResult level in levels)
                {
                    using (var json = new Utf8JsonWriter(stream))
                        VllmResultWriter.Write(json, level.Metrics, level.Description);
                    stream.Write("\n"u8);
                }
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw new BenchException(BenchDiagnostic.Error("Serving.WriteFailed", id, path, e.Message));
        }
    }
}
