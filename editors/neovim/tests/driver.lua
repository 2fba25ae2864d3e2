-- End-to-end test of perf-lsp in a real, headless Neovim.
--
--   0.11+: nvim --clean --headless -l tests/driver.lua
--   0.7  : nvim --headless -u NONE -c "luafile tests/driver.lua"
--
-- Environment:
--   PERF_LSP_MODE     "lsp-config": rtp + lsp/perf_lsp.lua + vim.lsp.enable (0.11+)
--                     "setup":      require("perf_lsp").setup() (lua/perf_lsp.lua; any version)
--   PERF_LSP_PYTHON   interpreter that has perf_lsp installed (default python3)
--   PERF_LSP_TIMEOUT  seconds to wait for each condition (default 30)
--   PERF_LSP_OUT      directory where a file that does not match its expected file is saved (default: $TMPDIR)
--
-- Scenario: copy examples/ragservice/ingest.py into a temp project (pyproject.toml marker), open it, wait
-- for perf-lsp's diagnostics, hover one, apply its quick fix (resolving it first if it has no edit), write,
-- compare with tests/expected/ingest.quickfix.py; then fix-all, write, compare with ingest.fixall.py.
-- Then, on fresh copies: the lightbulb's deferred fix-all (resolved by perf_lsp.apply_code_action, and chosen
-- in vim.lsp.buf.code_action()'s menu) and fix-all on save (BufWritePre) give ingest.fixall.py too; and in a
-- second project (.git marker): one client for two buffers, settings applied, update_settings() live.
-- Exits 0 on success, 1 with a "FAIL:" message on any mismatch or timeout.

local function script_dir()
  local source = debug.getinfo(1, "S").source
  return vim.fn.fnamemodify(source:sub(2), ":p:h")
end

local TESTS = script_dir()
local PLUGIN = vim.fn.fnamemodify(TESTS, ":h")
local REPO = vim.fn.fnamemodify(PLUGIN, ":h:h")
local EXAMPLE = REPO .. "/examples/ragservice/ingest.py"
local EXPECTED = TESTS .. "/expected"
local MODE = os.getenv("PERF_LSP_MODE") or "setup"
local PYTHON = os.getenv("PERF_LSP_PYTHON") or "python3"
local TIMEOUT = (tonumber(os.getenv("PERF_LSP_TIMEOUT") or "") or 30) * 1000
local NVIM = ("%d.%d.%d"):format(vim.version().major, vim.version().minor, vim.version().patch)
local FIX_ALL = "source.fixAll.perf-lsp"
-- where a mismatching file is saved for inspection (Neovim deletes its own temp dir on exit)
local OUT = os.getenv("PERF_LSP_OUT") or (vim.loop.os_tmpdir() or "/tmp")

local T0 = vim.loop.hrtime()
local function log(msg)
  io.stdout:write(("[nvim %s %s %5.1fs] %s\n"):format(NVIM, MODE, (vim.loop.hrtime() - T0) / 1e9, msg))
  io.stdout:flush()
end

local Failure = {}
local function fail(msg)
  error(setmetatable({ msg = msg }, Failure), 0)
end

