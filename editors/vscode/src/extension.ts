/** Entry point: wires the controller to VS Code. */

import { languageClientFactory } from "./client";
import { COMMANDS, Controller } from "./controller";
import { createHost, createOutputChannel, ExtensionContext, onDidChangeConfiguration, registerCommand } from "./vscodeApi";

let controller: Controller | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
  const output = createOutputChannel();
  const host = createHost(output);
  controller = new Controller(host, languageClientFactory(output));
  const c = controller;
  context.subscriptions.push(
    output,
    registerCommand(COMMANDS.restart, () => c.restart("requested")),
    registerCommand(COMMANDS.fixAll, () => c.fixAllInActiveFile()),
    registerCommand(COMMANDS.showOutput, () => host.showOutput()),
    onDidChangeConfiguration((affects) => c.onConfigurationChanged(affects)),
  );
  await c.start();
}

export async function deactivate(): Promise<void> {
  await controller?.dispose();
  controller = undefined;
}
