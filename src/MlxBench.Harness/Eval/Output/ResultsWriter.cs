using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Eval.Output;

/// <summary>What the results file says about the run as a whole (lm-eval's <c>config</c> block and friends).</summary>
public sealed record RunInfo
{
    public required string ModelName { get; init; }
    public required string ModelSource { get; init; }
    public required string ModelArgs { get; init; }
    public double? Limit { get; init; }
    public int BootstrapIters { get; init; } = Scoring.Aggregation.DefaultBootstrapIters;
    public JsonObject? GenKwargs { get; init; }
    public int FewshotSeed { get; init; } = Tasks.FewshotSampler.DefaultSeed;
    public string? SystemInstruction { get; init; }
    public bool FewshotAsMultiturn { get; init; }
    public bool ApplyChatTemplate { get; init; }
    public DateTimeOffset Start { get; init; }
    public double TotalSeconds { get; init; }
    public string MlxBenchVersion { get; init; } = typeof(RunInfo).Assembly.GetName().Version?.ToString() ?? "0";
}

/// <summary>
/// Writes lm-eval 0.4.x-shaped output: <c>results_&lt;date_id&gt;.json</c> (keys in lm-eval's order, Python's
/// <c>json.dumps(indent=2, ensure_ascii=False)</c> layout) and <c>samples_&lt;task&gt;_&lt;date_id&gt;.jsonl</c>, so
/// lm-eval tooling and the lm-eval converter read them as they read lm-eval's own.
/// </summary>
public static class ResultsWriter
{
    /// <summary>lm-eval's <c>date_id</c>: local ISO time with every ':' replaced by '-'.</summary>
    public static string DateId(DateTimeOffset time) =>
        time.ToLocalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture).Replace(':', '-');

    /// <summary><c>model_name_sanitized</c>: each run of <c>" &lt; &gt; : / | \ ? * [ ]</c> becomes <c>__</c>.</summary>
    public static string Sanitize(string name) => System.Text.RegularExpressions.Regex.Replace(name, "[\"<>:/|\\\\?*\\[\\]]+", "__");

    public static JsonObject Build(IReadOnlyList<TaskResult> tasks, RunInfo run, IReadOnlyDictionary<string, string> taskHashes)
    {
        var results = new JsonObject();
        var groupSubtasks = new JsonObject();
        var configs = new JsonObject();
        var versions = new JsonObject();
        var nShot = new JsonObject();
        var higherIsBetter = new JsonObject();
        var nSamples = new JsonObject();
        var perTask = new JsonObject();
        foreach (TaskResult t in tasks)
        {
            string name = t.Task.Name;
            results[name] = t.ResultsEntry();
            groupSubtasks[name] = new JsonArray();
            configs[name] = TaskConfig(t);
            versions[name] = t.Task.Version;
            nShot[name] = t.NumFewshot;
            higherIsBetter[name] = new JsonObject(t.Task.Metrics.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)m.HigherIsBetter)));
            nSamples[name] = new JsonObject { ["original"] = t.OriginalCount, ["effective"] = t.Docs.Count };
            perTask[name] = t.Seconds;
        }
        return new JsonObject
        {
            ["results"] = results,
            ["group_subtasks"] = groupSubtasks,
            ["configs"] = configs,
            ["versions"] = versions,
            ["n-shot"] = nShot,
            ["higher_is_better"] = higherIsBetter,
            ["n-samples"] = nSamples,
            ["config"] = new JsonObject
            {
                ["model"] = run.ModelSource,
                ["model_args"] = run.ModelArgs,
                ["batch_size"] = 1,
                ["batch_sizes"] = new JsonArray(),
                ["device"] = null,
                ["use_cache"] = null,
                ["limit"] = run.Limit is { } limit ? JsonValue.Create(limit) : null,
                ["bootstrap_iters"] = run.BootstrapIters,
                ["gen_kwargs"] = run.GenKwargs?.DeepClone(),
                ["random_seed"] = 0,
                ["numpy_seed"] = 1234,
                ["torch_seed"] = 1234,
                ["fewshot_seed"] = run.FewshotSeed,
            },
            ["git_hash"] = null,
            ["date"] = run.Start.ToUnixTimeMilliseconds() / 1000.0,
            ["pretty_env_info"] = "N/A (mlxbench eval, no torch)",
            ["transformers_version"] = "N/A",
            ["mlxbench_version"] = run.MlxBenchVersion,
            ["upper_git_hash"] = null,
            ["task_hashes"] = new JsonObject(taskHashes.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["model_source"] = run.ModelSource,
            ["model_name"] = run.ModelName,
            ["model_name_sanitized"] = Sanitize(run.ModelName),
            ["system_instruction"] = run.SystemInstruction,
            ["system_instruction_sha"] = run.SystemInstruction is { } s ? TaskResult.Sha256(s) : null,
            ["fewshot_as_multiturn"] = run.FewshotAsMultiturn,
            ["chat_template"] = run.ApplyChatTemplate ? "" : null,
            ["chat_template_sha"] = null,
            ["total_evaluation_time_seconds"] = PyFloat.Repr(run.TotalSeconds),
            // Not written by lm-eval; upstream's converter reads it into duration_seconds.
            ["total_evaluation_time_seconds_per_task"] = perTask,
        };
    }

    private static JsonObject TaskConfig(TaskResult t)
    {
        var config = new JsonObject { ["task"] = t.Task.Name };
        if (t.Task.Tags.Count > 0) config["tag"] = new JsonArray(t.Task.Tags.Select(x => (JsonNode)x).ToArray());
        foreach ((string key, JsonNode? value) in t.Task.ConfigExtras) config[key] = value?.DeepClone();
        config["description"] = t.Task.Description;
        config["target_delimiter"] = t.Task.TargetDelimiter;
        config["fewshot_delimiter"] = t.Task.FewshotDelimiter;
        config["num_fewshot"] = t.NumFewshot;
        config["metric_list"] = new JsonArray(t.Task.Metrics.Select(m =>
        {
            var entry = new JsonObject { ["metric"] = m.Name, ["aggregation"] = m.Aggregation, ["higher_is_better"] = m.HigherIsBetter };
            if (m.ExactMatch is { } em)
            {
                entry["ignore_case"] = em.IgnoreCase;
                entry["ignore_punctuation"] = em.IgnorePunctuation;
                entry["regexes_to_ignore"] = new JsonArray(em.RegexesToIgnore.Select(r => (JsonNode)r).ToArray());
            }
            return (JsonNode)entry;
        }).ToArray());
        config["output_type"] = t.Task.OutputType switch
        {
            Tasks.OutputType.MultipleChoice => "multiple_choice",
            Tasks.OutputType.Loglikelihood => "loglikelihood",
            Tasks.OutputType.LoglikelihoodRolling => "loglikelihood_rolling",
            _ => "generate_until",
        };
        if (t.Task.GenerationKwargs is { } gen) config["generation_kwargs"] = gen.DeepClone();
        config["repeats"] = 1;
        if (t.Task.OutputType == Tasks.OutputType.GenerateUntil)
            config["filter_list"] = new JsonArray(t.Task.Filters.Select(f => (JsonNode)new JsonObject
            {
                ["name"] = f.Name,
                ["filter"] = new JsonArray(f.Steps.Select(s =>
                {
                    var step = new JsonObject { ["function"] = s.Function };
                    if (s.GroupSelect != 0) step["group_select"] = s.GroupSelect;
                    if (s.RegexPattern is not null) step["regex_pattern"] = s.RegexPattern;
                    return (JsonNode)step;
                }).ToArray()),
            }).ToArray());
        config["metadata"] = new JsonObject { ["version"] = t.Task.Version };
        return config;
    }

    /// <summary>Writes the results file and each task's samples file into <paramref name="directory"/>; every file
    /// goes to a temporary name first and is moved into place, so a crash leaves no half-written file.</summary>
    public static (string ResultsPath, IReadOnlyList<string> SamplesPaths) Write(string directory, IReadOnlyList<TaskResult> tasks, RunInfo run, bool logSamples)
    {
        Directory.CreateDirectory(directory);
        string dateId = DateId(run.Start);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var samplesPaths = new List<string>();
        if (logSamples)
            foreach (TaskResult t in tasks)
            {
                List<JsonObject> lines = t.SampleLines().ToList();
                hashes[t.Task.Name] = t.TaskHash(lines);
                var text = new StringBuilder();
                foreach (JsonObject line in lines) text.Append(PyJson.Dumps(line, ensureAscii: false)).Append('\n');
                string path = Path.Combine(directory, $"samples_{t.Task.Name}_{dateId}.jsonl");
                WriteAtomically(path, text.ToString());
                samplesPaths.Add(path);
            }
        string resultsPath = Path.Combine(directory, $"results_{dateId}.json");
        WriteAtomically(resultsPath, PyJson.Dumps(Build(tasks, run, hashes), indent: 2, ensureAscii: false));
        return (resultsPath, samplesPaths);
    }

    public static void WriteAtomically(string path, string text)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }
}
