#!/usr/bin/env bash
# A PyPy virtualenv with fxim's runtime dependencies, for the tests and the
# benchmark that run a node under PyPy (fxim.test.test_pypy,
# bench/fximbench.py --python).  Idempotent: does nothing when the venv
# already imports them.  Needs pypy3 and pypy3-venv (Debian; .ci/tools.sh).
#
#   bash .ci/pypy-env.sh            # -> ${FXIM_PYPY_ENV:-/var/tmp/fxim-pypy}
#
# Differences from CPython: psycopg2cffi instead of psycopg2-binary (which
# does not build on PyPy; setup.cfg selects it by interpreter), and
# cryptography from a prebuilt wheel only (Debian's PyPy is 3.9-level; the
# newest cryptography releases ship no PyPy 3.9 wheel and would need a Rust
# toolchain from the network to build).
set -uo pipefail
env_dir=${FXIM_PYPY_ENV:-/var/tmp/fxim-pypy}
command -v pypy3 >/dev/null 2>&1 || { echo "pypy3 not installed; no PyPy venv" >&2; exit 0; }
check='import twisted, autobahn, txredisapi, Crypto, google.protobuf, attr, zope.interface, psycopg2cffi, OpenSSL'
if [ -x "$env_dir/bin/python" ] && "$env_dir/bin/python" -c "$check" 2>/dev/null; then
  exit 0
fi
echo "creating the PyPy venv $env_dir" >&2
pypy3 -m venv "$env_dir" || { echo "pypy3 -m venv failed (pypy3-venv missing?)" >&2; exit 1; }
"$env_dir/bin/pip" install --quiet --disable-pip-version-check --only-binary cryptography \
  "twisted[tls] >= 23.10" "autobahn[twisted] >= 23.1" "txredisapi == 1.6.0" "pycryptodome >= 3.18" \
  "attrs >= 22.2" "protobuf >= 6.31.1, < 7" "zope.interface >= 5" "psycopg2cffi >= 2.9" >&2 ||
  { echo "pip install into the PyPy venv failed" >&2; exit 1; }
