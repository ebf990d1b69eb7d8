using System.Globalization;
using System.Net;
using System.Text;

namespace MlxBench.Report;

/// <summary>
/// Charts as inline SVG, drawn here so the page needs no script library and no network. Every mark carries
/// <c>data-*</c> attributes (series, value) so tests and curious readers can find what is drawn.
/// </summary>
internal static class SvgCharts
{
    private static readonly CultureInfo s_invariant = CultureInfo.InvariantCulture;

    /// <summary>Tableau 10: distinguishable series colours.</summary>
    private static readonly string[] s_palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    private const int Width = 760;

    public static string Color(int index) => s_palette[index % s_palette.Length];

    /// <summary>Horizontal bars sorted by value (the viewer's "latest run" chart): Blues, 3-decimal labels, x from 0 to
    /// max(1, 1.15 x the largest value) for ratios and 1.15 x the largest otherwise.</summary>
    public static string HorizontalBars(IReadOnlyList<ReportValue> bars, string unit)
    {
        const int barHeight = 26, gap = 8, left = 230, right = 70, top = 10;
        int height = top + bars.Count * (barHeight + gap) + 30;
        double max = bars.Count == 0 ? 1 : bars.Max(b => b.Value);
        double axisMax = unit is "ratio" or "bool" ? Math.Max(1, 1.15 * max) : Math.Max(1e-9, 1.15 * max);
        double scale = (Width - left - right) / axisMax;
        var svg = Open(height, "bar-chart");
        for (int i = 0; i < bars.Count; i++)
        {
            ReportValue bar = bars[i];
            double y = top + i * (barHeight + gap);
            double w = Math.Max(0, bar.Value) * scale;
            // Darker blue for larger values, as the viewer's Blues continuous scale.
            string fill = Blue(max <= 0 ? 1 : bar.Value / max);
            svg.Append(Format($"<text class=\"label\" x=\"{left - 8}\" y=\"{y + barHeight * 0.68}\" text-anchor=\"end\">{Escape(Shorten(bar.Series, 34))}</text>"));
            svg.Append(Format($"<rect class=\"bar\" data-series=\"{Escape(bar.Series)}\" data-value=\"{Exact(bar.Value)}\" x=\"{left}\" y=\"{y}\" width=\"{w:0.##}\" height=\"{barHeight}\" fill=\"{fill}\"><title>{Escape(bar.Series)}: {Num(bar.Value)} {Escape(bar.Unit)} ({bar.Timestamp:yyyy-MM-dd HH:mm} UTC)</title></rect>"));
            svg.Append(Format($"<text class=\"value\" x=\"{left + w + 6:0.##}\" y=\"{y + barHeight * 0.68}\">{bar.Value.ToString("0.000", s_invariant)}</text>"));
        }
        double axisY = top + bars.Count * (barHeight + gap) + 4;
        svg.Append(Format($"<line class=\"axis\" x1=\"{left}\" y1=\"{axisY}\" x2=\"{Width - right}\" y2=\"{axisY}\"/>"));
        foreach (double tick in Ticks(0, axisMax, 5))
            svg.Append(Format($"<text class=\"tick\" x=\"{left + tick * scale:0.##}\" y=\"{axisY + 16}\" text-anchor=\"middle\">{Tick(tick)}</text>"));
        return svg.Append("</svg>").ToString();
    }

