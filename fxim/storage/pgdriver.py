# -*- test-case-name: fxim.test.e2e.test_pypy -*-
"""
The PostgreSQL driver: psycopg2 on CPython, psycopg2cffi on PyPy.

psycopg2 (the C{psycopg2-binary} wheel) is a CPython extension and does not
build on PyPy; psycopg2cffi is the same DB-API over libpq through cffi, and
its C{compat} module registers it as C{psycopg2}.  fxim's PostgreSQL code
imports C{psycopg2} only; L{registerDriver} makes that name resolve on both
interpreters.
"""

import sys


def registerDriver() -> str:
    """
    Make C{import psycopg2} work.

    @return: the driver in use, C{"psycopg2"} or C{"psycopg2cffi"}.
    @raise ImportError: with the package to install, if neither is there.
    """
    try:
        import psycopg2
    except ImportError:
        try:
            from psycopg2cffi import compat
        except ImportError:
            wanted = "psycopg2cffi" if sys.implementation.name == "pypy" else "psycopg2-binary"
            raise ImportError(f"PostgreSQL needs the {wanted} package (pip install {wanted})")
        compat.register()
        import psycopg2
    return "psycopg2cffi" if "psycopg2cffi" in getattr(psycopg2, "__file__", "") else "psycopg2"
