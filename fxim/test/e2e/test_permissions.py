"""
Tests for L{fxim.storage.permissions}, and an end-to-end check of the
modes a real embedded node leaves on disk.
"""

import os
import stat

from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.storage.permissions import makeDataDir, secureDatabaseFile
from fxim.test.e2e import NodeTestMixin


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class PermissionTests(SynchronousTestCase):
    """
    Modes of the data folder and the database file, whatever the umask.
    """

    def setUp(self):
        self.old = os.umask(0o022)
        self.addCleanup(os.umask, self.old)
        self.base = self.mktemp()
        os.makedirs(self.base)

    def test_newDataDir(self):
        """
        A new data folder (and missing parents' leaf) is 0700.
        """
        path = os.path.join(self.base, "a", "data")
        makeDataDir(path)
        self.assertEqual(mode(path), 0o700)

    def test_existingDataDirLeftAlone(self):
        """
        An existing folder keeps its mode (it may be shared on purpose).
        """
        path = os.path.join(self.base, "shared")
        os.mkdir(path, 0o755)
        makeDataDir(path)
        self.assertEqual(mode(path), 0o755)

    def test_databaseFile(self):
        """
        A new database file is created 0600; an existing one and its side
        files are tightened to 0600.
        """
        path = os.path.join(self.base, "db.sqlite3")
        secureDatabaseFile(path)
        self.assertEqual(mode(path), 0o600)
        os.chmod(path, 0o644)
        with open(path + "-wal", "w"):
            pass
        os.chmod(path + "-wal", 0o666)
        secureDatabaseFile(path)
        self.assertEqual((mode(path), mode(path + "-wal")), (0o600, 0o600))


class NodeFileModesTests(NodeTestMixin, TestCase):
    """
    A real embedded node.
    """

    async def test_dataDirAndDatabaseModes(self):
        """
        A node started on a data folder that does not exist yet creates it
        0700 and the SQLite database, -wal and -shm 0600 (umask 022); a
        database left 0644 by an older version is tightened at start.
        """
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        dataDir = os.path.join(os.path.abspath(self.mktemp()), "fxim-data")
        node = await self.startNode(["--data-dir", dataDir])
        await self.loginAndConnect(node, "13800000720", "tcp")
        db = os.path.join(dataDir, "fxim.sqlite3")
        self.assertEqual(mode(dataDir), 0o700)
        for path in (db, db + "-wal", db + "-shm"):
            self.assertEqual(mode(path), 0o600, path)
        await node.stop()
        os.chmod(db, 0o644)
        node = await self.startNode(["--data-dir", dataDir])
        self.assertEqual(mode(db), 0o600)
