/**
 * What the extension needs from VS Code, as plain types.
 *
 * `vscodeApi.ts` is the only module that imports `vscode`; it implements `Host`.
 * Everything else (settings mapping, interpreter choice, launch, the controller)
 * takes a `Host`, so the unit tests run it in plain node against a stub.
 */

/** The result of `WorkspaceConfiguration.inspect` for one key (language-specific values are not used). */
export interface SettingInspection<T = unknown> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface Disposable {
  dispose(): unknown;
}

export interface WorkspaceFolder {
  /** The folder's path on disk. */
  fsPath: string;
  /** The folder's `vscode.Uri`, handed back to VS Code APIs (opaque here). */
  uri: unknown;
}

export interface RunResult {
  /** Exit code; null when the process was killed (timeout) or could not be started. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The spawn error (e.g. `ENOENT`: no such interpreter), when the process could not be started. */
  error?: { code?: string; message: string };
}

export interface ActiveDocument {
  uri: string;
  languageId: string;
}

export interface Host {
  /** `workspace.getConfiguration("perf-lsp", folder).inspect(key)`. */
  inspectSetting<T = unknown>(key: string): SettingInspection<T> | undefined;
  /** The first workspace folder, if a folder is open. */
  workspaceFolder(): WorkspaceFolder | undefined;
  /** The user's home directory, for `~` in `perf-lsp.interpreter`. */
  homeDir(): string;
  /** The Python extension's exports (activated first) when `ms-python.python` is installed, else undefined. */
  pythonExtensionExports(): Promise<unknown>;
  /** Run a program to completion (no shell). */
  run(command: string, args: string[], options: { timeoutMs: number; cwd?: string }): Promise<RunResult>;
  /** An error notification with buttons; resolves to the button chosen. */
  showError(message: string, ...actions: string[]): Promise<string | undefined>;
  showInfo(message: string): void;
  /** A line in the "perf-lsp" output channel. */
  log(line: string): void;
  showOutput(): void;
  /** Open the Settings editor filtered by `query`. */
  openSettings(query: string): void;
  copyToClipboard(text: string): Promise<void>;
  activeDocument(): ActiveDocument | undefined;
}
