// Generates src/api/schema.d.ts from ../docs/openapi.json with openapi-typescript.
// `node scripts/gen-types.mjs` writes it; `--check` fails when the committed file differs, so
// the dashboard cannot drift from the API (run by `npm run check-types` and `make web`).
//
// The server's operationIds are its handler names (`list`, `get`, …), which repeat across routes;
// openapi-typescript would merge those into one `operations["list"]` with the wrong types. So the
// ids are dropped first and every operation's types are generated inline under its path.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
const target = join(web, "src/api/schema.d.ts");
const check = process.argv.includes("--check");
const dir = mkdtempSync(join(tmpdir(), "gsm-types-"));
try {
  const spec = JSON.parse(readFileSync(join(web, "../docs/openapi.json"), "utf8"));
  for (const item of Object.values(spec.paths ?? {})) {
    for (const operation of Object.values(item)) {
      if (operation && typeof operation === "object") delete operation.operationId;
    }
  }
  const input = join(dir, "openapi.json");
  writeFileSync(input, JSON.stringify(spec));
  const output = join(dir, "schema.d.ts");
  const cli = join(web, "node_modules/openapi-typescript/bin/cli.js");
  execFileSync(process.execPath, [cli, input, "-o", output], { cwd: web, stdio: "pipe" });
  const fresh = readFileSync(output, "utf8");
  if (!check) {
    writeFileSync(target, fresh);
    console.log("wrote src/api/schema.d.ts from docs/openapi.json");
  } else if (readFileSync(target, "utf8") !== fresh) {
    console.error(
      "web/src/api/schema.d.ts is stale: docs/openapi.json changed. Run `npm run gen-types` in web/ and commit the result.",
    );
    process.exit(1);
  } else {
    console.log("src/api/schema.d.ts matches docs/openapi.json");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
