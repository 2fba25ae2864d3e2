/**
 * How the server is started, and the check before it: does the chosen Python have perf_lsp?
 */

import type { Host } from "./host";
import type { Interpreter } from "./interpreter";

export interface ServerCommand {
  command: string;
  args: string[];
  cwd?: string;
}

/** `<python> -m perf_lsp serve`. */
export function serverCommand(python: string[], cwd?: string): ServerCommand {
  return { command: python[0], args: [...python.slice(1), "-m", "perf_lsp", "serve"], cwd };
}

/** A command line as a user would type it (for messages and the log). */
export function shellQuote(parts: string[]): string {
  return parts.map((p) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** The command that installs perf-lsp into `python`. */
export function installCommand(python: string[]): string {
  return `${shellQuote(python)} -m pip install perf-lsp`;
}

export type CheckResult =
  | { ok: true }
  | { ok: false; reason: "no-interpreter" | "not-installed" | "broken"; message: string; detail: string };

const CHECK_TIMEOUT_MS = 30_000;

export const SHOW_OUTPUT = "Show Output";
export const OPEN_SETTINGS = "Open Settings";
export const COPY_INSTALL = "Copy Install Command";

/** Run `<python> -c "import perf_lsp"` and say what is wrong, in words a user can act on. */
export async function checkPerfLsp(host: Host, interpreter: Interpreter, cwd?: string): Promise<CheckResult> {
  const python = interpreter.command;
  const shown = shellQuote(python);
  const where =
    interpreter.source === "setting"
      ? " (the setting perf-lsp.interpreter)"
      : interpreter.source === "python-extension"
        ? " (the Python extension's selected interpreter)"
        : "";
  const result = await host.run(python[0], [...python.slice(1), "-c", "import perf_lsp"], { timeoutMs: CHECK_TIMEOUT_MS, cwd });
  if (result.code === 0) {
    return { ok: true };
  }
  const detail = (result.error?.message ?? result.stderr).trim();
  if (result.error && (result.error.code === "ENOENT" || result.error.code === "EACCES")) {
    return {
      ok: false,
      reason: "no-interpreter",
      detail,
      message:
        `perf-lsp: cannot run the Python interpreter ${shown}${where}: ${result.error.code === "ENOENT" ? "not found" : "permission denied"}. ` +
        `Set "perf-lsp.interpreter" to a Python that has perf-lsp installed, then run "perf-lsp: Restart Server".`,
    };
  }
  if (/No module named ['"]?perf_lsp/.test(result.stderr)) {
    return {
      ok: false,
      reason: "not-installed",
      detail,
      message:
        `perf-lsp: the Python package perf-lsp is not installed in ${shown}${where}. ` +
        `Install it with: ${installCommand(python)} (or, in a clone of the perf-lsp repository: ` +
        `${shown} -m pip install -e .), or set "perf-lsp.interpreter" to a Python that has it; ` +
        `then run "perf-lsp: Restart Server".`,
    };
  }
  const last = detail.split("\n").filter((l) => l.trim()).pop() ?? (result.code === null ? "timed out" : `exit code ${result.code}`);
  return {
    ok: false,
    reason: "broken",
    detail,
    message: `perf-lsp: ${shown} -c "import perf_lsp" failed: ${last}. See the output for details.`,
  };
}

/** Tell the user why the server did not start, with buttons that help; never silent. */
export async function reportCheckFailure(host: Host, interpreter: Interpreter, failure: Exclude<CheckResult, { ok: true }>): Promise<void> {
  host.log(failure.message);
  if (failure.detail) {
    host.log(failure.detail);
  }
  const actions = failure.reason === "not-installed" ? [COPY_INSTALL, OPEN_SETTINGS, SHOW_OUTPUT] : [OPEN_SETTINGS, SHOW_OUTPUT];
  const choice = await host.showError(failure.message, ...actions);
  if (choice === SHOW_OUTPUT) {
    host.showOutput();
  } else if (choice === OPEN_SETTINGS) {
    host.openSettings("perf-lsp.interpreter");
  } else if (choice === COPY_INSTALL) {
    await host.copyToClipboard(installCommand(interpreter.command));
  }
}
