import assert from "node:assert/strict";
import { test } from "node:test";
import pkg from "../../package.json";
import { DOCUMENT_SELECTOR, NOTEBOOK_TYPE } from "../../src/selector";

test("the client serves Python files and the Python cells of Jupyter notebooks", () => {
  assert.deepEqual(DOCUMENT_SELECTOR, [
    { scheme: "file", language: "python" },
    { scheme: "untitled", language: "python" },
    { scheme: "vscode-notebook-cell", language: "python" },
    { notebook: "jupyter-notebook", language: "python" },
  ]);
  // the notebook type the server's notebookSelector names (perf_lsp/lsp/server.py NOTEBOOK_SYNC)
  assert.equal(NOTEBOOK_TYPE, "jupyter-notebook");
});

test("the extension starts for a notebook as for a Python file", () => {
  assert.ok(pkg.activationEvents.includes("onLanguage:python"));
  assert.ok(pkg.activationEvents.includes(`onNotebook:${NOTEBOOK_TYPE}`));
});
