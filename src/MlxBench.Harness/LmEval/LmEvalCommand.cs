using System.Globalization;
using System.Text.RegularExpressions;

namespace MlxBench.Harness.LmEval;

/// <summary>Finds the <c>lm_eval</c> executable and builds its command line from a suite.</summary>
public static class LmEvalCommand
{
    /// <summary><c>LmEvalPath</c> when given, else <c>lm_eval</c> (or <c>lm-eval</c>) on PATH; null when there is none.</summary>
    public static string? Find(string? configured, string? pathVariable, out string lookedAt)
    {
        if (configured is not null)
        {
            lookedAt = configured;
            return File.Exists(configured) ? Path.GetFullPath(configured) : null;
        }
        string[] dirs = (pathVariable ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        lookedAt = "lm_eval on PATH";
        string[] names = OperatingSystem.IsWindows() ? ["lm_eval.exe", "lm-eval.exe"] : ["lm_eval", "lm-eval"];
        foreach (string dir in dirs)
            foreach (string name in names)
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>The arguments for one cell: <c>local-completions</c> (or <c>local-chat-completions</c>) against the endpoint.</summary>
    public static List<string> Arguments(LmEvalSettings s, string model, string baseUrl, string outputPath)
    {
        string v1 = baseUrl.TrimEnd('/');
        var modelArgs = new List<string>
        {
            "model=" + model,
            "base_url=" + v1 + (s.Chat ? "/chat/completions" : "/completions"),
            "num_concurrent=" + s.Concurrency.ToString(CultureInfo.InvariantCulture),
            "max_retries=3",
        };
        if (s.Tokenizer is { } tokenizer) modelArgs.Add("tokenizer=" + tokenizer);
        // Chat endpoints need no tokenizer; naming none stops lm-eval from downloading one named after the model.
        if (s.TokenizerBackend is { } backend) modelArgs.Add("tokenizer_backend=" + backend);
        else if (s.Chat) modelArgs.Add("tokenizer_backend=None");
        if (s.TokenizedRequests is { } tokenized) modelArgs.Add("tokenized_requests=" + tokenized);
        if (s.ModelArgs is { } extra) modelArgs.Add(extra);

        var args = new List<string>
        {
            "--model", s.Chat ? "local-chat-completions" : "local-completions",
            "--model_args", string.Join(",", modelArgs),
            "--tasks", string.Join(",", s.Tasks),
            "--output_path", outputPath,
        };
        if (s.Limit is { } limit) args.AddRange(["--limit", limit]);
        if (s.NumFewshot is { } shots) args.AddRange(["--num_fewshot", shots.ToString(CultureInfo.InvariantCulture)]);
        if (s.GenKwargs is { } gen) args.AddRange(["--gen_kwargs", gen]);
        if (s.ApplyChatTemplate) args.Add("--apply_chat_template");
        if (s.FewshotAsMultiturn) args.Add("--fewshot_as_multiturn");
        if (s.SystemInstruction is { } system) args.AddRange(["--system_instruction", system]);
        if (s.LogSamples) args.Add("--log_samples");
        return args;
    }

    /// <summary>The first version-looking token of a <c>--version</c> or <c>importlib.metadata</c> answer.</summary>
    public static string? ParseVersion(string text) =>
        Regex.Match(text, @"\b(\d+\.\d+(?:\.\d+)*(?:[.-]?(?:dev|rc|a|b|post)\d*)?)\b") is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Problems lm-eval versions are known to have with OpenAI-compatible API models (lm-eval.md §2.7, §5).</summary>
    public static IReadOnlyList<string> KnownProblems(string version, bool chat)
    {
        int[] v = version.Split('.', '-').Select(p => int.TryParse(new string(p.TakeWhile(char.IsAsciiDigit).ToArray()), out int n) ? n : 0).ToArray();
        int Compare(params int[] other)
        {
            for (int i = 0; i < Math.Max(v.Length, other.Length); i++)
            {
                int a = i < v.Length ? v[i] : 0, b = i < other.Length ? other[i] : 0;
                if (a != b) return a.CompareTo(b);
            }
            return 0;
        }
        var problems = new List<string>();
        if (Compare(0, 4, 4) < 0)
            problems.Add("before 0.4.4, local-completions does not request prompt log-probabilities with echo (0.4.3 removed it, PR #1779), so loglikelihood and multiple_choice tasks score wrongly; use 0.4.4 or newer");
        if (chat && Compare(0, 4, 9) >= 0 && Compare(0, 4, 12) < 0)
            problems.Add("0.4.9 to 0.4.11 add \"type\": \"text\" to every chat message (PR #2981), which strict servers reject; fixed in 0.4.12 (#3745)");
        if (chat && Compare(0, 4, 3) >= 0 && Compare(0, 4, 10) < 0)
            problems.Add("0.4.3 to 0.4.9.x draw few-shot examples twice per document with --apply_chat_template, so chat prompts differ from 0.4.10 and newer");
        if (chat && Compare(0, 4, 9, 2) < 0)
            problems.Add("before 0.4.9.2 a null message content (reasoning models) aborts the run with an AssertionError (#3355)");
        if (Compare(0, 4, 12) <= 0)
            problems.Add("up to 0.4.12 synchronous requests (num_concurrent=1) have no timeout (PR #3995), so a stalled server hangs the run; the cell's Timeout still stops it");
        return problems;
    }
}
