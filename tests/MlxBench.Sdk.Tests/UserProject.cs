using System.Text.Json;
using MlxBench.Testing;

namespace MlxBench.Sdk.Tests;

/// <summary>
/// A folder outside the repository holding a user's benchmark project: <c>global.json</c> naming MlxBench.Sdk's
/// version, a <c>NuGet.config</c> with the local feed, and a <c>.benchproj</c>. Built with <c>dotnet build</c>.
/// </summary>
internal sealed class UserProject : IDisposable
{
    private readonly TempDirectory _directory = new("mlxb-user");

    public UserProject(string items, string properties = "")
    {
        _directory.Write("global.json", $$"""
            { "sdk": { "version": "10.0.401", "rollForward": "latestFeature" }, "msbuild-sdks": { "MlxBench.Sdk": "{{PackedSdk.Version}}" } }
            """);
        _directory.Write("NuGet.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{PackedSdk.PackagesFolder}" /></config>
              <packageSources><clear /><add key="local" value="{PackedSdk.Feed}" /></packageSources>
            </configuration>
            """);
        Write(items, properties);
    }

    public string Directory => _directory.Path;

    public string ProjectPath => _directory.Combine("models.benchproj");

    public void Write(string items, string properties = "") => _directory.Write("models.benchproj", $"""
        <Project Sdk="MlxBench.Sdk">
          <PropertyGroup>
            {properties}
          </PropertyGroup>
          <ItemGroup>
            {items}
          </ItemGroup>
        </Project>
        """);

    /// <summary><c>dotnet build -t:targets</c>; with <paramref name="resultOf"/>, also <c>-getTargetResult</c> for it.</summary>
    public BuildRun Build(string targets, string? resultOf = null, params string[] extra)
    {
        var arguments = new List<string> { "build", ProjectPath, $"-t:{targets}", "-nr:false" };
        if (resultOf is not null) arguments.Add($"-getTargetResult:{resultOf}");
        arguments.AddRange(extra);
        DotnetResult result = Dotnet.Run(Directory, arguments, TimeSpan.FromMinutes(5));
        return new BuildRun(result.ExitCode, result.Output, resultOf);
    }

    public void Dispose() => _directory.Dispose();
}

/// <summary>A finished <c>dotnet build</c>: exit code, console output, and the target result items when asked for.</summary>
internal sealed class BuildRun(int exitCode, string output, string? resultOf)
{
    public int ExitCode => exitCode;
    public string Output => output;
    public bool Succeeded => exitCode == 0;

    /// <summary>The items the target returned, each as its metadata (Identity included), from -getTargetResult's JSON.</summary>
    public IReadOnlyList<Dictionary<string, string>> Items
    {
        get
        {
            int start = output.IndexOf('{');
            Assert.IsTrue(start >= 0, "no JSON in the output of -getTargetResult:\n" + output);
            using JsonDocument json = JsonDocument.Parse(output[start..]);
            JsonElement target = json.RootElement.GetProperty("TargetResults").GetProperty(resultOf!);
            return target.GetProperty("Items").EnumerateArray()
                .Select(item => item.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""))
                .ToList();
        }
    }

    public string[] States => Items.Select(i => $"{i["Suite"]}/{i["Model"]}={i["State"]}").Order().ToArray();
}
