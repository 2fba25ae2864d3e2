import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPerfLsp, COPY_INSTALL, installCommand, OPEN_SETTINGS, reportCheckFailure, serverCommand, SHOW_OUTPUT } from "../../src/launch";
import type { RunResult } from "../../src/host";
import { stubHost } from "./stub";

const NOT_INSTALLED: RunResult = {
  code: 1,
  stdout: "",
  stderr: 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nModuleNotFoundError: No module named \'perf_lsp\'\n',
};

test("the server command is <python> -m perf_lsp serve", () => {
  assert.deepEqual(serverCommand(["/usr/bin/python3"], "/ws"), { command: "/usr/bin/python3", args: ["-m", "perf_lsp", "serve"], cwd: "/ws" });
  assert.deepEqual(serverCommand(["uv", "run", "python"]), { command: "uv", args: ["run", "python", "-m", "perf_lsp", "serve"], cwd: undefined });
});

test("the check runs <python> -c 'import perf_lsp' and passes on exit 0", async () => {
  const host = stubHost();
  assert.deepEqual(await checkPerfLsp(host, { command: ["uv", "run", "python"], source: "setting" }), { ok: true });
  assert.deepEqual(host.runs, [["uv", "run", "python", "-c", "import perf_lsp"]]);
});

test("perf_lsp missing: the notification says exactly how to install it, with buttons", async () => {
  const host = stubHost({ run: () => NOT_INSTALLED });
  const interpreter = { command: ["/home/u/.venv/bin/python"], source: "python-extension" as const };
  const result = await checkPerfLsp(host, interpreter);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.reason, "not-installed");
  await reportCheckFailure(host, interpreter, result);
  assert.equal(host.errors.length, 1);
  const { message, actions } = host.errors[0];
  assert.ok(message.includes("perf-lsp is not installed in /home/u/.venv/bin/python (the Python extension's selected interpreter)"), message);
  assert.ok(message.includes("Install it with: /home/u/.venv/bin/python -m pip install perf-lsp "), message);
  assert.ok(message.includes("-m pip install -e ."), message);
  assert.ok(message.includes("perf-lsp.interpreter"), message);
  assert.ok(message.includes("perf-lsp: Restart Server"), message);
  assert.deepEqual(actions, [COPY_INSTALL, OPEN_SETTINGS, SHOW_OUTPUT]);
  assert.ok(host.logs.some((l) => l.includes("No module named 'perf_lsp'")), "the traceback goes to the output");
});

test("the notification's buttons copy the install command, open the setting, show the output", async () => {
  const interpreter = { command: ["python3"], source: "default" as const };
  for (const [choice, check] of [
    [COPY_INSTALL, (h: ReturnType<typeof stubHost>) => assert.deepEqual(h.clipboard, ["python3 -m pip install perf-lsp"])],
    [OPEN_SETTINGS, (h: ReturnType<typeof stubHost>) => assert.deepEqual(h.opened, ["perf-lsp.interpreter"])],
    [SHOW_OUTPUT, (h: ReturnType<typeof stubHost>) => assert.equal(h.outputShown, 1)],
  ] as const) {
    const host = stubHost({ run: () => NOT_INSTALLED, choose: choice });
    const result = await checkPerfLsp(host, interpreter);
    assert.equal(result.ok, false);
    if (result.ok) return;
    await reportCheckFailure(host, interpreter, result);
    check(host);
  }
});

test("an interpreter that does not exist is named, with the setting to fix", async () => {
  const host = stubHost({
    run: () => ({ code: null, stdout: "", stderr: "", error: { code: "ENOENT", message: "spawn /nope/python ENOENT" } }),
  });
  const result = await checkPerfLsp(host, { command: ["/nope/python"], source: "setting" });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.reason, "no-interpreter");
  assert.ok(result.message.includes("cannot run the Python interpreter /nope/python (the setting perf-lsp.interpreter): not found"), result.message);
});

test("perf_lsp present but broken: the last line of the error is shown", async () => {
  const host = stubHost({ run: () => ({ code: 1, stdout: "", stderr: "Traceback...\nImportError: cannot import name 'x' from 'pygls'\n" }) });
  const result = await checkPerfLsp(host, { command: ["python3"], source: "default" });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.reason, "broken");
  assert.ok(result.message.includes("ImportError: cannot import name 'x' from 'pygls'"), result.message);
});

test("install commands quote paths with spaces", () => {
  assert.equal(installCommand(["/Users/a b/venv/bin/python"]), "'/Users/a b/venv/bin/python' -m pip install perf-lsp");
});
