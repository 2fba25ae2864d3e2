import assert from "node:assert/strict";
import { test } from "node:test";
import pkg from "../../package.json";
import { COMMANDS, FIX_ALL_KIND, SERVER_FIX_ALL_COMMAND } from "../../src/controller";
import { explicitValue, sameSettings, SERVER_KEYS, serverSettings } from "../../src/settings";
import { stubHost } from "./stub";

const properties = pkg.contributes.configuration.properties as Record<string, { default?: unknown }>;

/** Inspections as VS Code gives them: package.json defaults plus the values given per scope. */
function settingsWith(values: Record<string, { global?: unknown; workspace?: unknown; folder?: unknown }>) {
  const out: Record<string, { defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }> = {};
  for (const [name, prop] of Object.entries(properties)) {
    const key = name.slice("perf-lsp.".length);
    const v = values[key] ?? {};
    out[key] = { defaultValue: prop.default, globalValue: v.global, workspaceValue: v.workspace, workspaceFolderValue: v.folder };
  }
  return out;
}

test("nothing set: no settings are sent, so the project's pyproject.toml applies", () => {
  assert.deepEqual(serverSettings(stubHost({ settings: settingsWith({}) })), {});
});

test("every server key is sent under the server's name when the user sets it", () => {
  const values = {
    select: ["PFL1", "PFL401"],
    ignore: ["PFL104"],
    unsafeFixes: true,
    severity: { PFL101: "error" },
    debounceMs: 200,
    extendHeavyConstructors: ["acme.models.load_ranker"],
    extendClients: ["acme.llm.GatewayClient"],
    extendBatchableMethods: ["acme.embed.Embedder.embed_one"],
    extendBlockingCalls: { "acme.io.fetch_sync": "await acme.io.fetch(...)" },
  };
  const scoped = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { global: v }]));
  const host = stubHost({ settings: settingsWith({ ...scoped, interpreter: { global: "/opt/py/bin/python" } }) });
  assert.deepEqual(serverSettings(host), values);
});

test("folder settings beat workspace settings, which beat user settings", () => {
  const host = stubHost({
    settings: settingsWith({
      ignore: { global: ["PFL1"], workspace: ["PFL2"], folder: ["PFL3"] },
      select: { global: ["PFL1"], workspace: ["PFL2"] },
      unsafeFixes: { global: false },
    }),
  });
  assert.deepEqual(serverSettings(host), { ignore: ["PFL3"], select: ["PFL2"], unsafeFixes: false });
});

test("explicitValue ignores defaults and missing inspections", () => {
  assert.equal(explicitValue(undefined), undefined);
  assert.equal(explicitValue({ defaultValue: 75 }), undefined);
  assert.equal(explicitValue({ defaultValue: 75, globalValue: 0 }), 0);
});

test("package.json contributes exactly the server's settings plus interpreter, with the server's defaults", () => {
  const names = Object.keys(properties).sort();
  assert.deepEqual(names, ["perf-lsp.interpreter", ...SERVER_KEYS.map((k) => `perf-lsp.${k}`)].sort());
  // perf_lsp/settings.py: select ("PFL",), debounce 75, unsafe_fixes False
  assert.deepEqual(properties["perf-lsp.select"].default, ["PFL"]);
  assert.equal(properties["perf-lsp.debounceMs"].default, 75);
  assert.equal(properties["perf-lsp.unsafeFixes"].default, false);
});

test("package.json commands: ours, none with the server's command id; the fix-all kind is contributed", () => {
  const ids: string[] = pkg.contributes.commands.map((c) => c.command).sort();
  assert.ok(!ids.includes(SERVER_FIX_ALL_COMMAND));
  assert.deepEqual(ids, Object.values(COMMANDS).sort());
  const titles = pkg.contributes.commands.map((c) => `${c.category}: ${c.title}`).sort();
  assert.deepEqual(titles, ["perf-lsp: Fix All in This File", "perf-lsp: Restart Server", "perf-lsp: Show Output"]);
  const kinds = pkg.contributes.codeActions.flatMap((c) => c.actions.map((a) => a.kind));
  assert.deepEqual(kinds, [FIX_ALL_KIND]);
  assert.equal(pkg.engines.vscode, "^1.91.0");
  assert.equal(pkg.devDependencies["@types/vscode"], "1.91.0");
});

test("sameSettings compares JSON values, not key order", () => {
  assert.ok(sameSettings({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 }));
  assert.ok(!sameSettings({ a: [1, 2] }, { a: [2, 1] }));
});
