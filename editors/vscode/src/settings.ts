/**
 * The `perf-lsp.*` settings -> the server's settings object
 * (`initializationOptions`, `workspace/didChangeConfiguration`, `workspace/configuration`).
 */

import type { Host, SettingInspection } from "./host";

/** The settings section; also the server's `workspace/configuration` section. */
export const SECTION = "perf-lsp";

/** The keys the server reads (`perf_lsp/settings.py` `_LSP_KEYS`); the VS Code setting is `perf-lsp.<key>`. */
export const SERVER_KEYS = [
  "select",
  "ignore",
  "unsafeFixes",
  "severity",
  "debounceMs",
  "extendHeavyConstructors",
  "extendClients",
  "extendBatchableMethods",
  "extendBlockingCalls",
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];
export type ServerSettings = Partial<Record<ServerKey, unknown>>;

/** The value the user set (folder over workspace over user settings), or undefined when only the default applies. */
export function explicitValue<T>(inspection: SettingInspection<T> | undefined): T | undefined {
  if (!inspection) {
    return undefined;
  }
  for (const value of [inspection.workspaceFolderValue, inspection.workspaceValue, inspection.globalValue]) {
    if (value !== undefined && value !== null) {
      return value;
    }
  }
  return undefined;
}

/**
 * The server settings: only the keys the user set.
 *
 * The server lays client settings over the project's `pyproject.toml` `[tool.perf-lsp]`;
 * sending the defaults of unset keys would hide the project's values, so they are left out.
 * The values go as they are: the server checks them and shows a message naming a bad one.
 */
export function serverSettings(host: Pick<Host, "inspectSetting">): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = explicitValue(host.inspectSetting(key));
    if (value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

/** Whether `a` and `b` are the same JSON value (for "did the server settings change"). */
export function sameSettings(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(canonical);
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
