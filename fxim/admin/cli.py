# -*- test-case-name: fxim.test.e2e.test_admin_cli -*-
"""
C{fxim-admin}: the admin API from a terminal (also C{python -m
fxim.admin}).

    export FXIM_ADMIN_SECRET="$(cat admin.secret)"
    fxim-admin --server http://127.0.0.1:8081 users --query 138
    fxim-admin block 2fGhK1
    fxim-admin send --everyone "maintenance at 22:00"
    fxim-admin mint-token alice bot-1 | fxim-chat --state bot.json import-token

Every command prints the API's C{result} as JSON; a refusal prints
C{fxim-admin: HTTP <status> (code <code>): <message>} on stderr and exits
with status 1.  See docs/admin-api.md.
"""

import argparse
import json
import os
import sys
from typing import Any, List, Optional

from twisted.internet.defer import ensureDeferred

from fxim.admin.client import AdminApiError, AdminClient, path

DEFAULT_SERVER = "http://127.0.0.1:8081"
SECRET_ENV = "FXIM_ADMIN_SECRET"


class CommandError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fxim-admin",
                                description="Run an fxim (飞享 IM) service through its admin API.")
    p.add_argument("--server", default=os.environ.get("FXIM_SERVER", DEFAULT_SERVER),
                   help=f"HTTP API base URL (default $FXIM_SERVER or {DEFAULT_SERVER})")
    p.add_argument("--secret-file", help=f"file holding the admin secret (default ${SECRET_ENV})")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def cmd(name, text, *args):
        c = sub.add_parser(name, help=text)
        for a in args:
            c.add_argument(a)
        return c

    for name in ("users", "groups"):
        c = cmd(name, f"list or search {name}")
        c.add_argument("--query", "-q", default="")
        c.add_argument("--offset", type=int, default=0)
        c.add_argument("--limit", type=int, default=50)
    cmd("user", "show a user (profile, login e-mail, groups, sessions)", "uid")
    c = cmd("create-user", "create a user")
    c.add_argument("--mobile", default="", help="mobile, +E.164 number or e-mail address")
    c.add_argument("--name", default="", help="display name")
    c.add_argument("--uid")
    c = cmd("update-user", "change profile fields: FIELD=VALUE ...", "uid")
    c.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    for name in ("block", "unblock", "mute", "unmute"):
        cmd(name, f"{name} a user", "uid")
    c = cmd("delete-user", "delete a user (profile, friendships, groups, sessions)", "uid")
    c.add_argument("--erase-messages", action="store_true",
                   help="also erase the content of every message they sent")
    cmd("sessions", "list a user's sessions", "uid")
    c = cmd("revoke", "revoke one session (or all) of a user; connections close", "uid")
    c.add_argument("clientId", nargs="?")
    cmd("mint-token", "issue a token for a user's device (prints JSON for fxim-chat "
        "import-token)", "uid", "clientId")
    cmd("group", "show a group with its members", "groupId")
    cmd("dismiss", "dismiss a group", "groupId")
    c = cmd("add-members", "add members to a group", "groupId")
    c.add_argument("members", nargs="+")
    cmd("remove-member", "remove a member from a group", "groupId", "uid")
    cmd("set-owner", "hand a group to one of its members", "groupId", "uid")
    for name, what in (("manager", "make a member a manager"), ("mute-member", "mute a member")):
        c = cmd(name, what + " (--remove: undo)", "groupId", "uid")
        c.add_argument("--remove", action="store_true")
    c = cmd("send", "send a system message", "text")
    to = c.add_mutually_exclusive_group(required=True)
    to.add_argument("--to", nargs="+", metavar="UID", help="these users")
    to.add_argument("--group", metavar="GROUPID", help="this group")
    to.add_argument("--everyone", action="store_true", help="every user")
    cmd("message", "show a stored message", "messageUid")
    cmd("recall", "recall any message", "messageUid")
    c = cmd("purge-conversation", "delete a conversation's messages (pulls show a tombstone)")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--users", nargs=2, metavar="UID")
    which.add_argument("--group", metavar="GROUPID")
    cmd("retention-run", "run the retention purge now")
    c = cmd("audit", "list admin actions, newest first")
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--limit", type=int, default=50)
    c = cmd("raw", "call any route: METHOD /admin/PATH [JSON]", "method", "route")
    c.add_argument("body", nargs="?")
    return p


def _secret(args) -> str:
    if args.secret_file:
        try:
            with open(args.secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as e:
            raise CommandError(f"cannot read {args.secret_file}: {e.strerror}")
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret:
        raise CommandError(f"no admin secret: use --secret-file PATH or set ${SECRET_ENV}")
    return secret


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    return text


async def run(reactor: Any, args: argparse.Namespace) -> Any:
    api = AdminClient(reactor, args.server, _secret(args))
    c = args.command
    if c in ("users", "groups"):
        query = {"offset": args.offset, "limit": args.limit}
        if args.query:
            query["q"] = args.query
        return await api.call("GET", "/" + c, query=query)
    if c == "user":
        return await api.call("GET", path("users", args.uid))
    if c == "create-user":
        body = {"mobile": args.mobile, "displayName": args.name}
        if args.uid:
            body["uid"] = args.uid
        return await api.call("POST", "/users", body)
    if c == "update-user":
        fields = {}
        for item in args.fields:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"{item!r} is not FIELD=VALUE")
            fields[key] = _value(value)
        return await api.call("PATCH", path("users", args.uid), fields)
    if c in ("block", "unblock", "mute", "unmute"):
        return await api.call("POST", path("users", args.uid, c))
    if c == "delete-user":
        return await api.call("DELETE", path("users", args.uid),
                              query={"eraseMessages": "true" if args.erase_messages else "false"})
    if c == "sessions":
        return await api.call("GET", path("users", args.uid, "sessions"))
    if c == "revoke":
        parts = ("users", args.uid, "sessions") + ((args.clientId,) if args.clientId else ())
        return await api.call("DELETE", path(*parts))
    if c == "mint-token":
        return await api.call("POST", "/tokens", {"uid": args.uid, "clientId": args.clientId})
    if c == "group":
        return await api.call("GET", path("groups", args.groupId))
    if c == "dismiss":
        return await api.call("DELETE", path("groups", args.groupId))
    if c == "add-members":
        return await api.call("POST", path("groups", args.groupId, "members"),
                              {"members": args.members})
    if c == "remove-member":
        return await api.call("DELETE", path("groups", args.groupId, "members", args.uid))
    if c == "set-owner":
        return await api.call("POST", path("groups", args.groupId, "owner"), {"uid": args.uid})
    if c in ("manager", "mute-member"):
        kind = "managers" if c == "manager" else "muted"
        return await api.call("DELETE" if args.remove else "POST",
                              path("groups", args.groupId, kind, args.uid))
    if c == "send":
        body = {"text": args.text}
        if args.to:
            body["users"] = args.to
        elif args.group:
            body["group"] = args.group
        else:
            body["everyone"] = True
        return await api.call("POST", "/messages", body)
    if c == "message":
        return await api.call("GET", path("messages", args.messageUid))
    if c == "recall":
        return await api.call("DELETE", path("messages", args.messageUid))
    if c == "purge-conversation":
        body = ({"type": 0, "users": args.users} if args.users else
                {"type": 1, "group": args.group})
        return await api.call("POST", "/conversations/purge", body)
    if c == "retention-run":
        return await api.call("POST", "/retention/run")
    if c == "audit":
        return await api.call("GET", "/audit", query={"offset": args.offset, "limit": args.limit})
    if c == "raw":
        route = args.route if args.route.startswith("/") else "/" + args.route
        prefix = ""
        if not route.startswith(("/admin/", "/imopenapi/")):
            prefix = "/admin"
        try:
            rawBody = json.loads(args.body) if args.body else None
        except ValueError:
            raise CommandError("the body is not JSON")
        return await api.call(args.method.upper(), route, rawBody, prefix=prefix)
    raise CommandError(f"unknown command {c}")  # pragma: no cover


def main(argv: Optional[List[str]] = None) -> None:
    """
    The C{fxim-admin} console script.
    """
    from twisted.internet import reactor
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    status: List[int] = [0]

    async def go() -> None:
        try:
            result = await run(reactor, args)
            print(json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True))
        except AdminApiError as e:
            print(f"fxim-admin: {e}", file=sys.stderr)
            status[0] = 1
        except CommandError as e:
            print(f"fxim-admin: {e}", file=sys.stderr)
            status[0] = 1
        except Exception as e:
            print(f"fxim-admin: cannot reach {args.server}: {type(e).__name__}: {e}",
                  file=sys.stderr)
            status[0] = 1
        finally:
            if reactor.running:
                reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(go()))
    reactor.run()
    sys.exit(status[0])
