-- perf-lsp for Neovim 0.11+: a config for vim.lsp.config(), picked up from `lsp/` on the runtimepath.
--
--   vim.lsp.enable("perf_lsp")
--
-- Override anything with vim.lsp.config("perf_lsp", {...}); it is merged over this table:
--
--   vim.lsp.config("perf_lsp", {
--     -- another interpreter (a virtualenv that has perf_lsp installed):
--     cmd = { vim.fn.expand("~/venvs/app/bin/python"), "-m", "perf_lsp", "serve" },
--     settings = { ["perf-lsp"] = { ignore = { "PFL401" }, unsafeFixes = false } },
--   })
--
-- Or set vim.g.perf_lsp_python = "/path/to/python" before the server starts.
--
-- Settings go under settings["perf-lsp"] (see editors/neovim/README.md for the keys). They are sent as
-- initializationOptions at start-up and as workspace/didChangeConfiguration, and the server answers
-- workspace/configuration pulls for the "perf-lsp" section from them. Leave them out to use the project's
-- pyproject.toml [tool.perf-lsp] table: client settings override it key by key.

---@type vim.lsp.Config
return {
  cmd = { vim.g.perf_lsp_python or "python3", "-m", "perf_lsp", "serve" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.cfg", ".git" },
  settings = {},
  on_exit = function(code, signal)
    if code ~= 0 and signal == 0 then
      vim.schedule(function()
        local cmd = (vim.lsp.config.perf_lsp or {}).cmd
        cmd = type(cmd) == "table" and table.concat(cmd, " ") or "python3 -m perf_lsp serve"
        vim.notify(("perf-lsp: the server exited with code %d. Is perf_lsp installed for that interpreter? "
          .. "Run `%s` in a terminal to see why, and install it with "
          .. "`<python> -m pip install <path to a perf-lsp checkout>`."):format(code, cmd), vim.log.levels.ERROR)
      end)
    end
  end,
  before_init = function(params, config)
    -- initializationOptions: the perf-lsp settings, unless init_options were given explicitly.
    local settings = config.settings and config.settings["perf-lsp"]
    if params.initializationOptions == nil and type(settings) == "table" and next(settings) ~= nil then
      params.initializationOptions = settings
    end
  end,
}
