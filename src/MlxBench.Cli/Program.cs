using System.CommandLine;
using MlxBench.Cli.Commands;

namespace MlxBench.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => Build().Parse(args).InvokeAsync();

    /// <summary>The command tree; each command lives in its own file under <c>Commands/</c>.</summary>
    internal static RootCommand Build() => new("mlxbench: run, validate, convert and publish LLM benchmark results")
    {
        ValidateCommand.Create(),
        RunCellCommand.Create(),
        ReportCommand.Create(),
        BenchServeCommand.Create(),
        EvalCommand.Create(),
    };
}
