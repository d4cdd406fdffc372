# -*- test-case-name: fxim.test.e2e.test_permissions -*-
"""
File modes of what fxim keeps on disk: the data folder and the SQLite
database hold every message, session secrets and pending login codes, so
only the account running fxim may read them.
"""

import os
import stat

from twisted.logger import Logger

_log = Logger()

#: Mode of the data folder fxim creates.
DIR_MODE = 0o700
#: Mode of the SQLite database and its -wal / -shm files.
FILE_MODE = 0o600
#: Files SQLite keeps beside a database in WAL mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def makeDataDir(path: str) -> None:
    """
    Create C{path} (and missing parents) with mode 0700.  An existing
    folder is left as it is (it may be shared on purpose), but a warning
    names the group/other access it grants.
    """
    if not os.path.isdir(path):
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
        # makedirs honours the umask, which may be laxer or stricter: set it.
        os.chmod(path, DIR_MODE)
        return
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        _log.warn("Data folder {path} is accessible to other users (mode {mode:o});"
                  " fxim creates it 0700: consider chmod 700", path=path, mode=mode)


def secureDatabaseFile(path: str) -> None:
    """
    Make sure the SQLite database at C{path} exists with mode 0600 before
    SQLite opens it: SQLite then creates its -wal and -shm files with the
    database's mode.  Existing files (of an older fxim) are tightened.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in SQLITE_SIDE_FILES:
        try:
            os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass
