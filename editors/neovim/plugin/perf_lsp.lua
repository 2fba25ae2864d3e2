-- perf-lsp: user commands, available as soon as this directory is on the runtimepath.
-- Starting the server is up to you: vim.lsp.enable("perf_lsp") (0.11+) or require("perf_lsp").setup() (0.7-0.10).
if vim.g.loaded_perf_lsp then
  return
end
vim.g.loaded_perf_lsp = true

vim.api.nvim_create_user_command("PerfLspFixAll", function()
  require("perf_lsp").fix_all()
end, { desc = "perf-lsp: apply every safe fix in this buffer (source.fixAll.perf-lsp)" })
