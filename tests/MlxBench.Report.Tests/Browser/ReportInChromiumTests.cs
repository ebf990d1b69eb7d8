using System.Text.Json.Nodes;
using MlxBench.Testing;
using static MlxBench.Report.Tests.ReportDataset;

namespace MlxBench.Report.Tests.Browser;

/// <summary>
/// The page as a person sees it: headless Chromium opens the report of a dataset holding our shards (real fixtures
/// through our converters and FolderSink) and upstream-written ones, the test switches filters, reads what is on
/// screen (visible bars, trend points, table rows, with their values) and saves screenshots under the test results.
/// </summary>
[TestClass]
public sealed class ReportInChromiumTests
{
    public TestContext TestContext { get; set; } = null!;

    // What is visible right now: the filters, the visible panels, and the marks in them that have a size on screen.
    private const string ScreenState = """
        (() => {
          const visible = [...document.querySelectorAll('.panel')].filter(p => !p.hidden && p.getBoundingClientRect().height > 0);
          const sized = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
          const marks = (panels, selector) => panels.flatMap(p => [...p.querySelectorAll(selector)].filter(sized)
            .map(e => ({ series: e.dataset.series, value: +e.dataset.value, group: e.dataset.group || '', x: e.dataset.x ? +e.dataset.x : 0,
                         chart: e.closest('figure') ? e.closest('figure').dataset.chart : '' })));
          const kind = k => visible.filter(p => p.dataset.kind === k);
          return {
            suite: document.getElementById('filter-suite').value,
            task: document.getElementById('filter-task').value,
            metric: document.getElementById('filter-metric').value,
            tasks: [...document.getElementById('filter-task').options].map(o => o.value),
            kinds: visible.map(p => p.dataset.kind),
            bars: marks(kind('latest'), 'rect.bar'),
            points: marks(kind('trend'), 'circle.point'),
            rows: kind('table').flatMap(p => [...p.querySelectorAll('tbody tr')].filter(sized).map(r => r.dataset.model)),
            latency: marks(kind('latency'), 'rect.bar'),
            throughput: marks(kind('throughput'), 'circle.point'),
            empty: !document.getElementById('empty').hidden,
          };
        })()
        """;

