/**
 * The real `ServerClient`: vscode-languageclient over the server's stdio.
 *
 * The client registers the server's code action kinds (`quickfix`, `source.fixAll.perf-lsp`),
 * so `"editor.codeActionsOnSave": {"source.fixAll.perf-lsp": "explicit"}` reaches the server,
 * and the server's command `perf-lsp.applyFixAll` (our commands use other ids).
 */

import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from "vscode-languageclient/node";
import type { ClientFactory, ServerClient } from "./controller";
import { DOCUMENT_SELECTOR } from "./selector";
import { SECTION } from "./settings";
import type { OutputChannel } from "./vscodeApi";

export function languageClientFactory(output: OutputChannel): ClientFactory {
  return ({ server, initializationOptions, settings }): ServerClient => {
    const serverOptions: ServerOptions = {
      command: server.command,
      args: server.args,
      options: { cwd: server.cwd },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      initializationOptions,
      outputChannel: output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        workspace: {
          // The server pulls section "perf-lsp" when a didChangeConfiguration carries no settings:
          // answer with the same object as initializationOptions (only what the user set).
          configuration: async (params, token, next) => {
            const items = params.items;
            const ours = items.map((item) => item.section === SECTION);
            if (ours.every(Boolean)) {
              return items.map(() => settings());
            }
            const theirs = await next(params, token);
            if (!Array.isArray(theirs)) {
              return theirs;
            }
            return theirs.map((value, i) => (ours[i] ? settings() : value));
          },
        },
      },
    };
    const client = new LanguageClient("perf-lsp", "perf-lsp", serverOptions, clientOptions);
    return {
      start: () => client.start(),
      stop: async () => {
        if (client.needsStop()) {
          await client.stop(5000);
        }
      },
      sendSettings: (value) => client.sendNotification(DidChangeConfigurationNotification.type, { settings: value }),
      executeCommand: (command, args) => client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }),
    };
  };
}
