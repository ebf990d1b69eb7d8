using System.Runtime.CompilerServices;
using Microsoft.Build.Locator;

namespace MlxBench.Tasks.Tests;

/// <summary>The path of the task assembly built beside these tests, stamped in at build time.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
internal sealed class TasksAssemblyAttribute(string path) : Attribute
{
    public string Path { get; } = path;
}

internal static class MSBuildHost
{
    /// <summary>Registers the installed .NET SDK's MSBuild before any Microsoft.Build type is loaded.</summary>
    [ModuleInitializer]
    internal static void Register()
    {
        if (MSBuildLocator.CanRegister) MSBuildLocator.RegisterDefaults();
    }

    public static string TasksAssembly { get; } =
        typeof(MSBuildHost).Assembly.GetCustomAttributes(typeof(TasksAssemblyAttribute), false).Cast<TasksAssemblyAttribute>().Single().Path;
}
