# -*- test-case-name: fxim.test.unit.test_media -*-
"""
Media keys and L{LocalMediaStorage}, the file-system
L{fxim.interfaces.IMediaStorage}.

A storage key is C{"<bucket>/<name>"}.  Names follow L{validName}, so a
name is always one safe file name.  Every write goes to a temporary file
under C{<root>/.tmp} that is renamed into place only when complete: a
refused or interrupted upload leaves nothing behind.
"""

import os
import secrets
from io import BytesIO
from typing import BinaryIO, Optional

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from fxim.interfaces import IMediaStorage

_log = Logger()

#: Largest name, in UTF-8 bytes (one file name).
MAX_NAME_BYTES = 255
#: Characters refused in names besides C{/}, C{\\}, NUL and unprintables:
#: they would break the client-built URL C{domain + "/" + key}.
_FORBIDDEN = frozenset("/\\%?#\0")
_CHUNK = 64 * 1024


def validName(name: str) -> bool:
    """
    Whether C{name} may be a media key: 1-255 UTF-8 bytes of printable
    characters, no C{/ \\ % ? #} or NUL, no C{..}, not starting with a dot.
    """
    if not isinstance(name, str) or not name or name.startswith("."):
        return False
    if ".." in name or not name.isprintable() or _FORBIDDEN.intersection(name):
        return False
    try:
        return len(name.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:
        return False


class TooLarge(Exception):
    """
    An upload went over its size limit.
    """


class AlreadyExists(Exception):
    """
    An upload that may not overwrite found the key taken.
    """


class IStreamingMediaStorage(IMediaStorage):
    """
    An L{IMediaStorage} that takes uploads from a file without holding them
    in memory, as L{fxim.media.resource.MediaResource} needs.
    """

    def receive(key, source, limit, overwrite=True, owner=None):
        """
        Copy C{source} (a binary file at its start) to C{key}, atomically.

        @param owner: the uploader's uid.  When given, it is recorded with a
            new object, and an existing object is only replaced (with
            C{overwrite}) if it was stored by the same owner.
        @return: L{Deferred} firing with the size stored; fails with
            L{TooLarge} past C{limit} bytes or L{AlreadyExists} if C{key}
            exists and C{overwrite} is false or C{owner} is not its owner;
            nothing is stored then.
        """

    def ownerOf(key):
        """
        @return: L{Deferred} firing with the uid that stored C{key}, C{""}
            if it exists without a recorded owner, L{None} if it does not
            exist.
        """

    def localPath(key):
        """
        @return: the path of C{key}'s file if it is on a local disk and
            exists, else L{None} (then the bytes are served from C{get}).
        """


@implementer(IStreamingMediaStorage)
class LocalMediaStorage:
    """
    Files under C{root}: C{<root>/<bucket>/<name>}.

    @param root: the folder (created if missing, mode 0700).
    @param reactor: provides the thread pool blocking file I/O runs in.
    """

    def __init__(self, root: str, reactor) -> None:
        self.root = os.path.abspath(root)
        self.reactor = reactor
        self._tmp = os.path.join(self.root, ".tmp")
        # Who stored each object: <root>/.owners/<bucket>/<name> holds the
        # uid (names never start with a dot, so no bucket collides).
        self._owners = os.path.join(self.root, ".owners")
        os.makedirs(self._tmp, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        bucket, sep, name = key.partition("/")
        if not sep or not validName(bucket) or not validName(name):
            raise ValueError(f"bad media key {key!r}")
        return os.path.join(self.root, bucket, name)

    def _inThread(self, function, *args):
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), function, *args)

    def _ownerPath(self, key: str) -> str:
        self._path(key)
        bucket, _, name = key.partition("/")
        return os.path.join(self._owners, bucket, name)

    def _readOwner(self, key: str) -> Optional[str]:
        if not os.path.exists(self._path(key)):
            return None
        try:
            with open(self._ownerPath(key), "rb") as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return ""

    def _writeOwner(self, key: str, owner: str) -> None:
        path = self._ownerPath(key)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temp = os.path.join(self._tmp, secrets.token_hex(16))
        with open(temp, "xb") as out:
            out.write(owner.encode("utf-8"))
        os.replace(temp, path)

    def _place(self, temp: str, final: str, key: str, overwrite: bool,
               owner: Optional[str]) -> None:
        if owner is None:
            if overwrite:
                os.replace(temp, final)
                return
            try:
                os.link(temp, final)
            except FileExistsError:
                raise AlreadyExists(key)
            return
        try:
            # A new key: created atomically, nobody else's object replaced.
            os.link(temp, final)
        except FileExistsError:
            # Only the uploader who stored it may replace it (a retry); an
            # object with no recorded owner is never replaced.
            if not overwrite or self._readOwner(key) != owner:
                raise AlreadyExists(key)
            os.replace(temp, final)
            return
        self._writeOwner(key, owner)

    def _store(self, key: str, source: BinaryIO, limit: Optional[int], overwrite: bool,
               owner: Optional[str] = None) -> int:
        final = self._path(key)
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        temp = os.path.join(self._tmp, secrets.token_hex(16))
        size = 0
        try:
            with open(temp, "xb") as out:
                while True:
                    chunk = source.read(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(size)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            self._place(temp, final, key, overwrite, owner)
        finally:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        return size

    def receive(self, key: str, source: BinaryIO, limit: Optional[int], overwrite: bool = True,
                owner: Optional[str] = None):
        """
        See L{IStreamingMediaStorage.receive}.
        """
        self._path(key)
        return self._inThread(self._store, key, source, limit, overwrite, owner)

    def ownerOf(self, key: str):
        """
        See L{IStreamingMediaStorage.ownerOf}.
        """
        # A stat and a few bytes, like localPath: inline.
        from twisted.internet.defer import fail, succeed
        try:
            return succeed(self._readOwner(key))
        except Exception:
            return fail()

    def put(self, key: str, data: bytes):
        """
        See L{IMediaStorage.put}.
        """
        return self.receive(key, BytesIO(data), None)

    def _read(self, key: str) -> Optional[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def get(self, key: str):
        """
        See L{IMediaStorage.get}.
        """
        self._path(key)
        return self._inThread(self._read, key)

    def localPath(self, key: str) -> Optional[str]:
        """
        See L{IStreamingMediaStorage.localPath}.
        """
        path = self._path(key)
        return path if os.path.isfile(path) else None
