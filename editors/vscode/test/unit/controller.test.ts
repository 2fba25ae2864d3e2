import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientOptions, Controller, SERVER_FIX_ALL_COMMAND, ServerClient } from "../../src/controller";
import type { SettingInspection } from "../../src/host";
import { settle, stubHost, StubOptions } from "./stub";

interface FakeClient extends ServerClient {
  options: ClientOptions;
  started: number;
  stopped: number;
  sent: unknown[];
  commands: { command: string; args: unknown[] }[];
}

function fakeClients(behaviour: { fixAllResult?: unknown; failStart?: boolean } = {}) {
  const made: FakeClient[] = [];
  const factory = (options: ClientOptions): ServerClient => {
    const client: FakeClient = {
      options,
      started: 0,
      stopped: 0,
      sent: [],
      commands: [],
      async start() {
        client.started++;
        if (behaviour.failStart) throw new Error("spawn failed");
      },
      async stop() {
        client.stopped++;
      },
      async sendSettings(settings) {
        client.sent.push(settings);
      },
      async executeCommand(command, args) {
        client.commands.push({ command, args });
        return behaviour.fixAllResult ?? true;
      },
    };
    made.push(client);
    return client;
  };
  return { made, factory };
}

function setup(options: StubOptions = {}, behaviour = {}) {
  const settings: Record<string, SettingInspection> = { interpreter: { defaultValue: "" }, ...(options.settings ?? {}) };
  const host = stubHost({ folder: "/ws", ...options, settings });
  const clients = fakeClients(behaviour);
  return { host, settings, clients, controller: new Controller(host, clients.factory) };
}

test("start: checks perf_lsp, then runs <python> -m perf_lsp serve with the user's settings", async () => {
  const { host, clients, controller } = setup({
    settings: { interpreter: { globalValue: "/py/bin/python" }, ignore: { defaultValue: [], globalValue: ["PFL401"] }, debounceMs: { defaultValue: 75 } },
  });
  assert.equal(await controller.start(), true);
  assert.deepEqual(host.runs, [["/py/bin/python", "-c", "import perf_lsp"]]);
  assert.equal(clients.made.length, 1);
  const [client] = clients.made;
  assert.deepEqual(client.options.server, { command: "/py/bin/python", args: ["-m", "perf_lsp", "serve"], cwd: "/ws" });
  assert.deepEqual(client.options.initializationOptions, { ignore: ["PFL401"] });
  assert.equal(client.started, 1);
  assert.equal(host.errors.length, 0);
});

test("start without perf_lsp: no server, and an error notification (not silent)", async () => {
  const { host, clients, controller } = setup({
    run: () => ({ code: 1, stdout: "", stderr: "ModuleNotFoundError: No module named 'perf_lsp'" }),
  });
  assert.equal(await controller.start(), false);
  await settle();
  assert.equal(clients.made.length, 0);
  assert.equal(host.errors.length, 1);
  assert.ok(host.errors[0].message.includes("python3 -m pip install perf-lsp"), host.errors[0].message);
  assert.equal(controller.running, false);
});

test("a server that fails to start is reported", async () => {
  const { host, controller } = setup({}, { failStart: true });
  assert.equal(await controller.start(), false);
  await settle();
  assert.equal(host.errors.length, 1);
  assert.match(host.errors[0].message, /did not start: spawn failed/);
});

test("a perf-lsp setting change goes to the running server, without a restart", async () => {
  const { settings, clients, controller } = setup();
  await controller.start();
  settings.unsafeFixes = { defaultValue: false, workspaceValue: true };
  await controller.onConfigurationChanged((section) => section === "perf-lsp" || section === "perf-lsp.unsafeFixes");
  const [client] = clients.made;
  assert.deepEqual(client.sent, [{ unsafeFixes: true }]);
  assert.equal(clients.made.length, 1);
  assert.equal(client.stopped, 0);
  // the server's workspace/configuration pull sees the same settings
  assert.deepEqual(client.options.settings(), { unsafeFixes: true });
});

