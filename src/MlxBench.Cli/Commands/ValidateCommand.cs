using System.CommandLine;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;

namespace MlxBench.Cli.Commands;

/// <summary><c>mlxbench validate FILE...</c>: checks envelopes against schema.json, one line per error with its JSON path.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var files = new Argument<FileInfo[]>("files") { Description = "Envelope JSON files", Arity = ArgumentArity.OneOrMore };
        var command = new Command("validate", "Validate envelope files against the v1 schema.json") { files };
        command.SetAction(parse =>
        {
            int exit = ExitCodes.Ok;
            foreach (FileInfo file in parse.GetValue(files)!)
            {
                string text;
                try { text = File.ReadAllText(file.FullName); }
                catch (IOException e)
                {
                    Console.Error.WriteLine(BenchDiagnostic.Error("Validate.Unreadable", file.FullName, e.Message).Text);
                    exit = ExitCodes.BadInput;
                    continue;
                }
                IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(text);
                foreach (SchemaError error in errors)
                    Console.Error.WriteLine($"{file.FullName}: {BenchDiagnostic.Error("Validate.Invalid", error.Path, error.Message).Text}");
                if (errors.Count > 0 && exit == ExitCodes.Ok) exit = ExitCodes.Invalid;
                else if (errors.Count == 0) Console.WriteLine($"{file.FullName}: valid");
            }
            return exit;
        });
        return command;
    }
}
