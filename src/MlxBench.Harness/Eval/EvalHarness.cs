using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;

namespace MlxBench.Harness.Eval;

/// <summary>
/// <c>Harness="eval"</c>: the built-in evaluator. Scores the cell's endpoint on lm-eval tasks with lm-eval's prompts
/// and metrics and no Python, and writes lm-eval-shaped results (converted by the <c>lm-eval</c> converter) plus
/// samples files beside them. Requests are cached under the cell's folder, so a killed run resumes where it stopped.
/// </summary>
public sealed class EvalHarness : IBuiltInHarness
{
    public const string HarnessName = "eval";

    public string Name => HarnessName;

    public async Task RunAsync(HarnessRun run, CancellationToken cancellationToken)
    {
        var cell = run.Cell;
        EvalSettings settings = EvalSettings.Parse(cell.Suite, cell.Model);
        if (cell.Endpoint is null)
            throw new BenchException(BenchDiagnostic.Error("Eval.NoEndpoint", cell.Id, HarnessName));

        // raw/ is emptied before every run; the cache lives beside it so a rerun of the same cell finds it.
        string cacheDirectory = settings.CacheDirectory is { } configured
            ? Path.GetFullPath(configured)
            : Path.GetFullPath(Path.Combine(run.OutputDirectory, "..", "eval-cache"));
        string cachePath = Path.Combine(cacheDirectory, "requests.jsonl");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(settings.RequestTimeoutSeconds) };
        using var cache = new RequestCache(cachePath);
        var endpoint = new OpenAiEndpoint(http, cell.Endpoint.BaseUrl, cache, Environment.GetEnvironmentVariable(settings.ApiKeyVariable), settings.MaxRetries)
        {
            OnRetry = message => run.Log.WriteLine(BenchDiagnostic.Warning("Eval.Retry", message).Text),
        };
        string modelName = settings.ServedModel ?? cell.Model.Id;
        var model = new OpenAiModel(endpoint, ModelOptionsFrom(settings, modelName));
        run.Log.WriteLine($"eval: {cell.Id} against {cell.Endpoint.BaseUrl}; {cache.Count} cached responses in {cachePath}");

        var runner = new EvalRunner(new EvalContext
        {
            CellId = cell.Id,
            SuiteName = cell.Suite.Name,
            Settings = settings,
            Model = model,
            ModelName = modelName,
            BaseUrl = cell.Endpoint.BaseUrl,
            OutputDirectory = run.OutputDirectory,
            CachePath = cachePath,
            Hub = new HfDatasets(http),
            Log = run.Log,
        });
        (string resultsPath, _) = await runner.RunAsync(cancellationToken);
        run.Log.WriteLine($"eval: {endpoint.Sent} requests sent, {cache.Hits} answered from the cache -> {resultsPath}");
        if (!string.Equals(Path.GetFullPath(resultsPath), Path.GetFullPath(run.OutputPath), StringComparison.Ordinal))
        {
            string temp = run.OutputPath + ".tmp";
            File.Copy(resultsPath, temp, overwrite: true);
            File.Move(temp, run.OutputPath, overwrite: true);
        }
    }

    public static ModelOptions ModelOptionsFrom(EvalSettings settings, string modelName) => new()
    {
        Model = modelName,
        MaxLength = settings.MaxLength,
        MaxGenToks = settings.MaxGenToks,
        AddBosToken = settings.AddBosToken,
        TokenizedRequests = settings.TokenizedRequests,
        BatchChoices = settings.BatchChoices,
        ChatEndpoint = settings.ChatEndpoint,
        PrefixTokenId = settings.PrefixTokenId,
    };
}
