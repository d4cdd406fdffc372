#!/usr/bin/env bash
# Install the non-Python tools some tests need, when missing: Node.js and
# npm (JavaScript tests, crypto-js password checks, the JS SDK), Chromium
# and ChromeDriver (browser tests), all from Debian packages; then the npm
# packages of every JavaScript project in the tree (its package.json,
# installed from the npm registry into its own node_modules).
#
#   source .ci/tools.sh
#
# Needs root, as in CI.  Failures are reported; the tests that need a
# missing tool then fail with a clear message.

fxim_tools_install() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  # i15: a CJK font, so the web chat's Chinese screenshots show characters
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  # PyPy node tests; psycopg2cffi (PostgreSQL on PyPy) builds against libpq.
  command -v pypy3 >/dev/null 2>&1 || missing+=(pypy3 pypy3-dev pypy3-venv)
  command -v pg_config >/dev/null 2>&1 || missing+=(libpq-dev)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} from Debian packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
      echo "could not install ${missing[*]}" >&2
  fi
  local pkg dir
  while IFS= read -r pkg; do
    dir=$(dirname "$pkg")
    if [ ! -d "$dir/node_modules" ] || [ "$pkg" -nt "$dir/node_modules" ]; then
      echo "npm install in $dir" >&2
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2) ||
        echo "npm install failed in $dir" >&2
    fi
  done < <(find clients fxim -name package.json -not -path '*/node_modules/*' 2>/dev/null | sort)
}

fxim_tools_install
bash .ci/pypy-env.sh || echo "no PyPy venv: fxim.test.e2e.test_pypy will fail" >&2  # i17