local function check(cond, msg)
  if not cond then
    fail(msg)
  end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("*a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- Wait until cond() is truthy; fail with what() (the state seen) after TIMEOUT.
local function wait_for(what, cond, describe)
  local ok = vim.wait(TIMEOUT, cond, 50)
  if not ok then
    fail(("timeout after %d s waiting for %s%s"):format(TIMEOUT / 1000, what,
      describe and (" (last seen: " .. describe() .. ")") or ""))
  end
end

local function perf_client(buf)
  local clients
  if vim.lsp.get_clients then
    clients = vim.lsp.get_clients({ bufnr = buf })
  else
    clients = vim.tbl_values(vim.lsp.buf_get_clients(buf))
  end
  for _, c in ipairs(clients) do
    if c.name == "perf_lsp" then
      return c
    end
  end
end

local function request(client, method, params, buf)
  local response, err
  if vim.fn.has("nvim-0.11") == 1 then
    response, err = client:request_sync(method, params, TIMEOUT, buf)
  else
    response, err = client.request_sync(method, params, TIMEOUT, buf)
  end
  check(response ~= nil, ("%s: no response (%s)"):format(method, tostring(err)))
  check(response.err == nil, ("%s: error %s"):format(method, vim.inspect(response.err)))
  return response.result
end

local function perf_diagnostics(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == "perf-lsp" then
      table.insert(out, d)
    end
  end
  table.sort(out, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return out
end

local function codes_of(buf)
  local codes = {}
  for _, d in ipairs(perf_diagnostics(buf)) do
    table.insert(codes, ("%s@%d:%d"):format(d.code, d.lnum + 1, d.col + 1))
  end
  return table.concat(codes, " ")
end

--- Wait for exactly these diagnostics ("CODE@line:col", 1-based, in order).
local function wait_diagnostics(buf, expected, when)
  local want = table.concat(expected, " ")
  wait_for(("diagnostics %s %s"):format(want, when), function()
    return codes_of(buf) == want
  end, function()
    return codes_of(buf) == "" and "no perf-lsp diagnostics" or codes_of(buf)
  end)
  log(("diagnostics %s: %s"):format(when, want))
end

local function unified_diff(a, b)
  if vim.diff then
    return vim.diff(a, b, { result_type = "unified", ctxlen = 2 })
  end
  return "(no vim.diff in this version)"
end

local function compare_file(path, expected_name)
  local expected_path = EXPECTED .. "/" .. expected_name
  local expected = read(expected_path)
  local actual = read(path) or ""
  if actual ~= expected then
    vim.fn.mkdir(OUT, "p")
    local saved = ("%s/actual-nvim-%s-%s-%s"):format(OUT, NVIM, MODE, expected_name)
    write(saved, actual)
    if expected == nil then
      fail(("expected file is missing: %s (actual saved to %s)"):format(expected_path, saved))
    end
    fail(("%s differs from %s (actual saved to %s):\n%s"):format(path, expected_path, saved,
      unified_diff(expected, actual)))
  end
  log("file matches " .. expected_name)
end

local function lsp_diagnostic(d)
  local lsp = d.user_data and d.user_data.lsp or {}
  return {
    range = {
      start = { line = d.lnum, character = d.col },
      ["end"] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
    },
    severity = d.severity,
    code = d.code,
    source = d.source,
    message = d.message,
    data = lsp.data,
  }
end

local function main()
  log("plugin dir " .. PLUGIN .. ", python " .. PYTHON)
  check(vim.fn.filereadable(EXAMPLE) == 1, "example missing: " .. EXAMPLE)

  -- a project: a temp dir with a root marker and a copy of the example
  local project = vim.fn.tempname() .. "-perf-lsp-e2e"
  vim.fn.mkdir(project .. "/pkg", "p")
  write(project .. "/pyproject.toml", '[project]\nname = "nvim-e2e"\nversion = "0"\n')
  local file = project .. "/pkg/ingest.py"
  write(file, read(EXAMPLE))

  vim.cmd("filetype on")
  vim.opt.runtimepath:prepend(PLUGIN)
  if MODE == "lsp-config" then
    check(vim.lsp.config ~= nil and vim.lsp.enable ~= nil, "vim.lsp.config/enable need Neovim 0.11+")
    local cfg = vim.lsp.config.perf_lsp -- read from lsp/perf_lsp.lua on the runtimepath
    check(cfg ~= nil and cfg.cmd ~= nil, "lsp/perf_lsp.lua was not found on the runtimepath")
    check(vim.deep_equal(cfg.root_markers, { "pyproject.toml", "setup.cfg", ".git" }), "root_markers: "
      .. vim.inspect(cfg.root_markers))
    check(vim.deep_equal(cfg.filetypes, { "python" }), "filetypes: " .. vim.inspect(cfg.filetypes))
    if PYTHON ~= "python3" then -- the documented way to use another interpreter
      vim.lsp.config("perf_lsp", { cmd = { PYTHON, "-m", "perf_lsp", "serve" } })
    end
    vim.lsp.enable("perf_lsp")
    vim.cmd("runtime! plugin/perf_lsp.lua")
  elseif MODE == "setup" then
    require("perf_lsp").setup({ python = PYTHON })
  else
    fail("unknown PERF_LSP_MODE " .. MODE)
  end
  check(vim.fn.exists(":PerfLspFixAll") == 2, ":PerfLspFixAll is not defined")

  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  check(vim.bo[buf].filetype == "python", "filetype is " .. vim.bo[buf].filetype)

  wait_for("the perf_lsp client to attach", function()
    return perf_client(buf) ~= nil
  end)
  local client = perf_client(buf)
  local root = vim.loop.fs_realpath(client.config.root_dir or "")
  check(root == vim.loop.fs_realpath(project), ("root_dir is %s, expected %s"):format(tostring(root), project))
  log("client attached, root " .. root)

  -- 1. diagnostics
  wait_diagnostics(buf, { "PFL401@26:20", "PFL201@50:13", "PFL401@69:13" }, "on open")
  local diag = perf_diagnostics(buf)[1]
  check(diag.message:find("Regular expression compiled on every iteration", 1, true),
    "PFL401 message: " .. diag.message)

  -- 2. hover on the diagnostic
  local hover = request(client, "textDocument/hover", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = diag.lnum, character = diag.col + 2 },
  }, buf)
  check(hover ~= nil and hover.contents ~= nil, "hover: empty result")
  local text = type(hover.contents) == "table" and (hover.contents.value or "") or tostring(hover.contents)
  for _, phrase in ipairs({ "**PFL401**", "Why is this slow?", "pattern cache", "```diff", "_BOUNDARY" }) do
    check(text:find(phrase, 1, true), ("hover text lacks %q:\n%s"):format(phrase, text))
  end
  log("hover explains the diagnostic (" .. #text .. " chars)")

  -- 3. code actions at the diagnostic: choose its quick fix, resolve if needed, apply, write
  local actions = request(client, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = lsp_diagnostic(diag).range,
    context = { diagnostics = { lsp_diagnostic(diag) } },
  }, buf) or {}
  local titles, chosen = {}, nil
  for _, action in ipairs(actions) do
    table.insert(titles, ("%s [%s]"):format(action.title, tostring(action.kind)))
    local d = action.diagnostics and action.diagnostics[1]
    if chosen == nil and action.kind == "quickfix" and d and d.code == "PFL401"
      and d.range.start.line == diag.lnum and not action.title:find("^Ignore") then
      chosen = action
    end
  end
  log("code actions: " .. table.concat(titles, "; "))
  check(chosen ~= nil, "no PFL401 quick fix among the code actions: " .. table.concat(titles, "; "))
  check(chosen.isPreferred == true, "the PFL401 quick fix is not marked preferred")
  if chosen.edit == nil then
    chosen = request(client, "codeAction/resolve", chosen, buf)
    log("resolved the quick fix with codeAction/resolve")
  end
  check(chosen.edit ~= nil, "the quick fix has no edit, even after codeAction/resolve")
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  vim.cmd("silent write")
  log("applied quick fix: " .. chosen.title)
  compare_file(file, "ingest.quickfix.py")
  wait_diagnostics(buf, { "PFL201@53:13", "PFL401@72:13" }, "after the quick fix")

  -- 4. fix-all
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  if MODE == "lsp-config" then
    -- what the README tells 0.11 users to run
    vim.lsp.buf.code_action({ context = { only = { FIX_ALL } }, apply = true })
    wait_for("fix-all to change the buffer", function()
      return vim.api.nvim_buf_get_changedtick(buf) ~= tick
    end)
  else
    vim.cmd("PerfLspFixAll")
    check(vim.api.nvim_buf_get_changedtick(buf) ~= tick, ":PerfLspFixAll did not change the buffer")
  end
  vim.cmd("silent write")
  log("applied fix-all")
  compare_file(file, "ingest.fixall.py")
  wait_diagnostics(buf, { "PFL201@53:13" }, "after fix-all")

  -- nothing left to fix: the helper says so and changes nothing
  tick = vim.api.nvim_buf_get_changedtick(buf)
  check(require("perf_lsp").fix_all({ silent = true }) == false, "fix_all() changed an already fixed buffer")
  check(vim.api.nvim_buf_get_changedtick(buf) == tick, "fix_all() changed an already fixed buffer")

  -- 5. fix-all as the lightbulb offers it (no `only`): Neovim 0.10+ can resolve edits, so the server sends
  -- this action without its edit; require("perf_lsp").apply_code_action resolves it first.
  local file2 = project .. "/pkg/ingest_again.py"
  write(file2, read(EXAMPLE))
  vim.cmd("edit " .. vim.fn.fnameescape(file2))
  local buf2 = vim.api.nvim_get_current_buf()
  wait_for("the client to attach to a second buffer", function()
    return perf_client(buf2) ~= nil
  end)
  check(perf_client(buf2).id == client.id, "a second server was started for the same root")
  wait_diagnostics(buf2, { "PFL401@26:20", "PFL201@50:13", "PFL401@69:13" }, "in a second buffer")
  local first = lsp_diagnostic(perf_diagnostics(buf2)[1])
  local fix_all_action
  for _, action in ipairs(request(client, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf2) },
    range = first.range,
    context = { diagnostics = { first } },
  }, buf2) or {}) do
    if action.kind == FIX_ALL then
      fix_all_action = action
    end
  end
  check(fix_all_action ~= nil, "no " .. FIX_ALL .. " action among the code actions")
  log(("fix-all action from the lightbulb list %s"):format(
    fix_all_action.edit and "came with its edit" or "came without an edit: resolving it"))
  check(require("perf_lsp").apply_code_action(client, fix_all_action, buf2), "the fix-all action applied nothing")
  vim.cmd("silent write")
  compare_file(file2, "ingest.fixall.py")

  -- 5c. the same from Neovim's own code action menu (vim.lsp.buf.code_action, the menu answered by a stub of
  -- vim.ui.select): Neovim resolves the deferred action itself
  local file6 = project .. "/pkg/ingest_menu.py"
  write(file6, read(EXAMPLE))
  vim.cmd("edit " .. vim.fn.fnameescape(file6))
  local buf6 = vim.api.nvim_get_current_buf()
  wait_diagnostics(buf6, { "PFL401@26:20", "PFL201@50:13", "PFL401@69:13" }, "in a buffer for the menu")
  vim.api.nvim_win_set_cursor(0, { 26, 20 })
  local offered = {}
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    for i, item in ipairs(items) do
      local action = item.action or item[2] -- 0.10+: { action = ..., ctx = ... }; 0.7-0.9: { client_id, action }
      table.insert(offered, action.title)
      if action.kind == FIX_ALL then
        return on_choice(item, i)
      end
    end
    on_choice(nil)
  end
  local tick6 = vim.api.nvim_buf_get_changedtick(buf6)
  vim.lsp.buf.code_action()
  local changed = vim.wait(TIMEOUT, function()
    return vim.api.nvim_buf_get_changedtick(buf6) ~= tick6
  end, 50)
  vim.ui.select = select
  check(changed, "choosing fix-all in vim.lsp.buf.code_action()'s menu changed nothing; offered: "
    .. table.concat(offered, "; "))
  vim.cmd("silent write")
  compare_file(file6, "ingest.fixall.py")
  log("fix-all chosen from vim.lsp.buf.code_action()'s menu")

  -- 5b. fix-all on save: the README's BufWritePre autocmd
  local file5 = project .. "/pkg/ingest_on_save.py"
  write(file5, read(EXAMPLE))
  local group = vim.api.nvim_create_augroup("perf_lsp_test_fix_on_save", { clear = true })
  vim.api.nvim_create_autocmd("BufWritePre", {
    group = group,
    pattern = "*.py",
    callback = function(args)
      require("perf_lsp").fix_all({ bufnr = args.buf, silent = true })
    end,
  })
  vim.cmd("edit " .. vim.fn.fnameescape(file5))
  local buf5 = vim.api.nvim_get_current_buf()
  wait_for("the client to attach to a third buffer", function()
    return perf_client(buf5) ~= nil
  end)
  vim.cmd("silent write")
  vim.api.nvim_del_augroup_by_id(group)
  compare_file(file5, "ingest.fixall.py")
  log("fix-all on save applied the safe fixes")

  -- stop the server and wait for it to go away
  vim.lsp.stop_client(client.id)
  wait_for("the server to stop", function()
    return vim.lsp.client_is_stopped(client.id)
  end)
  log("server stopped")

  vim.cmd("silent! bwipeout! " .. buf)
  vim.cmd("silent! bwipeout! " .. buf2)
  vim.cmd("silent! bwipeout! " .. buf5)
  vim.cmd("silent! bwipeout! " .. buf6)

  -- 6. settings reach the server: a second project whose client is configured to ignore PFL401 and to
  -- report PFL201 as an error
  local settings = { ignore = { "PFL401" }, severity = { PFL201 = "error" } }
  if MODE == "lsp-config" then
    vim.lsp.config("perf_lsp", { settings = { ["perf-lsp"] = settings } })
  else
    require("perf_lsp").setup({ python = PYTHON, settings = settings })
  end
  local project2 = vim.fn.tempname() .. "-perf-lsp-e2e-settings"
  vim.fn.mkdir(project2 .. "/.git", "p") -- the other root marker
  local file3 = project2 .. "/ingest.py"
  write(file3, read(EXAMPLE))
  local file4 = project2 .. "/other.py"
  write(file4, "import re\n")
  -- two buffers opened while the server starts: they must share one client (one server per root)
  vim.cmd("edit " .. vim.fn.fnameescape(file4))
  local buf4 = vim.api.nvim_get_current_buf()
  vim.cmd("edit " .. vim.fn.fnameescape(file3))
  local buf3 = vim.api.nvim_get_current_buf()
  wait_for("a client for the second project", function()
    return perf_client(buf3) ~= nil and perf_client(buf4) ~= nil
  end)
  local client3 = perf_client(buf3)
  check(perf_client(buf4).id == client3.id, "two servers were started for one root")
  log("second client attached to both buffers of the second project")
  check(vim.loop.fs_realpath(client3.config.root_dir) == vim.loop.fs_realpath(project2),
    "root_dir of the .git project is " .. tostring(client3.config.root_dir))
  wait_diagnostics(buf3, { "PFL201@50:13" }, "with ignore = { PFL401 }")
  local severity = perf_diagnostics(buf3)[1].severity
  check(severity == vim.diagnostic.severity.ERROR, "PFL201 severity is " .. tostring(severity) .. ", expected ERROR")
  log("settings applied: PFL401 ignored, PFL201 is an error")
  -- changed live, without a restart (workspace/didChangeConfiguration)
  check(require("perf_lsp").update_settings({ select = { "PFL4" } }) == 1, "update_settings() found no client")
  wait_diagnostics(buf3, { "PFL401@26:20", "PFL401@69:13" }, "after update_settings({ select = { PFL4 } })")
  check(perf_client(buf3).id == client3.id, "update_settings() restarted the client")
  vim.lsp.stop_client(client3.id)
  wait_for("the second server to stop", function()
    return vim.lsp.client_is_stopped(client3.id)
  end)
  vim.fn.delete(project, "rf")
  vim.fn.delete(project2, "rf")
end

local ok, err = xpcall(main, function(e)
  if getmetatable(e) == Failure then
    return e.msg
  end
  return debug.traceback(tostring(e), 2)
end)
if ok then
  log("PASS")
  vim.cmd("qall!")
else
  io.stderr:write(("[nvim %s %s] FAIL: %s\n"):format(NVIM, MODE, err))
  io.stderr:write("(LSP log: " .. vim.lsp.get_log_path() .. ")\n")
  io.stderr:flush()
  vim.cmd("cquit 1")
end
