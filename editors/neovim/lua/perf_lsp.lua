-- perf-lsp for Neovim 0.7-0.10 (works on 0.11+ too, where lsp/perf_lsp.lua + vim.lsp.enable is the usual way).
--
--   require("perf_lsp").setup({
--     python = "python3",                          -- interpreter that has perf_lsp installed
--     settings = { ignore = { "PFL401" } },        -- perf-lsp settings (see README.md)
--   })
--
-- setup() starts the server for every Python buffer (FileType python), one client per project root (the
-- nearest directory with pyproject.toml, setup.cfg or .git; else the file's directory), and defines
-- :PerfLspFixAll. On 0.8+ it uses vim.lsp.start; on 0.7 vim.lsp.start_client + vim.lsp.buf_attach_client.

local M = {}

M.name = "perf_lsp"
M.fix_all_kind = "source.fixAll.perf-lsp"

M.defaults = {
  -- Interpreter with perf_lsp installed (`python -m perf_lsp serve`); ignored when `cmd` is given.
  python = nil, -- nil: vim.g.perf_lsp_python, else "python3"
  cmd = nil, -- full command, e.g. { "perf-lsp", "serve" }
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.cfg", ".git" },
  -- perf-lsp settings, flat: { select = {...}, ignore = {...}, unsafeFixes = false, severity = {...}, ... }.
  -- Sent as initializationOptions and as workspace/didChangeConfiguration { settings = { ["perf-lsp"] = ... } }.
  settings = {},
  on_attach = nil, -- function(client, bufnr)
  capabilities = nil, -- default: vim.lsp.protocol.make_client_capabilities()
  autostart = true, -- start on FileType; false: call require("perf_lsp").start() yourself
  fix_all_timeout_ms = 5000,
}

M.options = nil

local function has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

local function notify(msg, level)
  vim.notify("perf-lsp: " .. msg, level or vim.log.levels.INFO)
end

--- The command that starts the server.
function M.cmd(opts)
  opts = opts or M.options or M.defaults
  if opts.cmd then
    return opts.cmd
  end
  return { opts.python or vim.g.perf_lsp_python or "python3", "-m", "perf_lsp", "serve" }
end

local function dirname(path)
  return vim.fn.fnamemodify(path, ":h")
end

--- The project root of `path`: the nearest directory at or above it holding one of `markers`.
function M.find_root(path, markers)
  markers = markers or M.defaults.root_markers
  local start = vim.fn.isdirectory(path) == 1 and path or dirname(path)
  if vim.fs and vim.fs.find then -- 0.8+
    local found = vim.fs.find(markers, { path = start, upward = true })[1]
    return found and dirname(found) or nil
  end
  local dir = start -- 0.7: walk up by hand
  while true do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = dirname(dir)
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

local function settings_table(opts)
  local settings = opts.settings or {}
  if next(settings) == nil then
    return nil
  end
  return settings
end

--- The client config for a buffer's root (what vim.lsp.start / start_client receive).
function M.client_config(root, opts)
  opts = opts or M.options or M.defaults
  local settings = settings_table(opts)
  return {
    name = M.name,
    cmd = M.cmd(opts),
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = settings,
    settings = settings and { ["perf-lsp"] = settings } or {},
    capabilities = opts.capabilities or vim.lsp.protocol.make_client_capabilities(),
    on_attach = opts.on_attach,
    on_exit = function(code, signal)
      if code ~= 0 and signal == 0 then
        local cmd = table.concat(M.cmd(opts), " ")
        vim.schedule(function()
          notify(("the server exited with code %d. Is perf_lsp installed for that interpreter? Run `%s` in a "
            .. "terminal to see why, and install it with `<python> -m pip install "
            .. "<path to a perf-lsp checkout>`, or point `python` in setup() at the right interpreter.")
            :format(code, cmd), vim.log.levels.ERROR)
        end)
      end
    end,
  }
end

-- 0.7: one client per root, reused across buffers.
local clients_by_root = {}
-- commands already reported as not executable (said once, not for every Python buffer)
local warned = {}

--- Start (or reuse) the server for `bufnr` and attach it. Returns the client id, or nil.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local opts = M.options or M.defaults
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local path = vim.fn.fnamemodify(name, ":p")
  local root = M.find_root(path, opts.root_markers) or dirname(path)
  local config = M.client_config(root, opts)
  if vim.fn.executable(config.cmd[1]) ~= 1 then
    if warned[config.cmd[1]] then
      return nil
    end
    warned[config.cmd[1]] = true
    notify(("cannot start the server: %q is not executable (set `python` or `cmd` in setup())"):format(config.cmd[1]),
      vim.log.levels.ERROR)
    return nil
  end
  if vim.lsp.start then -- 0.8+
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients_by_root[root]
  -- (0.7's vim.lsp.client_is_stopped() is also true while a client initializes: ask the client itself)
  local running = id and vim.lsp.get_client_by_id(id)
  if not running or running.is_stopped() then
    id = vim.lsp.start_client(config)
    if id == nil then
      notify("the server failed to start: " .. table.concat(config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    clients_by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- The perf-lsp client attached to `bufnr`, or nil.
function M.get_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients
  if vim.lsp.get_clients then -- 0.10+
    clients = vim.lsp.get_clients({ bufnr = bufnr, name = M.name })
  else
    clients = vim.tbl_values(vim.lsp.buf_get_clients(bufnr))
  end
  for _, client in ipairs(clients) do
    if client.name == M.name then
      return client
    end
  end
  return nil
end

local function request_sync(client, method, params, timeout_ms, bufnr)
  if has("0.11") then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

--- Apply a code action: resolve its edit first when the server left it out, then its edit and command.
--- Returns true when something was applied.
function M.apply_code_action(client, action, bufnr, timeout_ms)
  timeout_ms = timeout_ms or 5000
  if action.edit == nil and action.command == nil and action.data ~= nil then
    local response, err = request_sync(client, "codeAction/resolve", action, timeout_ms, bufnr)
    if response == nil or response.err then
      notify("codeAction/resolve failed: " .. vim.inspect(err or response.err), vim.log.levels.ERROR)
      return false
    end
    action = response.result or action
  end
  local applied = false
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
    applied = true
  end
  local command = action.command
  if type(command) == "table" then
    if type(command.command) == "table" then -- a Command nested in a CodeAction
      command = command.command
    end
    request_sync(client, "workspace/executeCommand", command, timeout_ms, bufnr)
    applied = true
  end
  return applied
end

--- Fix all: request the `source.fixAll.perf-lsp` code action for the buffer and apply it (synchronously,
--- so it can run in BufWritePre). Safe fixes only, unless the unsafeFixes setting is on.
--- Returns true when the buffer was changed.
function M.fix_all(opts)
  opts = opts or {}
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  local timeout_ms = opts.timeout_ms or (M.options or M.defaults).fix_all_timeout_ms
  local client = M.get_client(bufnr)
  if client == nil then
    if not opts.silent then
      notify("no perf-lsp client is attached to this buffer", vim.log.levels.WARN)
    end
    return false
  end
  local last = vim.api.nvim_buf_line_count(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = { line = 0, character = 0 }, ["end"] = { line = last, character = 0 } },
    context = { only = { M.fix_all_kind }, diagnostics = {} },
  }
  local response, err = request_sync(client, "textDocument/codeAction", params, timeout_ms, bufnr)
  if response == nil or response.err then
    notify("fix-all request failed: " .. vim.inspect(err or (response and response.err)), vim.log.levels.ERROR)
    return false
  end
  for _, action in ipairs(response.result or {}) do
    if action.kind == M.fix_all_kind then
      return M.apply_code_action(client, action, bufnr, timeout_ms)
    end
  end
  if not opts.silent then
    notify("nothing to fix")
  end
  return false
end

--- Replace the perf-lsp settings of every running perf-lsp client, live (workspace/didChangeConfiguration;
--- the server re-checks open documents without a restart). `settings` is flat: { ignore = {...}, ... }.
--- Servers started later get them too (through setup()'s options).
function M.update_settings(settings)
  settings = settings or {}
  if M.options then
    M.options.settings = settings
  end
  local wrapped = { ["perf-lsp"] = next(settings) and settings or vim.empty_dict() }
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ name = M.name })
    or vim.tbl_filter(function(c)
      return c.name == M.name
    end, vim.lsp.get_active_clients())
  for _, client in ipairs(clients) do
    client.settings = wrapped -- 0.11+: answers workspace/configuration from here
    client.config.settings = wrapped -- 0.7-0.10
    if has("0.11") then
      client:notify("workspace/didChangeConfiguration", { settings = wrapped })
    else
      client.notify("workspace/didChangeConfiguration", { settings = wrapped })
    end
  end
  return #clients
end

--- The user commands (also defined by plugin/perf_lsp.lua when this directory is on the runtimepath).
function M.create_commands()
  vim.api.nvim_create_user_command("PerfLspFixAll", function()
    M.fix_all()
  end, { desc = "perf-lsp: apply every safe fix in this buffer (source.fixAll.perf-lsp)" })
end

--- Start perf-lsp for Python buffers. `opts`: see M.defaults.
function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", {}, M.defaults, opts or {})
  M.create_commands()
  if not M.options.autostart then
    return
  end
  local group = vim.api.nvim_create_augroup("perf_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.options.filetypes,
    callback = function(args)
      M.start(args.buf)
    end,
  })
  -- buffers that were already open
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.options.filetypes, vim.bo[bufnr].filetype) then
      M.start(bufnr)
    end
  end
end

return M
