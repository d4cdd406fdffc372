# -*- test-case-name: fxim.test.e2e.test_client_cli -*-
"""
C{fxim-chat} (also C{python -m fxim.client}): a terminal client for trying
an fxim server.

    fxim-chat --state /tmp/a.json login 13800000001 --code 556677
    fxim-chat --state /tmp/a.json follow
    fxim-chat --state /tmp/b.json send <uid> hello

The state file (default C{~/.config/fxim-chat/state.json}, mode 0600)
keeps the server addresses, the token, uid and device id, the last message
seq (so C{follow} continues where it stopped), the last local message id,
and the groups this device learned of.  See docs/client.md.
"""

import argparse
import json
import os
import re
import sys
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, ensureDeferred

from fxim.client.connection import RequestFailed
from fxim.client.http import Credentials, LoginError
from fxim.client.session import (
    ChatClient, ConnectionState, NotConnected, Unauthorized, describe,
)
from fxim.model import Conversation, FriendRequestStatus, Message

DEFAULT_STATE = os.path.join(os.path.expanduser("~"), ".config", "fxim-chat", "state.json")
DEFAULT_SERVER = "http://127.0.0.1:8081"
DEFAULT_TCP = "127.0.0.1:6789"
MOBILE = re.compile(r"^1[3-9]\d{9}$")


class CommandError(Exception):
    """
    A failure to report on stderr (exit status 1), without a traceback.
    """


# -- state ----------------------------------------------------------------------

class State:
    """
    The JSON state file, written atomically with mode 0600.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: Dict[str, Any] = {}
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    self.data = json.load(f)
            except (OSError, ValueError) as e:
                raise CommandError(f"cannot read state file {path}: {e}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def save(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


# -- arguments --------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fxim-chat", description="A terminal client for fxim (飞享 IM) servers.",
        epilog="Server options given once are remembered in the state file.")
    p.add_argument("--server", help=f"HTTP API base URL (default {DEFAULT_SERVER})")
    transport = p.add_mutually_exclusive_group()
    transport.add_argument("--tcp", metavar="HOST:PORT",
                           help=f"binary TCP endpoint (default {DEFAULT_TCP}); "
                                "tls:HOST:PORT for a TLS port")
    transport.add_argument("--ws", metavar="URL",
                           help="WebSocket endpoint, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH")
    p.add_argument("--ca-file", metavar="PEM",
                   help="trust these certificate authorities for https://, wss:// and tls: "
                        "(default: the system's)")
    p.add_argument("--state", default=os.environ.get("FXIM_CHAT_STATE", DEFAULT_STATE),
                   help=f"state file (default {DEFAULT_STATE})")
    p.add_argument("--timeout", type=float, default=15.0,
                   help="seconds to wait for the server (one-shot commands)")
    p.add_argument("-v", "--verbose", action="store_true", help="log client internals to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("login", help="log in with a mobile and an SMS code")
    c.add_argument("mobile")
    c.add_argument("--code", help="the code (else one is requested and read from stdin)")
    sub.add_parser("whoami", help="show who this state file is logged in as")
    sub.add_parser("friends", help="list friends")
    sub.add_parser("requests", help="list friend requests")
    sub.add_parser("groups", help="list the groups this device knows of")
    c = sub.add_parser("send", help="send a text message")
    c.add_argument("target", help="a user id (or mobile), or a group id with --group")
    c.add_argument("text")
    c.add_argument("--group", action="store_true", help="TARGET is a group id")
    c = sub.add_parser("follow", help="print incoming messages until Ctrl-C")
    c.add_argument("--from-start", action="store_true",
                   help="print everything stored, not only what is new since the last run")
    c = sub.add_parser("history", help="show a conversation's last messages")
    c.add_argument("target")
    c.add_argument("--group", action="store_true")
    c.add_argument("--count", type=int, default=20)
    c = sub.add_parser("search", help="find users by mobile (or name)")
    c.add_argument("keyword")
    c = sub.add_parser("add-friend", help="send a friend request")
    c.add_argument("uid")
    c.add_argument("reason", nargs="?", default="")
    c = sub.add_parser("accept", help="accept a friend request")
    c.add_argument("uid")
    c = sub.add_parser("create-group", help="create a group with some members")
    c.add_argument("name")
    c.add_argument("members", nargs="*")
    sub.add_parser("logout", help="log out (the token stops working) and forget it")
    # i12: a token minted with the admin API (fxim-admin mint-token)
    c = sub.add_parser("import-token", help="use a token minted by an administrator "
                       "(fxim-admin mint-token UID DEVICE | fxim-chat import-token)")
    c.add_argument("file", nargs="?", default="-",
                   help='JSON {"userId","clientId","token"} (default: stdin)')
    return p


def _hostPort(text: str, default: int) -> Tuple[str, int]:
    if "://" in text:
        parts = urlsplit(text)
        return parts.hostname or "127.0.0.1", parts.port or default
    host, _, port = text.rpartition(":")
    if not host:
        return text, default
    return host, int(port)


class Cli:
    """
    One run of the command line.
    """

    def __init__(self, reactor: Any, args: argparse.Namespace, out: Any = None,
                 stdin: Any = None) -> None:
        self.reactor = reactor
        self.args = args
        self.out = out or sys.stdout
        self.stdin = stdin or sys.stdin
        self.state = State(args.state)
        self._names: Dict[str, str] = {}
        # Remember server options given on the command line.
        for key in ("server", "tcp", "ws", "ca_file"):
            value = getattr(args, key, None)
            if value:
                # A relative CA path would depend on where the next run starts.
                self.state.data[key] = os.path.abspath(value) if key == "ca_file" else value
                if key in ("tcp", "ws"):
                    self.state.data.pop("ws" if key == "tcp" else "tcp", None)

    def print(self, *parts: Any) -> None:
        print(*parts, file=self.out, flush=True)

    @property
    def server(self) -> str:
        return self.state.get("server") or DEFAULT_SERVER

    def endpoint(self) -> Tuple[str, str, int, str]:
        ws = self.state.get("ws")
        if ws:
            if "://" not in ws:
                ws = "ws://" + ws
            parts = urlsplit(ws)
            if parts.scheme not in ("ws", "wss"):
                raise CommandError(f"--ws must be a ws:// or wss:// URL, not {ws!r}")
            return "ws", parts.hostname or "127.0.0.1", parts.port or 9326, parts.path or "/ws"
        tcp = self.state.get("tcp") or DEFAULT_TCP
        if tcp.startswith("tls:"):
            tcp = tcp[len("tls:"):]
        host, port = _hostPort(tcp, 6789)
        return "tcp", host, port, ""

    def connectionTLS(self) -> Any:
        """
        The L{ClientTLS} of the connection: set for C{wss://} and
        C{tls:HOST:PORT}, else L{None}.
        """
        ws, tcp = self.state.get("ws") or "", self.state.get("tcp") or ""
        if ws.startswith("wss://") or (not ws and tcp.startswith("tls:")):
            return self.httpsTrust()
        return None

    def httpsTrust(self) -> Any:
        from fxim.client.tls import ClientTLS
        return ClientTLS(self.state.get("ca_file"))

    def credentials(self) -> Credentials:
        if not self.state.get("token"):
            raise CommandError("not logged in: run `fxim-chat login MOBILE` first")
        return Credentials(self.state.get("uid"), self.state.get("token"),
                           self.state.get("deviceId"))

    def makeClient(self, autoSync: bool = False, lastSeq: Optional[int] = None) -> ChatClient:
        transport, host, port, path = self.endpoint()
        creds = self.credentials() if self.state.get("token") else None
        client = ChatClient(self.reactor, transport, host, port, httpBase=self.server,
                            credentials=creds, wsPath=path or "/ws",
                            lastSeq=self.state.get("lastSeq", 0) if lastSeq is None else lastSeq,
                            lastLocalId=self.state.get("lastLocalId", 0),
                            groups=self.state.get("groups", {}), autoSync=autoSync,
                            tls=self.connectionTLS(), httpsTrust=self.httpsTrust())
        self.client = client
        return client

    async def connected(self, autoSync: bool = False, lastSeq: Optional[int] = None) -> ChatClient:
        self.credentials()
        client = self.makeClient(autoSync, lastSeq)
        d = client.start()
        timer = self.reactor.callLater(self.args.timeout, d.cancel)
        try:
            await d
        except Unauthorized:
            client.stop()
            raise CommandError("the server refused the saved session (logged out or expired): "
                               "run `fxim-chat login MOBILE` again")
        except Exception:
            client.stop()
            transport, host, port, _ = self.endpoint()
            raise CommandError(f"cannot connect to {transport} {host}:{port}")
        finally:
            if timer.active():
                timer.cancel()
        return client

    async def finish(self, client: ChatClient) -> None:
        self.state.data["lastLocalId"] = client.lastLocalId
        self.state.save()
        await client.stop()

    # -- helpers ------------------------------------------------------------------

    async def resolveUser(self, client: ChatClient, target: str) -> str:
        """
        A mobile number becomes the uid of its user (if found).
        """
        if MOBILE.match(target):
            for user in await client.searchUsers(target, fuzzy=False):
                if user.mobile == target:
                    return user.userId
        return target

    async def names(self, client: ChatClient, userIds: Sequence[str]) -> Dict[str, str]:
        missing = [u for u in set(userIds) if u and u not in self._names]
        if missing:
            try:
                for user in await client.users(missing):
                    self._names[user.userId] = user.displayName or user.name or user.mobile or user.userId
            except Exception:
                pass
        return {u: self._names.get(u, u) for u in userIds}

    def label(self, userId: str) -> str:
        name = self._names.get(userId)
        if userId == self.state.get("uid"):
            return "me"
        return f"{name} ({userId})" if name and name != userId else userId

    def formatMessage(self, message: Message) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S",
                             time.localtime((message.timestamp or time.time() * 1000) / 1000))
        sender = self.label(message.fromUser)
        conv = message.conversation
        if conv.type == 1:
            client = getattr(self, "client", None)
            groups = client.groups if client is not None else self.state.get("groups", {})
            groupName = groups.get(conv.target) or conv.target
            where = f"[{groupName}] "
        elif message.fromUser == self.state.get("uid"):
            where = f"(to {self.label(conv.target)}) "
        else:
            where = ""
        return f"{when}  {where}{sender}: {describe(message)}"

    # -- commands -----------------------------------------------------------------

    async def login(self) -> None:
        mobile, code = self.args.mobile, self.args.code
        client = self.makeClient()
        if not code:
            await client.sendCode(mobile)
            self.print(f"A code was sent to {mobile}.")
            self.out.write("Code: ")
            self.out.flush()
            code = (await self._readLine()).strip()
        if self.state.get("mobile") != mobile:
            for key in ("lastSeq", "groups", "uid", "token"):
                self.state.data.pop(key, None)
        deviceId = self.state.get("deviceId") or f"fxim-chat-{uuid.uuid4()}"
        creds = await client.login(mobile, code, deviceId)
        self.state.data.update({"mobile": mobile, "uid": creds.userId, "token": creds.token,
                                "deviceId": creds.clientId})
        self.state.save()
        self.print(f"Logged in as {creds.userId} ({mobile}), device {creds.clientId}"
                   f"{' (new account)' if creds.register else ''}.")
        self.print(f"State saved in {self.state.path}")

    def _readLine(self) -> Deferred:
        return _inThread(self.reactor, self.stdin.readline)

    async def whoami(self) -> None:
        creds = self.credentials()
        transport, host, port, _ = self.endpoint()
        self.print(f"uid {creds.userId}  mobile {self.state.get('mobile')}  device {creds.clientId}")
        self.print(f"server {self.server}  {transport} {host}:{port}  "
                   f"last seq {self.state.get('lastSeq', 0)}")

    async def friends(self) -> None:
        client = await self.connected()
        friends = await client.friends()
        users = {u.userId: u for u in await client.users([f.userId for f in friends])}
        if not friends:
            self.print("No friends yet (add-friend UID, then the other side runs accept).")
        for f in friends:
            u = users.get(f.userId)
            name = (u.displayName or u.name) if u else ""
            self.print(f"{f.userId}\t{name}\t{u.mobile if u else ''}"
                       f"{chr(9) + 'alias ' + f.alias if f.alias else ''}")
        await self.finish(client)

    async def requests(self) -> None:
        client = await self.connected()
        me = self.state.get("uid")
        requests = await client.friendRequests()
        if not requests:
            self.print("No friend requests.")
        status = {s.value: s.name.lower() for s in FriendRequestStatus}
        for r in requests:
            direction = f"from {r.fromUid}" if r.toUid == me else f"to {r.toUid}"
            self.print(f"{direction}\t{status.get(r.status, r.status)}\t{r.reason}")
        await self.finish(client)

    async def groups(self) -> None:
        # Groups are learned from group messages and notifications
        # (create 104, add 105, kick 106, quit 107, dismiss 108, rename 110)
        # pulled by this device; a separate cursor scans what `follow` has
        # not shown yet without consuming it.
        client = await self.connected(autoSync=False,
                                      lastSeq=self.state.get("groupScanSeq", 0))
        await client.sync()
        known = dict(client.groups)
        infos = {g.targetId: g for g in await client.groupInfo(sorted(known))}
        for gid in list(known):
            if gid not in infos:
                known.pop(gid)  # dismissed meanwhile
            else:
                known[gid] = infos[gid].name
        self.state.data["groups"] = known
        self.state.data["groupScanSeq"] = client.lastSeq
        if not known:
            self.print("No groups known (groups appear once a group message or notification "
                       "is pulled).")
        for gid, name in sorted(known.items(), key=lambda kv: kv[1]):
            info = infos[gid]
            self.print(f"{gid}\t{name}\t{info.memberCount} members\towner {info.owner}")
        await self.finish(client)

    async def send(self) -> None:
        client = await self.connected()
        target = self.args.target
        if not self.args.group:
            target = await self.resolveUser(client, target)
        d = client.sendText(target, self.args.text, group=self.args.group)
        timer = self.reactor.callLater(self.args.timeout, d.cancel)
        try:
            result = await d
        except RequestFailed as e:
            raise CommandError(f"the server refused the message: {e}")
        finally:
            if timer.active():
                timer.cancel()
        when = time.strftime("%H:%M:%S", time.localtime(result.timestamp / 1000))
        self.print(f"sent to {target} at {when}, message uid {result.messageUid}")
        await self.finish(client)

    async def history(self) -> None:
        client = await self.connected()
        target = self.args.target
        if not self.args.group:
            target = await self.resolveUser(client, target)
        conversation = Conversation(1 if self.args.group else 0, target, 0)
        messages = await client.history(conversation, 0, self.args.count)
        await self.names(client, [m.fromUser for m in messages])
        for message in reversed(messages):
            self.print(self.formatMessage(message))
        if not messages:
            self.print("No messages.")
        await self.finish(client)

    async def search(self) -> None:
        client = await self.connected()
        users = await client.searchUsers(self.args.keyword)
        for u in users:
            self.print(f"{u.userId}\t{u.displayName or u.name}\t{u.mobile}")
        if not users:
            self.print("Nobody found.")
        await self.finish(client)

    async def addFriend(self) -> None:
        client = await self.connected()
        userId = await self.resolveUser(client, self.args.uid)
        await client.addFriend(userId, self.args.reason)
        self.print(f"Friend request sent to {userId}.")
        await self.finish(client)

    async def accept(self) -> None:
        client = await self.connected()
        userId = await self.resolveUser(client, self.args.uid)
        await client.acceptFriend(userId)
        self.print(f"{userId} is now a friend.")
        await self.finish(client)

    async def createGroup(self) -> None:
        client = await self.connected()
        members = [await self.resolveUser(client, m) for m in self.args.members]
        gid = await client.createGroup(self.args.name, members)
        self.state.data.setdefault("groups", {})[gid] = self.args.name
        self.print(f"Created group {gid} ({self.args.name}).")
        await self.finish(client)

    async def logout(self) -> None:
        client = await self.connected()
        await client.stop(logout=True)
        for key in ("token", "lastSeq", "groups", "groupScanSeq"):
            self.state.data.pop(key, None)
        self.state.save()
        self.print("Logged out.")

    async def follow(self) -> None:
        self.credentials()
        lastSeq = 0 if self.args.from_start else None
        client = self.makeClient(autoSync=True, lastSeq=lastSeq)
        me = self.state.get("uid")

        def saveCursor(seq: int) -> None:
            self.state.data["lastSeq"] = seq
            self.state.data["groups"] = dict(client.groups)
            self.state.data["lastLocalId"] = client.lastLocalId
            self.state.save()

        self._chain: Deferred = Deferred()
        self._chain.callback(None)

        def ordered(message: Message) -> None:
            self._chain.addCallback(lambda _: ensureDeferred(
                self.names(client, [message.fromUser]))).addCallback(
                lambda _: self.print(self.formatMessage(message))).addErrback(
                lambda f: self.print(f"(could not show a message: {f.getErrorMessage()})"))

        client.onMessage(ordered)
        client.onCursor(saveCursor)
        client.onRecall(lambda r: self.print(f"*** {self.label(r.fromUser)} recalled message {r.messageUid}"))
        client.onTransparent(lambda m: self.print(
            f"*** {self.label(m.fromUser)} is typing…" if m.content.type == 91 else
            f"*** call signal {m.content.type} from {self.label(m.fromUser)}"))

        def onFriendRequest(r: Any) -> None:
            if r.toUid == me and r.status == 0:
                self.print(f"*** friend request from {r.fromUid}: {r.reason}"
                           f"  (fxim-chat accept {r.fromUid})")
        client.onFriendRequest(onFriendRequest)

        def onState(state: ConnectionState) -> None:
            if state == ConnectionState.CONNECTED:
                transport, host, port, _ = self.endpoint()
                self.print(f"--- connected to {transport} {host}:{port} as {me}; "
                           f"following (Ctrl-C to stop)")
            elif state == ConnectionState.DISCONNECTED and client.nextRetryDelay is not None:
                self.print(f"--- disconnected; reconnecting in {client.nextRetryDelay:.1f}s")
            elif state == ConnectionState.UNAUTHORIZED:
                self.print("--- the server refused the session: run `fxim-chat login` again")
        client.onState(onState)

        def stopWhenRefused(state: ConnectionState) -> None:
            if state == ConnectionState.UNAUTHORIZED:
                self.reactor.stop()
        client.onState(stopWhenRefused)
        self.reactor.addSystemEventTrigger("before", "shutdown", client.stop)
        try:
            await client.start()
        except (Unauthorized, NotConnected):
            return
        await Deferred()  # until Ctrl-C stops the reactor

    COMMANDS = {
        "login": login, "whoami": whoami, "friends": friends, "requests": requests,
        "groups": groups, "send": send, "follow": follow, "history": history,
        "search": search, "add-friend": addFriend, "accept": accept,
        "create-group": createGroup, "logout": logout,
    }

    async def importToken(self) -> None:
        """
        Save a minted token as this state file's session (i12).
        """
        name = self.args.file
        try:
            if name == "-":
                text = await self._readAll()
            else:
                with open(name, encoding="utf-8") as f:
                    text = f.read()
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("result"), dict):
                data = data["result"]
            userId, cid, token = data["userId"], data["clientId"], data["token"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CommandError(f"cannot read a minted token from {name}: "
                               f"{type(e).__name__}: {e}")
        if not all(isinstance(v, str) and v for v in (userId, cid, token)):
            raise CommandError("userId, clientId and token must be non-empty strings")
        if self.state.get("uid") != userId:
            for key in ("lastSeq", "groups", "groupScanSeq", "mobile"):
                self.state.data.pop(key, None)
        self.state.data.update({"uid": userId, "token": token, "deviceId": cid})
        self.state.save()
        self.print(f"Using a minted token for {userId}, device {cid}.")
        self.print(f"State saved in {self.state.path}")

    def _readAll(self) -> Deferred:
        return _inThread(self.reactor, self.stdin.read)

    COMMANDS["import-token"] = importToken

    async def run(self) -> None:
        await self.COMMANDS[self.args.command](self)


def _inThread(reactor: Any, f: Any) -> Deferred:
    from twisted.internet.threads import deferToThreadPool
    return deferToThreadPool(reactor, reactor.getThreadPool(), f)


async def _main(reactor: Any, args: argparse.Namespace) -> int:
    if args.verbose:
        from twisted.logger import globalLogBeginner, textFileLogObserver
        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    try:
        await Cli(reactor, args).run()
    except CommandError as e:
        print(f"fxim-chat: {e}", file=sys.stderr)
        return 1
    except LoginError as e:
        print(f"fxim-chat: login refused (code {e.code}): {e.message}", file=sys.stderr)
        return 1
    except RequestFailed as e:
        print(f"fxim-chat: the server refused the request: {e}", file=sys.stderr)
        return 1
    except ConnectionRefusedError as e:
        print(f"fxim-chat: cannot reach the server: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> None:
    """
    The C{fxim-chat} console script.
    """
    from twisted.internet import reactor
    from twisted.internet.error import ConnectionRefusedError as TxRefused
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    status: List[int] = [0]

    async def run() -> None:
        try:
            status[0] = await _main(reactor, args)
        except TxRefused as e:
            print(f"fxim-chat: cannot reach the server: {e}", file=sys.stderr)
            status[0] = 1
        except Exception as e:
            print(f"fxim-chat: {type(e).__name__}: {e}", file=sys.stderr)
            status[0] = 1
        finally:
            if reactor.running:
                reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()
    sys.exit(status[0])


if __name__ == "__main__":
    main()
