/**
 * Which Python runs the server: `perf-lsp.interpreter`, else the Python extension's
 * active interpreter, else `python3`.
 */

import type { Disposable, Host } from "./host";
import { explicitValue } from "./settings";

export type InterpreterSource = "setting" | "python-extension" | "default";

export interface Interpreter {
  /** The command that runs Python: `[path]` or a longer command (`["uv", "run", "python"]`). */
  command: string[];
  source: InterpreterSource;
}

export const DEFAULT_PYTHON = "python3";

/** `perf-lsp.interpreter` as a command, or undefined when it is unset or empty. */
export function interpreterFromSetting(value: unknown, workspaceFolder: string | undefined, home: string): string[] | undefined {
  let parts: string[];
  if (typeof value === "string") {
    parts = value.trim() ? [value.trim()] : [];
  } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    parts = (value as string[]).filter((v) => v.length > 0);
  } else {
    return undefined;
  }
  if (parts.length === 0) {
    return undefined;
  }
  return parts.map((part) => expand(part, workspaceFolder, home));
}

function expand(part: string, workspaceFolder: string | undefined, home: string): string {
  let out = part;
  if (workspaceFolder !== undefined) {
    out = out.split("${workspaceFolder}").join(workspaceFolder);
  }
  out = out.split("${userHome}").join(home);
  if (out === "~" || out.startsWith("~/")) {
    out = home + out.slice(1);
  }
  return out;
}

interface EnvironmentPath {
  id?: string;
  path?: string;
}

interface PythonEnvironments {
  getActiveEnvironmentPath(resource?: unknown): EnvironmentPath | undefined;
  resolveEnvironment?(env: EnvironmentPath | string): Promise<{ executable?: { uri?: { fsPath?: string } } } | undefined>;
  onDidChangeActiveEnvironmentPath?(listener: (event: unknown) => unknown): Disposable;
}

function environments(exports: unknown): PythonEnvironments | undefined {
  const envs = (exports as { environments?: unknown } | undefined)?.environments as PythonEnvironments | undefined;
  return envs && typeof envs.getActiveEnvironmentPath === "function" ? envs : undefined;
}

/**
 * The active interpreter of the Python extension (its `exports.environments` API), or undefined
 * when the API is missing, fails, or names no executable.
 */
export async function interpreterFromPythonExtension(
  exports: unknown,
  resource: unknown,
  log: (line: string) => void = () => undefined,
): Promise<string[] | undefined> {
  const envs = environments(exports);
  if (!envs) {
    return undefined;
  }
  try {
    const active = envs.getActiveEnvironmentPath(resource);
    if (!active) {
      return undefined;
    }
    if (typeof envs.resolveEnvironment === "function") {
      const resolved = await envs.resolveEnvironment(active);
      const executable = resolved?.executable?.uri?.fsPath;
      if (executable) {
        return [executable];
      }
    }
    // Unresolved: `path` is the executable for an interpreter, a folder for some environments.
    return active.path ? [active.path] : undefined;
  } catch (error) {
    log(`Python extension: cannot get the active interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Subscribe to the Python extension's interpreter changes; undefined when its API has no such event. */
export function onPythonInterpreterChange(exports: unknown, listener: () => unknown): Disposable | undefined {
  const envs = environments(exports);
  if (!envs || typeof envs.onDidChangeActiveEnvironmentPath !== "function") {
    return undefined;
  }
  try {
    return envs.onDidChangeActiveEnvironmentPath(() => listener());
  } catch {
    return undefined;
  }
}

/** The interpreter to run the server with, and where the choice came from. */
export async function chooseInterpreter(host: Host): Promise<Interpreter> {
  const folder = host.workspaceFolder();
  const fromSetting = interpreterFromSetting(explicitValue(host.inspectSetting("interpreter")), folder?.fsPath, host.homeDir());
  if (fromSetting) {
    return { command: fromSetting, source: "setting" };
  }
  let exports: unknown;
  try {
    exports = await host.pythonExtensionExports();
  } catch (error) {
    host.log(`Python extension: cannot activate it: ${String(error)}`);
  }
  if (exports !== undefined) {
    const fromExtension = await interpreterFromPythonExtension(exports, folder?.uri, (line) => host.log(line));
    if (fromExtension) {
      return { command: fromExtension, source: "python-extension" };
    }
  }
  return { command: [DEFAULT_PYTHON], source: "default" };
}
