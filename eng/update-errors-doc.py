#!/usr/bin/env python3
"""Regenerates docs/errors.md from src/MlxBench.Core/Diagnostics/Strings.resx (run after adding a diagnostic)."""
import html, pathlib, re

repo = pathlib.Path(__file__).resolve().parent.parent
resx = (repo / "src/MlxBench.Core/Diagnostics/Strings.resx").read_text(encoding="utf-8")
rows = re.findall(r'<data name="([^"]+)"[^>]*><value>(MLXB\d{4}): (.*?)</value></data>', resx, re.S)
pipe = "\\|"
lines = [
    "# MlxBench diagnostics", "",
    "Every error and warning MlxBench reports starts with its code. The message says what is wrong, where, and how to",
    "fix it. This page is generated from `src/MlxBench.Core/Diagnostics/Strings.resx` by `eng/update-errors-doc.py`",
    "(placeholders appear as `{n}`); errors raised by the SDK's MSBuild files are listed after it.", "",
    "| range | area |", "|---|---|",
    "| MLXB1xxx | declared items (`BenchModel`, `BenchSuite`, `BenchEndpoint`) |",
    "| MLXB2xxx | running cells (harness processes, conversion, envelope validation); MLXB25xx `ValidateEnvelopes` |",
    "| MLXB3xxx | `Publish` to a folder dataset; MLXB31xx to a HuggingFace dataset |",
    "| MLXB4xxx | building the native engine |", "| MLXB5xxx | endpoints and the engine server |",
    "| MLXB6xxx | the `serving` harness |", "| MLXB7xxx | the `eval` and `lm-eval` harnesses |",
    "| MLXB8xxx | `Report` |", "| MLXB9xxx | `Compare` (regression gate) |", "",
    "| code | message |", "|---|---|",
]
for _, code, message in sorted(rows, key=lambda r: r[1]):
    lines.append(f"| {code} | {html.unescape(message).replace('|', pipe)} |")
targets = sorted(set(re.findall(r'Code="(MLXB\d{4})"[^>]*Text="([^"]*)"', "".join(
    p.read_text(encoding="utf-8") for p in sorted((repo / "Sdk").glob("*.targets"))))))
if targets:
    lines += ["", "Raised by the SDK's MSBuild files:", "", "| code | message |", "|---|---|"]
    lines += [f"| {code} | {html.unescape(text).replace('|', pipe)} |" for code, text in targets]
(repo / "docs/errors.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
print(f"docs/errors.md: {len(rows) + len(targets)} diagnostics")
