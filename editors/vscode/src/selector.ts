/**
 * The documents the language client serves: Python files (saved or untitled) and the Python cells
 * of Jupyter notebooks.
 *
 * Notebook cells are text documents with the `vscode-notebook-cell` scheme; listing them here
 * registers hover, code actions and diagnostics for them. The server advertises notebook document
 * sync for `jupyter-notebook` Python cells, so vscode-languageclient sends each notebook as one
 * `notebookDocument/*` stream (the server checks a notebook's cells together, as one module) and
 * not each cell as a separate `textDocument/didOpen`.
 */
import type { DocumentSelector } from "vscode-languageclient";

export const NOTEBOOK_TYPE = "jupyter-notebook";

export const DOCUMENT_SELECTOR: DocumentSelector = [
  { scheme: "file", language: "python" },
  { scheme: "untitled", language: "python" },
  { scheme: "vscode-notebook-cell", language: "python" },
  { notebook: NOTEBOOK_TYPE, language: "python" },
];
