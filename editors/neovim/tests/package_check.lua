-- The README's "from nothing" install, checked: run_tests.sh copies this directory into a Vim package
-- (XDG_DATA_HOME/nvim/site/pack/perf-lsp/start/perf-lsp) of an empty home whose init.lua is the README's one
-- line, starts Neovim with the normal start-up (no --clean, no -u NONE) on a copy of the example, and
-- sources this file, which waits for the diagnostics, runs :PerfLspFixAll, writes, and compares the file.
--
--   nvim --headless -c "luafile tests/package_check.lua" /tmp/project/ingest.py
--
-- Environment: PERF_LSP_EXPECTED (the expected file), PERF_LSP_TIMEOUT (seconds, default 30).

local NVIM = ("%d.%d.%d"):format(vim.version().major, vim.version().minor, vim.version().patch)
local TIMEOUT = (tonumber(os.getenv("PERF_LSP_TIMEOUT") or "") or 30) * 1000

local function finish(ok, msg)
  local out = ok and io.stdout or io.stderr
  out:write(("[nvim %s package] %s%s\n"):format(NVIM, ok and "" or "FAIL: ", msg))
  out:flush()
  vim.cmd(ok and "qall!" or "cquit 1")
end

local function run()
  local buf = vim.api.nvim_get_current_buf()
  local function codes()
    local out = {}
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.source == "perf-lsp" then
        table.insert(out, ("%s@%d"):format(d.code, d.lnum + 1))
      end
    end
    table.sort(out)
    return table.concat(out, " ")
  end
  local want = "PFL201@50 PFL401@26 PFL401@69"
  if not vim.wait(TIMEOUT, function()
    return codes() == want
  end, 50) then
    return finish(false, ("timeout waiting for diagnostics %s (seen: %q); is the package on the runtimepath? "
      .. "runtimepath=%s"):format(want, codes(), vim.o.runtimepath))
  end
  if vim.fn.exists(":PerfLspFixAll") ~= 2 then
    return finish(false, ":PerfLspFixAll is not defined (plugin/perf_lsp.lua not loaded)")
  end
  vim.cmd("PerfLspFixAll")
  vim.cmd("silent write")
  local expected_path = os.getenv("PERF_LSP_EXPECTED")
  local f = io.open(expected_path, "rb")
  local expected = f and f:read("*a")
  if f then
    f:close()
  end
  f = io.open(vim.api.nvim_buf_get_name(buf), "rb")
  local actual = f:read("*a")
  f:close()
  if actual ~= expected then
    return finish(false, ("after :PerfLspFixAll the file differs from %s"):format(expected_path))
  end
  finish(true, "diagnostics " .. want .. "; :PerfLspFixAll gave " .. vim.fn.fnamemodify(expected_path, ":t"))
end

local ok, err = pcall(run)
if not ok then
  finish(false, tostring(err))
end
