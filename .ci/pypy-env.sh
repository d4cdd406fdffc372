#!/usr/bin/env bash
# A PyPy virtualenv with fxim's runtime dependencies, for the tests and the
# benchmark that run a node under PyPy (fxim.test.e2e.test_pypy,
# bench/fximbench.py pypy / --python).  The requirements are read from
# setup.cfg's install_requires, whose markers pick psycopg2cffi instead of
# psycopg2-binary there (psycopg2-binary does not build on PyPy).
#
#   bash .ci/pypy-env.sh            # -> ${FXIM_PYPY_ENV:-/var/tmp/fxim-pypy}
#
# cryptography is taken as a prebuilt wheel only: Debian's PyPy is 3.9-level,
# the newest cryptography releases ship no PyPy 3.9 wheel, and building one
# needs a Rust toolchain from the network.  Needs pypy3 and pypy3-venv
# (Debian; .ci/tools.sh installs them).  Re-running only installs what is
# missing or too old.
set -uo pipefail
cd "$(dirname "$0")/.."
env_dir=${FXIM_PYPY_ENV:-/var/tmp/fxim-pypy}
command -v pypy3 >/dev/null 2>&1 || { echo "pypy3 not installed; no PyPy venv" >&2; exit 0; }
if [ ! -x "$env_dir/bin/python" ]; then
  echo "creating the PyPy venv $env_dir" >&2
  pypy3 -m venv "$env_dir" || { echo "pypy3 -m venv failed (pypy3-venv missing?)" >&2; exit 1; }
fi
reqs=$(mktemp)
"$env_dir/bin/python" - setup.cfg >"$reqs" <<'PY'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
for line in cfg["options"]["install_requires"].splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        print(line)
PY
"$env_dir/bin/pip" install --quiet --disable-pip-version-check --only-binary cryptography \
  -r "$reqs" >&2 || { echo "pip install into the PyPy venv failed" >&2; rm -f "$reqs"; exit 1; }
rm -f "$reqs"
