/**
 * The one module that imports `vscode`: the `Host` of the extension, and the few
 * registration calls `extension.ts` needs. Keep it thin; logic belongs in the
 * modules that take a `Host` (they are unit tested against a stub).
 */

import { execFile } from "node:child_process";
import * as os from "node:os";
import * as vscode from "vscode";
import type { ActiveDocument, Disposable, Host, RunResult, SettingInspection, WorkspaceFolder } from "./host";
import { SECTION } from "./settings";

export type ExtensionContext = vscode.ExtensionContext;
export type OutputChannel = vscode.LogOutputChannel;

const PYTHON_EXTENSION = "ms-python.python";

export function createOutputChannel(): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel("perf-lsp", { log: true });
}

export function createHost(output: vscode.LogOutputChannel): Host {
  const folderUri = (): vscode.Uri | undefined => vscode.workspace.workspaceFolders?.[0]?.uri;
  return {
    inspectSetting<T>(key: string): SettingInspection<T> | undefined {
      return vscode.workspace.getConfiguration(SECTION, folderUri()).inspect<T>(key);
    },
    workspaceFolder(): WorkspaceFolder | undefined {
      const uri = folderUri();
      return uri && uri.scheme === "file" ? { fsPath: uri.fsPath, uri } : undefined;
    },
    homeDir: () => os.homedir(),
    async pythonExtensionExports(): Promise<unknown> {
      const extension = vscode.extensions.getExtension(PYTHON_EXTENSION);
      if (!extension) {
        return undefined;
      }
      return extension.isActive ? extension.exports : await extension.activate();
    },
    run(command: string, args: string[], options: { timeoutMs: number; cwd?: string }): Promise<RunResult> {
      return new Promise((resolve) => {
        execFile(command, args, { timeout: options.timeoutMs, cwd: options.cwd, encoding: "utf8" }, (error, stdout, stderr) => {
          if (!error) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const failure = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
          if (typeof failure.code === "number") {
            resolve({ code: failure.code, stdout, stderr });
          } else {
            resolve({ code: null, stdout, stderr, error: { code: failure.code, message: failure.message } });
          }
        });
      });
    },
    showError: (message, ...actions) => Promise.resolve(vscode.window.showErrorMessage(message, ...actions)),
    showInfo: (message) => void vscode.window.showInformationMessage(message),
    log: (line) => output.info(line),
    showOutput: () => output.show(true),
    openSettings: (query) => void vscode.commands.executeCommand("workbench.action.openSettings", query),
    copyToClipboard: async (text) => {
      await vscode.env.clipboard.writeText(text);
    },
    activeDocument(): ActiveDocument | undefined {
      const doc = vscode.window.activeTextEditor?.document;
      return doc ? { uri: doc.uri.toString(), languageId: doc.languageId } : undefined;
    },
  };
}

export function registerCommand(id: string, run: () => unknown): Disposable {
  return vscode.commands.registerCommand(id, run);
}

export function onDidChangeConfiguration(listener: (affects: (section: string) => boolean) => unknown): Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => listener((section) => event.affectsConfiguration(section)));
}