test("other sections' changes are ignored", async () => {
  const { clients, controller } = setup();
  await controller.start();
  await controller.onConfigurationChanged((section) => section === "editor");
  assert.deepEqual(clients.made[0].sent, []);
});

test("an interpreter change restarts the server with the new Python", async () => {
  const { host, settings, clients, controller } = setup();
  await controller.start();
  settings.interpreter = { defaultValue: "", globalValue: "/new/python" };
  await controller.onConfigurationChanged((section) => section.startsWith("perf-lsp"));
  assert.equal(clients.made.length, 2);
  assert.equal(clients.made[0].stopped, 1);
  assert.equal(clients.made[1].options.server.command, "/new/python");
  assert.deepEqual(host.runs.at(-1), ["/new/python", "-c", "import perf_lsp"]);
  assert.deepEqual(clients.made[0].sent, [], "no didChangeConfiguration to the stopped server");
});

test("the Python extension's interpreter change restarts the server when it changes the command", async () => {
  let active = "/ws/.venv/bin/python";
  const listeners: (() => void)[] = [];
  const pythonExports = {
    environments: {
      getActiveEnvironmentPath: () => ({ id: active, path: active }),
      resolveEnvironment: async (env: { path: string }) => ({ executable: { uri: { fsPath: env.path } } }),
      onDidChangeActiveEnvironmentPath: (listener: () => void) => {
        listeners.push(listener);
        return { dispose() {} };
      },
    },
  };
  const { clients, controller } = setup({ pythonExports });
  await controller.start();
  assert.equal(clients.made[0].options.server.command, "/ws/.venv/bin/python");
  assert.equal(listeners.length, 1);
  assert.equal(await controller.onPythonInterpreterChanged(), false, "same interpreter: no restart");
  active = "/other/bin/python";
  assert.equal(await controller.onPythonInterpreterChanged(), true);
  assert.equal(clients.made.length, 2);
  assert.equal(clients.made[1].options.server.command, "/other/bin/python");
  assert.equal(listeners.length, 1, "subscribed once");
});

test("restart stops the old server before the new one starts; restarts never overlap", async () => {
  const { clients, controller } = setup();
  await controller.start();
  await Promise.all([controller.restart("a"), controller.restart("b")]);
  assert.equal(clients.made.length, 3);
  assert.deepEqual(clients.made.map((c) => [c.started, c.stopped]), [[1, 1], [1, 1], [1, 0]]);
});

test("Fix All in This File runs the server's fix-all on the active document", async () => {
  const { clients, controller, host } = setup({ activeDocument: { uri: "file:///ws/a.py", languageId: "python" } });
  await controller.start();
  await controller.fixAllInActiveFile();
  assert.deepEqual(clients.made[0].commands, [{ command: SERVER_FIX_ALL_COMMAND, args: ["file:///ws/a.py"] }]);
  assert.deepEqual(host.infos, []);
});

test("Fix All: nothing to fix, not a Python file, no server", async () => {
  const a = setup({ activeDocument: { uri: "file:///ws/a.py", languageId: "python" } }, { fixAllResult: false });
  await a.controller.start();
  await a.controller.fixAllInActiveFile();
  assert.deepEqual(a.host.infos, ["perf-lsp: nothing to fix in this file."]);

  const b = setup({ activeDocument: { uri: "file:///ws/a.txt", languageId: "plaintext" } });
  await b.controller.start();
  await b.controller.fixAllInActiveFile();
  assert.deepEqual(b.clients.made[0].commands, []);
  assert.deepEqual(b.host.infos, ["perf-lsp: open a Python file to fix."]);

  const c = setup({ activeDocument: { uri: "file:///ws/a.py", languageId: "python" } });
  await c.controller.fixAllInActiveFile();
  await settle();
  assert.equal(c.host.errors.length, 1);
});
