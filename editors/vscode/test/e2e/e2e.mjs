// End-to-end test of the packaged extension in real VS Code: code-server in headless Chromium,
// driven by playwright-core. Every wait is on a condition, with a timeout; no retries.
//
// Environment (run_tests.sh sets them):
//   CODE_SERVER_NODE, CODE_SERVER_JS   node 24 and code-server's entry point (out/node/entry.js)
//   VSIX          the packaged extension
//   PYTHON        a python3 that has perf_lsp installed (the interpreter the extension is given)
//   E2E_RUN       run name; screenshots and logs go to test-results/<run>/ (default: a timestamp)
//   UPDATE_IMAGES=1  copy the README's screenshots into images/

import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const extRoot = path.resolve(here, "..", "..");
const repoRoot = path.resolve(extRoot, "..", "..");
const runName = process.env.E2E_RUN || new Date().toISOString().replace(/[:.]/g, "-");
const outDir = path.join(extRoot, "test-results", runName);
const PYTHON = process.env.PYTHON || "python3";
const VSIX = process.env.VSIX || path.join(extRoot, "perf-lsp.vsix");
const CODE_SERVER = process.env.CODE_SERVER_JS ? [process.env.CODE_SERVER_NODE || "node", process.env.CODE_SERVER_JS] : ["code-server"];
const T = { start: 90_000, diag: 60_000, ui: 20_000 };

fs.mkdirSync(outDir, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), "perf-lsp-vscode-e2e-"));
const ws = path.join(work, "ragservice");
const userData = path.join(work, "user-data");
const extDir = path.join(work, "extensions");
const logFile = path.join(outDir, "code-server.log");

let step = 0;
const results = [];
let server; // code-server child (its own process group)
let browser;

function log(message) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

// ---------------------------------------------------------------- process handling
function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    for (const signal of ["SIGTERM", "SIGKILL"]) {
      try {
        process.kill(-server.pid, signal); // the whole group: code-server, extension host, perf_lsp
      } catch {
        /* already gone */
      }
      if (signal === "SIGTERM") {
        const until = Date.now() + 3000;
        while (Date.now() < until && groupAlive(server.pid)) execFileSync("sleep", ["0.1"]);
      }
    }
  }
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

process.on("exit", killServer);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killServer();
    process.exit(130);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitFor(what, predicate, timeoutMs, intervalMs = 100) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** PIDs of perf_lsp servers started under our code-server. */
