using System.Reflection;
using System.Runtime.InteropServices;

namespace MlxBench.Server.Engine;

/// <summary>
/// Points the <c>mlxbench</c> imports at one library file. The SDK builds the engine with CMake and passes its path
/// (<c>--engine-library</c>, or <c>MLXBENCH_ENGINE_LIBRARY</c>); without one the runtime's normal probing applies
/// (the app folder, then the system's library path).
/// </summary>
internal static class EngineLibrary
{
    public const string EnvironmentVariable = "MLXBENCH_ENGINE_LIBRARY";

    private static readonly Lock s_gate = new();
    private static string? s_path;
    private static bool s_installed;

    /// <summary>The explicit path in use, if any.</summary>
    public static string? Path => s_path;

    /// <summary>Uses <paramref name="path"/> (or the environment variable when null) for every later import.
    /// A process can bind to one engine only: a second, different path is an error.</summary>
    public static void Configure(string? path)
    {
        path ??= Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
        lock (s_gate)
        {
            if (path is not null)
            {
                path = System.IO.Path.GetFullPath(path);
                if (!File.Exists(path))
                    throw new FileNotFoundException($"the engine library {path} does not exist (build native/ with CMake, or fix --engine-library)", path);
                if (s_path is not null && s_path != path)
                    throw new InvalidOperationException($"this process already uses the engine library {s_path}; it cannot switch to {path}");
                s_path = path;
            }
            if (s_installed) return;
            NativeLibrary.SetDllImportResolver(typeof(EngineLibrary).Assembly, Resolve);
            s_installed = true;
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == NativeMethods.Library && s_path is { } path ? NativeLibrary.Load(path) : 0;

    /// <summary>Loads the library now and checks its API version, so a wrong file fails at startup with a clear message.</summary>
    public static string Verify()
    {
        int version;
        try
        {
            version = NativeMethods.ApiVersionOf();
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException($"the native engine (lib{NativeMethods.Library}) could not be loaded: {e.Message}. Pass --engine-library <path> or set {EnvironmentVariable}.", e);
        }
        if (version != NativeMethods.ApiVersion)
            throw new InvalidOperationException($"the native engine {s_path ?? NativeMethods.Library} has API version {version}; this server needs {NativeMethods.ApiVersion}.");
        return Marshal.PtrToStringUTF8(NativeMethods.SystemInfo()) ?? "";
    }
}
