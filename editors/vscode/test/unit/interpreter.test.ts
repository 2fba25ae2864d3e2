import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseInterpreter, interpreterFromPythonExtension, interpreterFromSetting, onPythonInterpreterChange } from "../../src/interpreter";
import { stubHost } from "./stub";

/** The Python extension's `exports.environments`, as ms-python.python gives it. */
function pythonExports(active: { id: string; path: string }, executable: string | undefined, seen: unknown[] = []) {
  const listeners: (() => void)[] = [];
  return {
    listeners,
    environments: {
      getActiveEnvironmentPath(resource?: unknown) {
        seen.push(resource);
        return active;
      },
      async resolveEnvironment(env: { id: string; path: string }) {
        assert.equal(env, active);
        return executable ? { executable: { uri: { fsPath: executable } } } : undefined;
      },
      onDidChangeActiveEnvironmentPath(listener: () => void) {
        listeners.push(listener);
        return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
      },
    },
  };
}

test("perf-lsp.interpreter as a path", async () => {
  const host = stubHost({ settings: { interpreter: { defaultValue: "", globalValue: "/opt/venv/bin/python" } } });
  assert.deepEqual(await chooseInterpreter(host), { command: ["/opt/venv/bin/python"], source: "setting" });
});

test("perf-lsp.interpreter as a command list, with ${workspaceFolder} and ~ expanded", () => {
  assert.deepEqual(interpreterFromSetting(["uv", "run", "python"], "/ws", "/home/u"), ["uv", "run", "python"]);
  assert.deepEqual(interpreterFromSetting("${workspaceFolder}/.venv/bin/python", "/ws", "/home/u"), ["/ws/.venv/bin/python"]);
  assert.deepEqual(interpreterFromSetting("~/py/bin/python", undefined, "/home/u"), ["/home/u/py/bin/python"]);
  assert.deepEqual(interpreterFromSetting("  ", "/ws", "/home/u"), undefined);
  assert.deepEqual(interpreterFromSetting([], "/ws", "/home/u"), undefined);
  assert.deepEqual(interpreterFromSetting(42, "/ws", "/home/u"), undefined);
});

test("no setting and no Python extension: python3", async () => {
  const host = stubHost({ settings: { interpreter: { defaultValue: "" } } });
  assert.deepEqual(await chooseInterpreter(host), { command: ["python3"], source: "default" });
});

test("no setting: the Python extension's active interpreter, asked for the workspace folder", async () => {
  const seen: unknown[] = [];
  const exports = pythonExports({ id: "venv", path: "/ws/.venv" }, "/ws/.venv/bin/python", seen);
  const host = stubHost({ folder: "/ws", pythonExports: exports, settings: { interpreter: { defaultValue: "" } } });
  assert.deepEqual(await chooseInterpreter(host), { command: ["/ws/.venv/bin/python"], source: "python-extension" });
  assert.deepEqual(seen, [{ fsPath: "/ws", scheme: "file" }]);
});

test("the setting beats the Python extension", async () => {
  const exports = pythonExports({ id: "venv", path: "/ws/.venv" }, "/ws/.venv/bin/python");
  const host = stubHost({ pythonExports: exports, settings: { interpreter: { workspaceValue: "/usr/bin/python3.11" } } });
  assert.deepEqual(await chooseInterpreter(host), { command: ["/usr/bin/python3.11"], source: "setting" });
});

test("an unresolved environment falls back to its path", async () => {
  const exports = pythonExports({ id: "x", path: "/usr/bin/python3.12" }, undefined);
  assert.deepEqual(await interpreterFromPythonExtension(exports, undefined), ["/usr/bin/python3.12"]);
});

test("a Python extension API that throws or is missing gives python3, and the failure is logged", async () => {
  const throwing = { environments: { getActiveEnvironmentPath: () => { throw new Error("not ready"); } } };
  const host = stubHost({ pythonExports: throwing });
  assert.deepEqual(await chooseInterpreter(host), { command: ["python3"], source: "default" });
  assert.ok(host.logs.some((l) => l.includes("not ready")), host.logs.join("\n"));
  for (const odd of [{}, null, 42, { environments: {} }, { environments: { getActiveEnvironmentPath: 1 } }]) {
    assert.deepEqual(await chooseInterpreter(stubHost({ pythonExports: odd })), { command: ["python3"], source: "default" });
  }
});

test("interpreter change events of the Python extension are subscribed when the API has them", () => {
  const exports = pythonExports({ id: "x", path: "/p" }, "/p");
  let calls = 0;
  const sub = onPythonInterpreterChange(exports, () => calls++);
  assert.ok(sub);
  exports.listeners.forEach((l) => l());
  assert.equal(calls, 1);
  sub.dispose();
  assert.equal(exports.listeners.length, 0);
  assert.equal(onPythonInterpreterChange({ environments: { getActiveEnvironmentPath: () => undefined } }, () => 0), undefined);
  assert.equal(onPythonInterpreterChange(undefined, () => 0), undefined);
});
