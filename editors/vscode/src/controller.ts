/**
 * The extension's behaviour, free of `vscode`: start the server with the right Python,
 * push settings live, restart on an interpreter change, the commands.
 */

import type { Disposable, Host } from "./host";
import { chooseInterpreter, Interpreter, onPythonInterpreterChange } from "./interpreter";
import { checkPerfLsp, reportCheckFailure, ServerCommand, serverCommand, shellQuote } from "./launch";
import { SECTION, ServerSettings, serverSettings } from "./settings";

/** The server's command (executeCommand); the extension's own command ids differ from it. */
export const SERVER_FIX_ALL_COMMAND = "perf-lsp.applyFixAll";
export const FIX_ALL_KIND = "source.fixAll.perf-lsp";

/** The extension's commands (package.json `contributes.commands`). */
export const COMMANDS = {
  restart: "perf-lsp.restart",
  fixAll: "perf-lsp.fixAllInFile",
  showOutput: "perf-lsp.showOutput",
} as const;

/** A running language client (vscode-languageclient behind it in the extension, a fake in the tests). */
export interface ServerClient {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `workspace/didChangeConfiguration` with these settings. */
  sendSettings(settings: ServerSettings): Promise<void>;
  /** `workspace/executeCommand`. */
  executeCommand(command: string, args: unknown[]): Promise<unknown>;
}

export interface ClientOptions {
  server: ServerCommand;
  initializationOptions: ServerSettings;
  /** The settings now, for the server's `workspace/configuration` requests. */
  settings: () => ServerSettings;
}

export type ClientFactory = (options: ClientOptions) => ServerClient;

/** What a configuration change event tells: `event.affectsConfiguration(section)`. */
export type AffectsConfiguration = (section: string) => boolean;

export class Controller {
  private client: ServerClient | undefined;
  private interpreter: Interpreter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private pythonListener: Disposable | undefined;
  private disposed = false;

  constructor(
    private readonly host: Host,
    private readonly createClient: ClientFactory,
  ) {}

  /** Whether a server runs now (for tests and the fix-all command). */
  get running(): boolean {
    return this.client !== undefined;
  }

  get currentInterpreter(): Interpreter | undefined {
    return this.interpreter;
  }

  /** Run `task` after every earlier start/stop/restart, so that they never overlap. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Start the server; resolves to whether it runs. On a missing perf_lsp the user is told how to install it. */
  start(): Promise<boolean> {
    return this.serial(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serial(() => this.doStop());
  }

  restart(reason: string): Promise<boolean> {
    return this.serial(async () => {
      this.host.log(`Restarting the server: ${reason}`);
      await this.doStop();
      return this.doStart();
    });
  }

  private async doStart(): Promise<boolean> {
    if (this.disposed) {
      return false;
    }
    await this.watchPythonExtension();
    const interpreter = await chooseInterpreter(this.host);
    this.interpreter = interpreter;
    const cwd = this.host.workspaceFolder()?.fsPath;
    this.host.log(`Python: ${shellQuote(interpreter.command)} (from ${describe(interpreter)})`);
    const check = await checkPerfLsp(this.host, interpreter, cwd);
    if (!check.ok) {
      void reportCheckFailure(this.host, interpreter, check);
      return false;
    }
    const server = serverCommand(interpreter.command, cwd);
    const initializationOptions = serverSettings(this.host);
    this.host.log(`Starting ${shellQuote([server.command, ...server.args])} with settings ${JSON.stringify(initializationOptions)}`);
    const client = this.createClient({ server, initializationOptions, settings: () => serverSettings(this.host) });
    try {
      await client.start();
    } catch (error) {
      const message = `perf-lsp: the server did not start: ${errorText(error)}`;
      this.host.log(message);
      void this.host.showError(message, "Show Output").then((choice) => choice && this.host.showOutput());
      await client.stop().catch(() => undefined);
      return false;
    }
    this.client = client;
    return true;
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop();
      } catch (error) {
        this.host.log(`Stopping the server: ${errorText(error)}`);
      }
    }
  }

  /** Subscribe once to the Python extension's interpreter changes (it may be installed after us). */
  private async watchPythonExtension(): Promise<void> {
    if (this.pythonListener) {
      return;
    }
    let exports: unknown;
    try {
      exports = await this.host.pythonExtensionExports();
    } catch {
      return;
    }
    if (exports !== undefined) {
      this.pythonListener = onPythonInterpreterChange(exports, () => this.onPythonInterpreterChanged());
    }
  }

  /**
   * A settings change: a new interpreter restarts the server; any other perf-lsp setting
   * goes to the running server as `workspace/didChangeConfiguration` (no restart).
   */
  async onConfigurationChanged(affects: AffectsConfiguration): Promise<void> {
    if (affects(`${SECTION}.interpreter`)) {
      await this.restart("perf-lsp.interpreter changed");
      return;
    }
    if (affects(SECTION) && this.client) {
      const settings = serverSettings(this.host);
      this.host.log(`Settings changed: ${JSON.stringify(settings)}`);
      await this.client.sendSettings(settings);
    }
  }

  /** The Python extension selected another interpreter: restart when that changes the server's Python. */
  async onPythonInterpreterChanged(): Promise<boolean> {
    const next = await chooseInterpreter(this.host);
    if (this.interpreter && sameCommand(next.command, this.interpreter.command)) {
      return false;
    }
    await this.restart(`the Python extension's interpreter is now ${shellQuote(next.command)}`);
    return true;
  }

  /** "perf-lsp: Fix All in This File": the server's fix-all on the active Python document. */
  async fixAllInActiveFile(): Promise<void> {
    const doc = this.host.activeDocument();
    if (!doc || doc.languageId !== "python") {
      this.host.showInfo("perf-lsp: open a Python file to fix.");
      return;
    }
    if (!this.client) {
      void this.host.showError("perf-lsp: the server is not running (see the output).", "Show Output").then(
        (choice) => choice && this.host.showOutput(),
      );
      return;
    }
    const applied = await this.client.executeCommand(SERVER_FIX_ALL_COMMAND, [doc.uri]);
    if (applied === false) {
      this.host.showInfo("perf-lsp: nothing to fix in this file.");
    } else if (applied !== true) {
      this.host.log(`${SERVER_FIX_ALL_COMMAND} returned ${JSON.stringify(applied)}`);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.pythonListener?.dispose();
    await this.stop();
  }
}

function describe(interpreter: Interpreter): string {
  switch (interpreter.source) {
    case "setting":
      return "perf-lsp.interpreter";
    case "python-extension":
      return "the Python extension";
    default:
      return "the default; set perf-lsp.interpreter to choose another";
  }
}

function sameCommand(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