    /// <summary>Lines with markers per series; x is time (UTC) or a number (log2 when it spans 8x or more, as
    /// concurrency sweeps 1, 2, 4, ... do).</summary>
    public static string Lines(IReadOnlyList<XySeries> series, bool xIsTime, string xLabel, string yLabel)
    {
        const int height = 330, left = 70, right = 44, top = 16, bottom = 80;
        var all = series.SelectMany(s => s.Points).ToList();
        var svg = Open(height, "line-chart");
        if (all.Count == 0) return svg.Append("</svg>").ToString();
        double xMin = all.Min(p => p.X), xMax = all.Max(p => p.X);
        bool log = !xIsTime && xMin > 0 && xMax / xMin >= 8;
        Func<double, double> fx = log ? Math.Log2 : x => x;
        double x0 = fx(xMin), x1 = fx(xMax);
        if (x1 - x0 < 1e-9) { x0 -= 1; x1 += 1; }
        double yMax = all.Max(p => p.Y), yMin = Math.Min(0, all.Min(p => p.Y));
        if (yMax - yMin < 1e-12) yMax = yMin + 1;
        yMax *= 1.1;
        double plotW = Width - left - right, plotH = height - top - bottom;
        double X(double x) => left + (fx(x) - x0) / (x1 - x0) * plotW;
        double Y(double y) => top + plotH - (y - yMin) / (yMax - yMin) * plotH;

        foreach (double tick in Ticks(yMin, yMax, 5))
        {
            svg.Append(Format($"<line class=\"grid\" x1=\"{left}\" y1=\"{Y(tick):0.##}\" x2=\"{Width - right}\" y2=\"{Y(tick):0.##}\"/>"));
            svg.Append(Format($"<text class=\"tick\" x=\"{left - 6}\" y=\"{Y(tick) + 4:0.##}\" text-anchor=\"end\">{Tick(tick)}</text>"));
        }
        IEnumerable<double> xTicks = xIsTime ? all.Select(p => p.X).Distinct().Order().ToList() : all.Select(p => p.X).Distinct().Order();
        var shown = xTicks.ToList();
        if (shown.Count > 8) shown = Enumerable.Range(0, 8).Select(i => shown[i * (shown.Count - 1) / 7]).Distinct().ToList();
        foreach (double tick in shown)
        {
            string text = xIsTime ? DateTimeOffset.FromUnixTimeMilliseconds((long)tick).ToString("yyyy-MM-dd", s_invariant) : Tick(tick);
            // Labels at the plot's edges are anchored inward so they are not cut off.
            string anchor = !xIsTime || shown.Count == 1 ? "middle" : tick == shown[0] ? "start" : tick == shown[^1] ? "end" : "middle";
            svg.Append(Format($"<text class=\"tick\" x=\"{X(tick):0.##}\" y=\"{top + plotH + 16}\" text-anchor=\"{anchor}\">{text}</text>"));
        }
        svg.Append(Format($"<line class=\"axis\" x1=\"{left}\" y1=\"{top + plotH}\" x2=\"{Width - right}\" y2=\"{top + plotH}\"/>"));
        svg.Append(Format($"<text class=\"axis-label\" x=\"{left + plotW / 2:0.##}\" y=\"{top + plotH + 34}\" text-anchor=\"middle\">{Escape(xLabel)}{(log ? " (log scale)" : "")}</text>"));
        svg.Append(Format($"<text class=\"axis-label\" transform=\"rotate(-90)\" x=\"{-(top + plotH / 2):0.##}\" y=\"16\" text-anchor=\"middle\">{Escape(yLabel)}</text>"));

        for (int s = 0; s < series.Count; s++)
        {
            string color = Color(s);
            var points = series[s].Points;
            string path = string.Join(" ", points.Select(p => Format($"{X(p.X):0.##},{Y(p.Y):0.##}")));
            svg.Append(Format($"<polyline class=\"series\" data-series=\"{Escape(series[s].Series)}\" points=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>"));
            foreach (XyPoint p in points)
            {
                string at = xIsTime ? DateTimeOffset.FromUnixTimeMilliseconds((long)p.X).ToString("yyyy-MM-dd HH:mm", s_invariant) + " UTC" : Num(p.X);
                svg.Append(Format($"<circle class=\"point\" data-series=\"{Escape(series[s].Series)}\" data-x=\"{Exact(p.X)}\" data-value=\"{Exact(p.Y)}\" cx=\"{X(p.X):0.##}\" cy=\"{Y(p.Y):0.##}\" r=\"4.5\" fill=\"{color}\"><title>{Escape(series[s].Series)}: {Num(p.Y)} at {at}</title></circle>"));
            }
        }
        Legend(svg, series.Select(s => s.Series).ToList(), top + plotH + 56);
        return svg.Append("</svg>").ToString();
    }

