using System.CommandLine;
using MlxBench.Server.Scheduling;

namespace MlxBench.Server;

/// <summary>
/// <c>MlxBench.Server --model model.gguf [--host 127.0.0.1] [--port 8080] ...</c>: an OpenAI-compatible server over the
/// native engine. Binds to loopback unless told otherwise; an API key comes from <c>--api-key</c> or, better (it is
/// then not visible in the process list), the <c>MLXBENCH_API_KEY</c> environment variable.
/// </summary>
public static class Program
{
    public const string ApiKeyVariable = "MLXBENCH_API_KEY";

    public static int Main(string[] args)
    {
        var model = new Option<FileInfo>("--model", "-m") { Description = "The GGUF model file", Required = true };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 8080 };
        var name = new Option<string?>("--served-model-name") { Description = "The model id clients send (default: the file name)" };
        var engine = new Option<FileInfo?>("--engine-library") { Description = "Path of libmlxbench (default: $MLXBENCH_ENGINE_LIBRARY, then normal probing)" };
        var ctx = new Option<int>("--ctx-size", "-c") { Description = "Positions per sequence (0: min(training context, 4096))" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "Sequences decoded together (KV cache slots)", DefaultValueFactory = _ => 4 };
        var batch = new Option<int>("--batch-size", "-b") { Description = "Most tokens per decode step", DefaultValueFactory = _ => 512 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0: all hardware threads)" };
        var apiKey = new Option<string?>("--api-key") { Description = $"Require this bearer key (prefer ${ApiKeyVariable})" };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process is gone" };

        var root = new RootCommand("MlxBench.Server: an OpenAI-compatible server over MlxBench's native engine")
        {
            model, host, port, name, engine, ctx, parallel, batch, threads, apiKey, parent,
        };
        root.SetAction(parse =>
        {
            string hostName = parse.GetValue(host)!;
            if (hostName != "localhost" && !System.Net.IPAddress.TryParse(hostName, out _))
            {
                Console.Error.WriteLine($"--host {hostName}: give an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost.");
                return 2;
            }
            FileInfo modelFile = parse.GetValue(model)!;
            if (!modelFile.Exists && !Directory.Exists(modelFile.FullName))  // a GGUF file or an MLX model folder
            {
                Console.Error.WriteLine($"--model {modelFile.FullName}: no such file or MLX model folder.");
                return 2;
            }
            var options = new ServerOptions
            {
                ModelPath = modelFile.FullName,
                ServedModelName = parse.GetValue(name),
                Host = hostName,
                Port = parse.GetValue(port),
                EngineLibrary = parse.GetValue(engine)?.FullName,
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable),
                ParentProcessId = parse.GetValue(parent),
                Scheduler = new SchedulerOptions
                {
                    ContextSize = parse.GetValue(ctx),
                    Parallel = parse.GetValue(parallel),
                    BatchSize = parse.GetValue(batch),
                    Threads = parse.GetValue(threads),
                },
            };
            WebApplication app = ServerApp.Build(options);
            app.Run();
            return Environment.ExitCode;
        });
        return root.Parse(args).Invoke();
    }
}
