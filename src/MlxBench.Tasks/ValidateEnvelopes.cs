using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using Microsoft.Build.Framework;

namespace MlxBench.Tasks;

/// <summary>Validates envelope files against schema.json, one coded error per violation with its JSON path.</summary>
public sealed class ValidateEnvelopes : Microsoft.Build.Utilities.Task
{
    [Required] public ITaskItem[] Envelopes { get; set; } = [];

    public override bool Execute()
    {
        foreach (ITaskItem envelope in Envelopes)
        {
            string path = envelope.GetMetadata("FullPath");
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (IOException e)
            {
                Log.Log(BenchDiagnostic.Error("Validate.Unreadable", path, e.Message).InFile(path));
                continue;
            }
            foreach (SchemaError error in SchemaValidator.Default.Validate(text))
                Log.Log(BenchDiagnostic.Error("Validate.Invalid", error.Path, error.Message).InFile(path));
        }
        return !Log.HasLoggedErrors;
    }
}