    /// <summary>Vertical bars grouped by category (p50, p90, p99), one bar per series in each group.</summary>
    public static string GroupedBars(IReadOnlyList<string> groups, IReadOnlyList<string> series, double?[,] values, string yLabel)
    {
        const int height = 300, left = 70, right = 20, top = 16, bottom = 70;
        double max = 0;
        foreach (double? v in values) if (v is { } x && x > max) max = x;
        double yMax = max <= 0 ? 1 : max * 1.12;
        double plotW = Width - left - right, plotH = height - top - bottom;
        double groupW = plotW / Math.Max(1, groups.Count);
        double barW = Math.Min(40, (groupW - 16) / Math.Max(1, series.Count));
        var svg = Open(height, "grouped-bar-chart");
        foreach (double tick in Ticks(0, yMax, 5))
        {
            double y = top + plotH - tick / yMax * plotH;
            svg.Append(Format($"<line class=\"grid\" x1=\"{left}\" y1=\"{y:0.##}\" x2=\"{Width - right}\" y2=\"{y:0.##}\"/>"));
            svg.Append(Format($"<text class=\"tick\" x=\"{left - 6}\" y=\"{y + 4:0.##}\" text-anchor=\"end\">{Tick(tick)}</text>"));
        }
        for (int g = 0; g < groups.Count; g++)
        {
            double gx = left + g * groupW + (groupW - barW * series.Count) / 2;
            for (int s = 0; s < series.Count; s++)
            {
                if (values[s, g] is not { } v) continue;
                double h = v / yMax * plotH;
                svg.Append(Format($"<rect class=\"bar\" data-series=\"{Escape(series[s])}\" data-group=\"{Escape(groups[g])}\" data-value=\"{Exact(v)}\" x=\"{gx + s * barW:0.##}\" y=\"{top + plotH - h:0.##}\" width=\"{barW - 2:0.##}\" height=\"{h:0.##}\" fill=\"{Color(s)}\"><title>{Escape(series[s])} {Escape(groups[g])}: {Num(v)}</title></rect>"));
            }
            svg.Append(Format($"<text class=\"tick\" x=\"{left + g * groupW + groupW / 2:0.##}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\">{Escape(groups[g])}</text>"));
        }
        svg.Append(Format($"<line class=\"axis\" x1=\"{left}\" y1=\"{top + plotH}\" x2=\"{Width - right}\" y2=\"{top + plotH}\"/>"));
        svg.Append(Format($"<text class=\"axis-label\" transform=\"rotate(-90)\" x=\"{-(top + plotH / 2):0.##}\" y=\"16\" text-anchor=\"middle\">{Escape(yLabel)}</text>"));
        Legend(svg, series, top + plotH + 34);
        return svg.Append("</svg>").ToString();
    }

    private static void Legend(StringBuilder svg, IReadOnlyList<string> names, double y)
    {
        double x = 70;
        for (int i = 0; i < names.Count; i++)
        {
            string name = Shorten(names[i], 36);
            double w = 26 + name.Length * 6.6;
            if (x + w > Width - 10) { x = 70; y += 18; }
            svg.Append(Format($"<rect class=\"legend-key\" x=\"{x:0.##}\" y=\"{y - 9:0.##}\" width=\"12\" height=\"12\" fill=\"{Color(i)}\"/>"));
            svg.Append(Format($"<text class=\"legend\" x=\"{x + 16:0.##}\" y=\"{y + 1:0.##}\">{Escape(name)}</text>"));
            x += w;
        }
    }

    private static StringBuilder Open(int height, string kind) =>
        new StringBuilder().Append(Format($"<svg class=\"{kind}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {height}\" width=\"{Width}\" height=\"{height}\" role=\"img\">"));

    /// <summary>About <paramref name="count"/> round ticks (1, 2, 5 x 10^n steps) from <paramref name="min"/> to <paramref name="max"/>.</summary>
    internal static IEnumerable<double> Ticks(double min, double max, int count)
    {
        double span = max - min;
        if (span <= 0) yield break;
        double raw = span / count, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 5, 10 }.Select(m => m * magnitude).First(s => s >= raw);
        for (double t = Math.Ceiling(min / step) * step; t <= max + step * 1e-9; t += step)
            yield return Math.Abs(t) < step * 1e-9 ? 0 : t;
    }

    private static string Blue(double t)
    {
        t = Math.Clamp(t, 0, 1);
        // From #9ecae1 (light) to #08519c (dark).
        int r = (int)(0x9e + (0x08 - 0x9e) * t), g = (int)(0xca + (0x51 - 0xca) * t), b = (int)(0xe1 + (0x9c - 0xe1) * t);
        return $"#{r:x2}{g:x2}{b:x2}";
    }

    private static string Tick(double v) => Math.Abs(v) >= 1000 ? v.ToString("#,0", s_invariant) : v.ToString("0.###", s_invariant);

    internal static string Num(double v) => v.ToString("0.######", s_invariant);

    /// <summary>Round-trip form for data-* attributes: what a reader of the page gets back is the dataset's value.</summary>
    internal static string Exact(double v) => v.ToString("R", s_invariant);

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";

    internal static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Format(FormattableString text) => text.ToString(s_invariant);
}