function serverPids() {
  const out = execFileSync("ps", ["-e", "-o", "pid=,pgid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m) => m && Number(m[2]) === server.pid && m[3].includes("-m perf_lsp serve"))
    .map((m) => Number(m[1]));
}

// ---------------------------------------------------------------- workspace and settings
function writeUserSettings(extra = {}) {
  const settings = {
    "perf-lsp.interpreter": PYTHON,
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "editor.minimap.enabled": false,
    "editor.hover.delay": 300,
    "editor.fontSize": 14,
    "window.zoomLevel": 0,
    "files.autoSave": "off",
    "chat.disableAIFeatures": true,
    "workbench.reduceMotion": "on",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.colorTheme": "Default Light Modern",
    "[python]": { "editor.codeActionsOnSave": { "source.fixAll.perf-lsp": "explicit" } },
    ...extra,
  };
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
}

/** The workspace's .vscode/settings.json (the settings changed while VS Code runs). */
function writeWorkspaceSettings(settings = {}) {
  fs.mkdirSync(path.join(ws, ".vscode"), { recursive: true });
  fs.writeFileSync(path.join(ws, ".vscode", "settings.json"), JSON.stringify(settings, null, 2));
}

/** What `perf-lsp fix` (safe fixes) makes of `text`: the file fix-all must produce. */
function expectedFix(name, text) {
  const dir = fs.mkdtempSync(path.join(work, "expected-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  // exit 0: all fixed, 1: findings remain (unsafe or unfixable); anything else is an error
  const done = spawnSync(PYTHON, ["-m", "perf_lsp", "fix", file], { encoding: "utf8" });
  if (done.status !== 0 && done.status !== 1) throw new Error(`perf-lsp fix ${name} failed (${done.status}): ${done.stderr}`);
  return fs.readFileSync(file, "utf8");
}

// ---------------------------------------------------------------- UI helpers
async function shot(page, name, copyAs) {
  step += 1;
  const file = path.join(outDir, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  if (copyAs && process.env.UPDATE_IMAGES === "1") {
    fs.copyFileSync(file, path.join(extRoot, "images", copyAs));
  }
  return file;
}

async function check(name, fn) {
  const started = Date.now();
  log(`step: ${name}`);
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - started });
    log(`ok: ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false, ms: Date.now() - started, error: String(error?.stack || error) });
    log(`FAILED: ${name}: ${error?.stack || error}`);
    throw error;
  }
}

const norm = (s) => (s ?? "").replace(/\u00a0/g, " ");

/** The text of the editor's rendered lines (only what is on screen). */
async function visibleText(page) {
  const lines = await page.locator(".editor-instance .monaco-editor .view-lines .view-line").evaluateAll((els) =>
    els.map((e) => ({ top: parseFloat(e.style.top) || 0, text: e.textContent })).sort((a, b) => a.top - b.top).map((l) => l.text),
  );
  return norm(lines.join("\n"));
}

/** The rows of the Problems panel, as text. */
async function problems(page) {
  return (await page.locator(".markers-panel .monaco-list-row").allTextContents()).map(norm);
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: T.ui });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: T.ui });
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: T.ui });
}

async function openFile(page, name) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: T.ui });
  await input.fill(name);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().waitFor({ state: "visible", timeout: T.ui });
  await page.keyboard.press("Enter");
  await page.locator(`.tabs-container .tab.active[aria-label^="${name}"]`).waitFor({ state: "visible", timeout: T.ui });
  await page.locator(".editor-instance .monaco-editor .view-lines").first().waitFor({ state: "visible", timeout: T.ui });
}

/** Put the cursor on the first line of the file that contains `text` (Ctrl+G), so that it is on screen. */
async function goToLine(page, file, text) {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const index = lines.findIndex((l) => l.includes(text));
  if (index < 0) throw new Error(`no line with "${text}" in ${file}`);
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: T.ui });
  await input.fill(`:${index + 1}:${lines[index].indexOf(text) + 1}`);
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: T.ui });
  await waitFor(`the status bar at Ln ${index + 1}`, async () => norm(await page.locator("#status\\.editor\\.selection").textContent()).includes(`Ln ${index + 1},`), T.ui);
}

/** The squiggle drawn on the rendered line that contains `text`. */
async function squiggleOnLine(page, text, cls = "squiggly-warning") {
  const lineBox = await waitFor(
    `the line "${text}"`,
    async () => {
      const line = page.locator(".editor-instance .monaco-editor .view-lines .view-line", { hasText: text }).first();
      return (await line.count()) ? await line.boundingBox() : null;
    },
    T.ui,
  );
  return waitFor(
    `a ${cls} squiggle on the line "${text}"`,
    async () => {
      const boxes = await page.locator(`.editor-instance .monaco-editor .${cls}`).evaluateAll((els) =>
        els.map((e) => {
          const r = e.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        }),
      );
      return boxes.find((b) => b.width > 0 && Math.abs(b.y + b.height / 2 - (lineBox.y + lineBox.height / 2)) < lineBox.height / 2);
    },
    T.diag,
  );
}

// ---------------------------------------------------------------- the scenario
async function main() {
  log(`run ${runName}: screenshots and logs in ${path.relative(repoRoot, outDir)}`);
  let ingestBefore, ingestExpected;
  await check("set up: a copy of examples/ragservice, the expected fixed file, user settings", async () => {
    fs.cpSync(path.join(repoRoot, "examples", "ragservice"), ws, { recursive: true });
    // one more file, for codeActionsOnSave
    fs.writeFileSync(path.join(ws, "tokens.py"), 'import re\n\n\ndef words(lines: list[str]) -> list[list[str]]:\n    return [re.findall(r"\\w+", line) for line in lines]\n');
    // a notebook (the rebuilt audit notebook of the Python tests), for the notebook step
    fs.copyFileSync(path.join(repoRoot, "tests", "notebooks", "memory_agent.ipynb"), path.join(ws, "memory_agent.ipynb"));
    ingestBefore = fs.readFileSync(path.join(ws, "ingest.py"), "utf8");
    ingestExpected = expectedFix("ingest.py", ingestBefore);
    if (ingestExpected === ingestBefore) throw new Error("perf-lsp fix changed nothing in ingest.py: the scenario needs fixable findings");
    writeUserSettings();
    writeWorkspaceSettings();
  });

  const cs = CODE_SERVER;
  const port = await freePort();
  const config = path.join(work, "config.yaml");
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const common = ["--config", config, "--user-data-dir", userData, "--extensions-dir", extDir];
  await check("install the .vsix with code-server --install-extension", async () => {
    const out = execFileSync(cs[0], [...cs.slice(1), ...common, "--install-extension", VSIX], { encoding: "utf8", timeout: 120_000 });
    log(out.trim());
    const installed = execFileSync(cs[0], [...cs.slice(1), ...common, "--list-extensions", "--show-versions"], { encoding: "utf8", timeout: 60_000 });
    if (!/^perf-lsp\.perf-lsp@/m.test(installed)) throw new Error(`perf-lsp not among the installed extensions:\n${installed}`);
  });

  const out = fs.openSync(logFile, "w");
  server = spawn(
    cs[0],
    [...cs.slice(1), ...common, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override", ws],
    { detached: true, stdio: ["ignore", out, out] }, // detached: setsid, its own process group
  );
  log(`code-server pid ${server.pid} on 127.0.0.1:${port}, log ${path.relative(repoRoot, logFile)}`);
  await waitFor("code-server to answer /healthz", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, T.start, 250);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => log(`page error: ${error.message}`));
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
  await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: T.start });
  await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor({ state: "attached", timeout: T.start });

  await check("open ingest.py: a squiggle and PFL401 in the Problems panel", async () => {
    await openFile(page, "ingest.py");
    await page.keyboard.press("Control+Shift+M");
    await page.locator(".markers-panel").waitFor({ state: "visible", timeout: T.ui });
    const rows = await waitFor("2 PFL401 entries in Problems", async () => {
      const r = await problems(page);
      return r.filter((t) => t.includes("PFL401")).length === 2 ? r : null;
    }, T.diag);
    await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
    await goToLine(page, path.join(ws, "ingest.py"), "re.compile(r\"(?<=");
    await squiggleOnLine(page, 'boundary = re.compile(r"(?<=[.!?])\\s+")');
    const row = rows.find((t) => t.includes("PFL401"));
    if (!row.includes("perf-lsp") || !/Regular expression compiled on every iteration|recompiles/.test(row)) throw new Error(`unexpected Problems row: ${row}`);
    await shot(page, "diagnostic", "diagnostic.png");
  });

  await check("hover the squiggle: the explanation", async () => {
    // room for the hover: hide the panel and scroll the line near the top of the editor
    await page.keyboard.press("Control+J");
    await page.locator(".markers-panel").waitFor({ state: "hidden", timeout: T.ui });
    const line = page.locator(".editor-instance .monaco-editor .view-lines .view-line", { hasText: "boundary = re.compile(" }).first();
    const editorTop = (await page.locator(".editor-instance .monaco-editor .overflow-guard").first().boundingBox()).y;
    for (let i = 0; i < 60; i++) {
      const b = await line.boundingBox();
      if (b.y < editorTop + 3 * b.height) break;
      await page.keyboard.press("Control+ArrowDown"); // scrolls one line, the cursor stays
      await waitFor("the editor to scroll", async () => (await line.boundingBox())?.y !== b.y, T.ui, 20);
    }
    const box = await squiggleOnLine(page, 'boundary = re.compile(r"(?<=[.!?])\\s+")');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 - 4);
    const hover = page.locator(".monaco-hover", { hasText: "Why is this slow?" }).first();
    await hover.waitFor({ state: "visible", timeout: T.ui });
    const text = norm(await hover.textContent());
    for (const phrase of ["PFL401", "regex-not-precompiled", "Why is this slow?", "pattern cache", "Precompile the pattern"]) {
      if (!text.includes(phrase)) throw new Error(`hover lacks "${phrase}": ${text.slice(0, 400)}`);
    }
    await shot(page, "hover", "hover.png");
    await page.keyboard.press("Escape");
    await page.mouse.move(5, 400);
    await hover.waitFor({ state: "hidden", timeout: T.ui });
  });

  await check("Ctrl+. on the squiggle: the quick fix hoists the pattern", async () => {
    const box = await squiggleOnLine(page, 'boundary = re.compile(r"(?<=[.!?])\\s+")');
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2 - 4);
    await page.keyboard.press("Control+.");
    const item = page.locator(".action-widget .monaco-list-row", { hasText: "Precompile" }).first();
    await item.waitFor({ state: "visible", timeout: T.ui });
    await shot(page, "quick-fix-menu", "quick-fix.png");
    await item.click();
    await waitFor("the hoisted pattern in the editor", async () => {
      const text = await visibleText(page);
      return text.includes('_BOUNDARY = re.compile(r"(?<=[.!?])\\s+")') && text.includes("boundary = _BOUNDARY") && !text.includes('boundary = re.compile(');
    }, T.ui);
    await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "visible", timeout: T.ui });
    await page.keyboard.press("Control+Shift+M");
    await page.locator(".markers-panel").waitFor({ state: "visible", timeout: T.ui });
    await waitFor("1 PFL401 left in Problems", async () => (await problems(page)).filter((t) => t.includes("PFL401")).length === 1, T.diag);
    if (fs.readFileSync(path.join(ws, "ingest.py"), "utf8") !== ingestBefore) throw new Error("the file on disk changed before saving");
    await shot(page, "after-quick-fix", "after-quick-fix.png");
  });

  await check('command palette "perf-lsp: Fix All in This File", then save: the file on disk is perf-lsp fix\'s', async () => {
    await runCommand(page, "perf-lsp: Fix All in This File");
    await waitFor("no PFL401 left in Problems", async () => (await problems(page)).filter((t) => t.includes("PFL401")).length === 0, T.diag);
    await page.keyboard.press("Control+1"); // focus the editor (the Problems panel has it)
    await page.keyboard.press("Control+End");
    await waitFor("the second pattern hoisted", async () => (await visibleText(page)).includes("_TAGS_FOR_RE.findall(line)"), T.ui);
    await shot(page, "after-fix-all");
    await page.keyboard.press("Control+S");
    await page.locator(".tabs-container .tab.active.dirty").waitFor({ state: "detached", timeout: T.ui });
    await waitFor("ingest.py on disk equal to `perf-lsp fix`'s result", () => fs.readFileSync(path.join(ws, "ingest.py"), "utf8") === ingestExpected, T.ui);
  });

  await check('"editor.codeActionsOnSave": {"source.fixAll.perf-lsp": "explicit"} fixes on save', async () => {
    await openFile(page, "tokens.py");
    await squiggleOnLine(page, 'return [re.findall(r"\\w+", line) for line in lines]');
    await page.keyboard.press("Control+End");
    await page.keyboard.type("x = 1");
    const before = fs.readFileSync(path.join(ws, "tokens.py"), "utf8") + "x = 1";
    const expected = expectedFix("tokens.py", before);
    if (expected === before) throw new Error("perf-lsp fix changed nothing in tokens.py");
    await page.keyboard.press("Control+S");
    await waitFor("tokens.py on disk fixed by the save", () => fs.readFileSync(path.join(ws, "tokens.py"), "utf8") === expected, T.diag);
  });

  let pids;
  await check("a settings change reaches the server live (no restart): perf-lsp.ignore hides PFL101", async () => {
    await openFile(page, "search.py");
    await waitFor("PFL101 in Problems", async () => (await problems(page)).some((t) => t.includes("PFL101")), T.diag);
    pids = serverPids();
    if (pids.length !== 1) throw new Error(`expected one perf_lsp server, found ${JSON.stringify(pids)}`);
    writeWorkspaceSettings({ "perf-lsp.ignore": ["PFL101"] });
    await waitFor("PFL101 gone from Problems", async () => !(await problems(page)).some((t) => t.includes("PFL101")), T.diag);
    if (!(await problems(page)).some((t) => t.includes("PFL201"))) throw new Error("PFL201 disappeared too");
    if (JSON.stringify(serverPids()) !== JSON.stringify(pids)) throw new Error(`the server was restarted: ${pids} -> ${serverPids()}`);
    writeWorkspaceSettings();
    await waitFor("PFL101 back in Problems", async () => (await problems(page)).some((t) => t.includes("PFL101")), T.diag);
  });

  await check('"perf-lsp: Restart Server" starts a new server; "perf-lsp: Show Output" shows its log', async () => {
    await runCommand(page, "perf-lsp: Restart Server");
    const fresh = await waitFor("a new perf_lsp server", () => {
      const now = serverPids();
      return now.length === 1 && now[0] !== pids[0] ? now : null;
    }, T.diag);
    pids = fresh;
    await runCommand(page, "perf-lsp: Show Output");
    const output = page.locator(".part.panel .output-view, .part.panel [id='workbench.panel.output']").first();
    await output.waitFor({ state: "visible", timeout: T.ui });
    await waitFor("the restart in the output", async () => norm(await page.locator(".part.panel").textContent()).includes("Restarting the server: requested"), T.ui);
  });

  await check("a notebook: diagnostics in its cells, and a quick fix that edits the right cell", async () => {
    // VS Code's built-in ipynb extension opens it as a jupyter-notebook; no kernel is needed
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input.input");
    await input.waitFor({ state: "visible", timeout: T.ui });
    await input.fill("memory_agent.ipynb");
    await page.locator(".quick-input-list .monaco-list-row", { hasText: "memory_agent.ipynb" }).first().waitFor({ state: "visible", timeout: T.ui });
    await page.keyboard.press("Enter");
    await page.locator('.tabs-container .tab.active[aria-label^="memory_agent.ipynb"]').waitFor({ state: "visible", timeout: T.ui });
    await page.locator(".notebook-editor .cell-editor-container .monaco-editor").first().waitFor({ state: "visible", timeout: T.start });
    await page.keyboard.press("Control+Shift+M");
    await page.locator(".markers-panel").waitFor({ state: "visible", timeout: T.ui });
    const codes = ["PFL101", "PFL701", "PFL602", "PFL201", "PFL401"];
    await waitFor(`${codes.join(", ")} in Problems`, async () => {
      const rows = await problems(page);
      return codes.every((code) => rows.some((t) => t.includes(code))) ? rows : null;
    }, T.diag);
    await shot(page, "notebook-diagnostics");
    // Problems -> the PFL401 row: the cursor goes to the finding in its cell
    await page.locator(".markers-panel .monaco-list-row", { hasText: "PFL401" }).first().click();
    await page.keyboard.press("Enter");
    const cell = page.locator(".notebook-editor .cell-editor-container .monaco-editor", { hasText: "def iterative_refine" }).first();
    await waitFor("the squiggle in the refine cell", async () => (await cell.locator(".squiggly-warning").count()) > 0, T.diag);
    await page.keyboard.press("Control+.");
    const item = page.locator(".action-widget .monaco-list-row", { hasText: "Precompile" }).first();
    await item.waitFor({ state: "visible", timeout: T.ui });
    await shot(page, "notebook-quick-fix-menu", "notebook-quick-fix.png");
    await item.click();
    await waitFor("the pattern hoisted in the same cell", async () => {
      const text = norm(await cell.locator(".view-lines").textContent());
      return text.includes("_ITERATIVE_REFINE_RE = re.compile(") && text.includes("_ITERATIVE_REFINE_RE.findall(feedback)") ? text : null;
    }, T.ui);
    await waitFor("PFL401 gone from Problems", async () => !(await problems(page)).some((t) => t.includes("PFL401")), T.diag);
    const others = await problems(page);
    for (const code of ["PFL101", "PFL701", "PFL602", "PFL201"]) {
      if (!others.some((t) => t.includes(code))) throw new Error(`${code} disappeared after the PFL401 fix`);
    }
    await shot(page, "notebook-after-quick-fix");
    await page.keyboard.press("Control+S");
    await waitFor("the fixed cell on disk", () => {
      const saved = JSON.parse(fs.readFileSync(path.join(ws, "memory_agent.ipynb"), "utf8"));
      const sources = saved.cells.map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
      return sources[9].includes("_ITERATIVE_REFINE_RE.findall(feedback)") && sources[4].includes("SentenceTransformer(model_name)");
    }, T.ui);
  });

  await check("a Python without perf_lsp: the server does not start and a notification says how to install it", async () => {
    const venv = path.join(work, "venv-without-perf-lsp");
    execFileSync(PYTHON, ["-m", "venv", "--without-pip", venv]);
    const python = path.join(venv, "bin", "python");
    writeWorkspaceSettings({ "perf-lsp.interpreter": python });
    const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "is not installed" }).first();
    await toast.waitFor({ state: "visible", timeout: T.diag });
    const text = norm(await toast.textContent());
    for (const phrase of [`${python} -m pip install perf-lsp`, "perf-lsp.interpreter", "Restart Server"]) {
      if (!text.includes(phrase)) throw new Error(`notification lacks "${phrase}": ${text}`);
    }
    for (const button of ["Copy Install Command", "Open Settings", "Show Output"]) {
      await toast.locator(".monaco-button", { hasText: button }).first().waitFor({ state: "visible", timeout: T.ui });
    }
    await waitFor("the old server stopped", () => serverPids().length === 0, T.ui);
    await shot(page, "missing-perf-lsp", "missing-perf-lsp.png");
  });
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  log(`e2e failed: ${error?.stack || error}`);
  try {
    const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
    if (pages[0]) await shot(pages[0], "failure");
  } catch {
    /* no screenshot */
  }
} finally {
  await browser?.close().catch(() => undefined);
  killServer();
  fs.writeFileSync(path.join(outDir, "results.json"), JSON.stringify(results, null, 2));
  if (!failed) fs.rmSync(work, { recursive: true, force: true });
  else log(`kept the workspace for inspection: ${work}`);
}
const passed = results.filter((r) => r.ok).length;
console.log(`e2e: ${passed} passed, ${results.length - passed} failed`);
process.exit(failed ? 1 : 0);
