/** A `Host` stub: settings from a plain object, recorded messages, scripted process results. */

import type { Host, RunResult, SettingInspection } from "../../src/host";

export interface StubOptions {
  /** `perf-lsp.<key>` -> inspection; values under `global` are the user's settings. */
  settings?: Record<string, SettingInspection>;
  folder?: string;
  pythonExports?: unknown;
  /** Result of running a command line (joined with spaces); default: exit 0. */
  run?: (command: string, args: string[]) => RunResult;
  /** The button the user "clicks" on an error notification. */
  choose?: string;
  activeDocument?: { uri: string; languageId: string };
}

export interface StubHost extends Host {
  errors: { message: string; actions: string[] }[];
  infos: string[];
  logs: string[];
  runs: string[][];
  opened: string[];
  clipboard: string[];
  outputShown: number;
  options: StubOptions;
}

export function stubHost(options: StubOptions = {}): StubHost {
  const host: StubHost = {
    errors: [],
    infos: [],
    logs: [],
    runs: [],
    opened: [],
    clipboard: [],
    outputShown: 0,
    options,
    inspectSetting<T>(key: string) {
      return (options.settings ?? {})[key] as SettingInspection<T> | undefined;
    },
    workspaceFolder() {
      return options.folder ? { fsPath: options.folder, uri: { fsPath: options.folder, scheme: "file" } } : undefined;
    },
    homeDir: () => "/home/u",
    pythonExtensionExports: async () => options.pythonExports,
    async run(command, args) {
      host.runs.push([command, ...args]);
      return options.run ? options.run(command, args) : { code: 0, stdout: "", stderr: "" };
    },
    async showError(message, ...actions) {
      host.errors.push({ message, actions });
      return options.choose;
    },
    showInfo: (message) => void host.infos.push(message),
    log: (line) => void host.logs.push(line),
    showOutput: () => void host.outputShown++,
    openSettings: (query) => void host.opened.push(query),
    copyToClipboard: async (text) => void host.clipboard.push(text),
    activeDocument: () => options.activeDocument,
  };
  return host;
}

/** Let pending promise callbacks (fire-and-forget notifications) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