    [TestMethod]
    [Timeout(180_000)]
    public async Task TheReport_RendersInChromium_AndItsFiltersChangeWhatIsOnScreen()
    {
        string chromium = Environment.GetEnvironmentVariable("MLXBENCH_CHROMIUM") ?? HeadlessChromium.DefaultPath;
        if (!File.Exists(chromium))
        {
            string message = $"{chromium} is missing: eng/setup.sh installs Debian's chromium package.";
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(message);
            Assert.Inconclusive(message);
        }
        using var work = new TempDirectory("report-browser");
        await WriteAsync(work.Combine("dataset"));
        string page = work.Combine("report.html");
        await ReportGenerator.GenerateAsync(work.Combine("dataset"), page, CancellationToken.None);

        await using HeadlessChromium browser = await HeadlessChromium.LaunchAsync(chromium, 1400, 1000, TimeSpan.FromSeconds(60));
        await browser.NavigateAsync(new Uri(page).AbsoluteUri);
        Assert.AreEqual(true, (bool?)await browser.EvaluateAsync("document.documentElement.dataset.ready === 'true'"), "the filter script ran");

        // Opens on the viewer's default: reasoning / gsm8k_cot_zeroshot / exact_match_flexible.
        JsonNode screen = await StateAsync(browser);
        Assert.AreEqual("reasoning/gsm8k_cot_zeroshot/exact_match_flexible", $"{screen["suite"]}/{screen["task"]}/{screen["metric"]}");
        CollectionAssert.AreEqual(new[] { "gsm8k", "gsm8k_cot_zeroshot" }, Strings(screen["tasks"]), "tasks narrowed to the suite");
        CollectionAssert.AreEqual(new[] { "latest", "trend", "table" }, Strings(screen["kinds"]));
        CollectionAssert.AreEqual(new[] { "Qwen3.6-8B-4bit=0.85", "Qwen3.5-9B-MLX-4bit=0.7" }, Marks(screen["bars"]), "one bar per model, latest run, largest first");
        CollectionAssert.AreEqual(new[] { "Qwen3.5-9B-MLX-4bit=0.6", "Qwen3.5-9B-MLX-4bit=0.65", "Qwen3.5-9B-MLX-4bit=0.7", "Qwen3.6-8B-4bit=0.85" },
            Marks(screen["points"]), "trend: three runs of Qwen3.5 (two upstream shards, one ours), one of Qwen3.6 (legacy metric_* columns)");
        CollectionAssert.AreEqual(new[] { "Qwen3.5-9B-MLX-4bit", "Qwen3.6-8B-4bit", "ggml-org/stories260K" }, Strings(screen["rows"]));
        await SaveScreenshotAsync(browser, "report-default.png");

        // Task filter: gsm8k (our lm-eval 0.4.9.1 fixture).
        await SelectAsync(browser, "filter-task", "gsm8k");
        screen = await StateAsync(browser);
        CollectionAssert.AreEqual(new[] { "ggml-org/stories260K=0.78" }, Marks(screen["bars"]));
        CollectionAssert.AreEqual(new[] { "ggml-org/stories260K=0.78" }, Marks(screen["points"]));
        Assert.AreEqual(3, screen["rows"]!.AsArray().Count, "the summary table is per suite and metric");

        // Metric filter: strict match.
        await SelectAsync(browser, "filter-metric", "exact_match_strict");
        screen = await StateAsync(browser);
        CollectionAssert.AreEqual(new[] { "ggml-org/stories260K=0.75" }, Marks(screen["bars"]));
        CollectionAssert.AreEqual(new[] { "Qwen3.5-9B-MLX-4bit", "ggml-org/stories260K" }, Strings(screen["rows"]));

        // Suite filter: the serving suite shows latency percentiles and throughput against concurrency.
        await SelectAsync(browser, "filter-suite", "throughput");
        screen = await StateAsync(browser);
        Assert.AreEqual("benchmark_serving/throughput_output_toks_per_s", $"{screen["task"]}/{screen["metric"]}", "a serving suite opens on its headline metric");
        CollectionAssert.AreEqual(new[] { "Qwen3.6-8B-4bit @ 16=260", "Qwen3.6-8B-4bit @ 4=120", "facebook/opt-125m @ 2=82.89297074037474", "Qwen3.6-8B-4bit @ 1=40" },
            Marks(screen["bars"]), "a sweep gets one bar per concurrency level");
        CollectionAssert.IsSubsetOf(new[] { "latency", "throughput" }, Strings(screen["kinds"]));
        string[] output = screen["throughput"]!.AsArray().Where(m => (string?)m!["chart"] == "throughput_output_toks_per_s")
            .Select(m => $"{m!["series"]}@{(double)m["x"]!}").ToArray();
        CollectionAssert.AreEqual(new[] { "Qwen3.6-8B-4bit@1", "Qwen3.6-8B-4bit@4", "Qwen3.6-8B-4bit@16", "facebook/opt-125m@2" }, output);
        string[] ttft = screen["latency"]!.AsArray().Where(m => (string?)m!["chart"] == "TTFT").Select(m => $"{m!["series"]} {m["group"]}").ToArray();
        Assert.AreEqual(9, ttft.Length, string.Join(", ", ttft));
        CollectionAssert.Contains(ttft, "facebook/opt-125m @ 2 p99");
        CollectionAssert.Contains(ttft, "Qwen3.6-8B-4bit @ 16 p50");
        await SaveScreenshotAsync(browser, "report-throughput.png");

        // Back to the default view for the screenshot people look at first, and no network at any point.
        await SelectAsync(browser, "filter-suite", "reasoning");
        await SelectAsync(browser, "filter-task", "gsm8k_cot_zeroshot");
        await SelectAsync(browser, "filter-metric", "exact_match_flexible");
        Assert.AreEqual(2, (await StateAsync(browser))["bars"]!.AsArray().Count);
        CollectionAssert.AreEqual(Array.Empty<string>(), browser.Requests.Where(u => !u.StartsWith("file:", StringComparison.Ordinal) && !u.StartsWith("data:", StringComparison.Ordinal)).ToArray(),
            "the page loads nothing from the network");
    }

    private static async Task<JsonNode> StateAsync(HeadlessChromium browser) => (await browser.EvaluateAsync(ScreenState))!;

    /// <summary>Picks an option and fires <c>change</c>, as a user's pick does (what Playwright's selectOption does).</summary>
    private static async Task SelectAsync(HeadlessChromium browser, string id, string value)
    {
        JsonNode? picked = await browser.EvaluateAsync($$"""
            (() => { const s = document.getElementById('{{id}}');
                     if (![...s.options].some(o => o.value === '{{value}}')) return false;
                     s.focus(); s.value = '{{value}}'; s.dispatchEvent(new Event('input', { bubbles: true }));
                     s.dispatchEvent(new Event('change', { bubbles: true })); return true; })()
            """);
        Assert.AreEqual(true, (bool?)picked, $"{id} has no option {value}");
    }

    private async Task SaveScreenshotAsync(HeadlessChromium browser, string name)
    {
        string directory = TestContext.TestResultsDirectory ?? Path.Combine(SharedData.RepoRoot, "artifacts", "test-results");
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, name);
        byte[] png = await browser.ScreenshotAsync();
        CollectionAssert.AreEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4], "a PNG");
        await File.WriteAllBytesAsync(path, png);
        TestContext.AddResultFile(path);
        TestContext.WriteLine($"screenshot: {path}");
        // Also where eng/test.sh keeps its logs, so CI artifacts and people find it at a fixed place.
        string logs = Path.Combine(SharedData.RepoRoot, "artifacts", "test-logs");
        Directory.CreateDirectory(logs);
        File.Copy(path, Path.Combine(logs, name), overwrite: true);
    }

    private static string[] Strings(JsonNode? array) => array!.AsArray().Select(v => (string)v!).ToArray();

    private static string[] Marks(JsonNode? array) =>
        array!.AsArray().Select(m => $"{m!["series"]}={((double)m["value"]!).ToString(System.Globalization.CultureInfo.InvariantCulture)}").ToArray();
}
