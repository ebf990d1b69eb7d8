using System.Text.Json;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Converters;

/// <summary>
/// For commands that already write a v1 envelope: it is kept as written (validation happens afterwards, like for
/// every converter); only the caller's extra tags are added to each result.
/// </summary>
public sealed class EnvelopePassthroughConverter : IResultConverter
{
    public string Kind => "envelope";

    public Envelope Convert(string rawText, ConverterContext context)
    {
        Envelope envelope;
        try
        {
            envelope = EnvelopeJson.Parse(rawText);
        }
        catch (JsonException e)
        {
            throw new ConversionException($"not a v1 envelope ({e.Message})");
        }
        foreach (BenchmarkResult result in envelope.Results)
            context.AddExtraTags(result);
        return envelope;
    }
}
