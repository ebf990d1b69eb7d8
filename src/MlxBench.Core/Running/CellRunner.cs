using System.Diagnostics;
using MlxBench.Core.Cells;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Running;

/// <summary>
/// Runs one cell end to end: clear its old envelope, run the harness, convert, add MlxBench's tags, validate, and only
/// then write the envelope. A failure or a cancel therefore leaves no envelope, and the cell runs again next time.
/// </summary>
public sealed class CellRunner(RunSettings settings, IReadOnlyDictionary<string, ICellHarness> harnesses, SchemaValidator validator)
{
    public async Task<CellOutcome> RunAsync(BenchCell cell, CellPaths paths, IBenchProgress progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string startedAt = Timestamps.Format(settings.Clock.GetUtcNow());
        try
        {
            PrepareDirectory(cell, paths);
            var context = new HarnessContext(settings.ProjectDirectory, paths, line => progress.CellOutput(cell, line));
            if (!harnesses.TryGetValue(cell.Suite.Harness, out ICellHarness? harness))
                throw new BenchException(BenchDiagnostic.Error("Cell.HarnessUnavailable", cell.Id, cell.Suite.Harness));
            HarnessOutput output = await harness.RunAsync(cell, context, cancellationToken);
            Envelope envelope = Convert(cell, output, startedAt, progress);
            IReadOnlyList<SchemaError> errors = validator.Validate(envelope);
            if (errors.Count > 0)
                throw new BenchException(BenchDiagnostic.Error("Cell.InvalidEnvelope", cell.Id, errors.Count, string.Join("; ", errors), output.RawResultPath));
            cancellationToken.ThrowIfCancellationRequested();
            EnvelopeJson.WriteAtomically(envelope, paths.Envelope);
            return new CellOutcome(cell, CellState.Ran, paths.Envelope, clock.Elapsed);
        }
        catch (BenchException e)
        {
            return new CellOutcome(cell, CellState.Failed, paths.Envelope, clock.Elapsed, e.Diagnostic);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new CellOutcome(cell, CellState.Failed, paths.Envelope, clock.Elapsed, BenchDiagnostic.Error("Cell.IoFailed", cell.Id, paths.Directory, e.Message));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new CellOutcome(cell, CellState.Failed, paths.Envelope, clock.Elapsed, BenchDiagnostic.Error("Cell.Cancelled", cell.Id));
        }
    }

    private static void PrepareDirectory(BenchCell cell, CellPaths paths)
    {
        Directory.CreateDirectory(paths.Directory);
        File.Delete(paths.Envelope);
        if (Directory.Exists(paths.RawDirectory)) Directory.Delete(paths.RawDirectory, recursive: true);
        Directory.CreateDirectory(paths.RawDirectory);
        AtomicFile.WriteAllText(paths.CellDocument, BenchCellJson.Serialize(cell));
    }

    private Envelope Convert(BenchCell cell, HarnessOutput output, string startedAt, IBenchProgress progress)
    {
        if (!ResultConverters.TryGet(output.Converter, out IResultConverter converter))
            throw new BenchException(BenchDiagnostic.Error("Cell.ConvertFailed", cell.Id, output.Converter, output.RawResultPath,
                $"there is no converter of that kind (known: {string.Join(", ", ResultConverters.Kinds)})"));
        var context = new ConverterContext
        {
            Suite = cell.Suite.Category,
            Model = cell.Model.Id,
            GitSha = settings.GitSha,
            Trigger = settings.Trigger,
            PrNumber = settings.PrNumber,
            TimestampOverride = startedAt,
            System = settings.System,
            ExtraTags = CellTags(cell),
            Clock = settings.Clock,
        };
        Envelope envelope;
        try
        {
            envelope = converter.Convert(File.ReadAllText(output.RawResultPath), context);
        }
        catch (ConversionException e)
        {
            throw new BenchException(BenchDiagnostic.Error("Cell.ConvertFailed", cell.Id, converter.Kind, output.RawResultPath, e.Message));
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            // A converter tripping over input it did not foresee fails this cell, never the whole Bench run.
            throw new BenchException(BenchDiagnostic.Error("Cell.ConvertFailed", cell.Id, converter.Kind, output.RawResultPath, $"{e.GetType().Name}: {e.Message}"));
        }
        envelope.ModelRevision ??= cell.Model.Revision ?? cell.Model.SnapshotCommit;
        envelope.Quantization ??= cell.Model.Quantization
            ?? (ModelFolderOf(cell.Model) is { } folder ? Models.ModelFolder.Quantization(folder) : null);
        if (envelope.Results.Count == 0)
            progress.Report(BenchDiagnostic.Warning("Cell.NoResults", cell.Id, converter.Kind, output.RawResultPath));
        return envelope;
    }

    /// <summary>The model's folder: its File when that is one, else its whole repository's snapshot when it has no File.</summary>
    private string? ModelFolderOf(ModelSpec model) => model.File is { } file
        ? Directory.Exists(file) ? file : null
        : settings.HfCache.FindCachedSnapshot(model.Id, model.SnapshotCommit ?? model.Revision);

    /// <summary>Metadata without a v1 field travels as result tags (strings), so it reaches the dataset's columns.</summary>
    private List<KeyValuePair<string, string>> CellTags(BenchCell cell)
    {
        var tags = new List<KeyValuePair<string, string>>
        {
            new("bench_suite", cell.Suite.Name),
            new("bench_model", cell.Model.Name),
            new("harness", cell.Suite.Harness),
            new("fingerprint", cell.Fingerprint[..16]),
        };
        tags.AddRange(settings.Tags);
        return tags;
    }
}
