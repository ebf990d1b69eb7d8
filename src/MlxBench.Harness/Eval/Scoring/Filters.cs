using System.Text.RegularExpressions;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Tasks;

namespace MlxBench.Harness.Eval.Scoring;

/// <summary>
/// lm-eval's response filters for generation tasks. <c>regex</c> follows Python's <c>re.findall</c>: with no group it
/// yields whole matches, with one group that group's text, with several a tuple (of which the first non-empty is taken).
/// </summary>
public static class Filters
{
    /// <summary>Runs a pipeline over one request's responses (its repeats) and returns the filtered value.</summary>
    public static string Apply(FilterPipeline pipeline, IReadOnlyList<string> responses)
    {
        IReadOnlyList<string> values = responses;
        string? taken = null;
        foreach (FilterStep step in pipeline.Steps)
        {
            switch (step.Function)
            {
                case "regex":
                    var regex = new Regex(step.RegexPattern ?? "#### (\\-?[0-9\\.\\,]+)", RegexOptions.CultureInvariant);
                    values = values.Select(v => RegexExtract(regex, v, step.GroupSelect, step.Fallback)).ToList();
                    break;
                case "take_first":
                    taken = values.Count > 0 ? values[0] : "";
                    values = [taken];
                    break;
                case "remove_whitespace":
                    values = values.Select(v => v.TrimStart(' ')).ToList();
                    break;
                case "lowercase":
                    values = values.Select(v => v.ToLowerInvariant()).ToList();
                    break;
                case "uppercase":
                    values = values.Select(v => v.ToUpperInvariant()).ToList();
                    break;
                default:
                    throw new NotSupportedException($"filter function \"{step.Function}\" is not supported (supported: regex, take_first, remove_whitespace, lowercase, uppercase)");
            }
        }
        return taken ?? (values.Count > 0 ? values[0] : "");
    }

    /// <summary>One response through <c>RegexFilter</c>.</summary>
    public static string RegexExtract(Regex regex, string response, int groupSelect, string fallback)
    {
        MatchCollection matches = regex.Matches(response);
        if (matches.Count == 0) return fallback;
        int index = groupSelect < 0 ? matches.Count + groupSelect : groupSelect;
        if (index < 0 || index >= matches.Count) throw new IndexOutOfRangeException($"group_select {groupSelect} with {matches.Count} matches");
        Match match = matches[index];
        int groups = regex.GetGroupNumbers().Length - 1;
        string value;
        if (groups == 0) value = match.Value;
        else if (groups == 1) value = match.Groups[1].Value;
        else
        {
            string? first = Enumerable.Range(1, groups).Select(g => match.Groups[g].Value).FirstOrDefault(s => s.Length > 0);
            if (first is null) return fallback;
            value = first;
        }
        return PyStr.Strip(value);
    }
}

/// <summary>lm-eval's <c>exact_match</c> (its port of HF evaluate's): ignore regexes in order, then case, punctuation, digits.</summary>
public static class ExactMatch
{
    private const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    public static double Score(string prediction, string reference, ExactMatchOptions? options)
    {
        if (options is not null)
        {
            foreach (string pattern in options.RegexesToIgnore)
            {
                var regex = new Regex(pattern, RegexOptions.CultureInvariant);
                prediction = regex.Replace(prediction, "");
                reference = regex.Replace(reference, "");
            }
            if (options.IgnoreCase)
            {
                prediction = prediction.ToLowerInvariant();
                reference = reference.ToLowerInvariant();
            }
            if (options.IgnorePunctuation)
            {
                prediction = Remove(prediction, Punctuation);
                reference = Remove(reference, Punctuation);
            }
            if (options.IgnoreNumbers)
            {
                prediction = Remove(prediction, "0123456789");
                reference = Remove(reference, "0123456789");
            }
        }
        return string.Equals(prediction, reference, StringComparison.Ordinal) ? 1.0 : 0.0;
    }

    private static string Remove(string s, string characters) => string.Concat(s.Where(c => !characters.Contains(c)));
}
