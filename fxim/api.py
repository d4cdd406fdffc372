# -*- test-case-name: fxim.test.unit.test_api -*-
"""
L{FximAPI}: the curated, versioned surface plugins use to reach the node,
in the spirit of Synapse's C{ModuleApi}.

A handler reaches it as C{context.api}; an extension wired by the node
(push, webhooks, moderation...) gets it from L{apiFor}.  Everything else a
plugin could reach through C{context.node} -- stores, the bus, the
directory, services -- is an internal of fxim and may change in any
release.

Stability promise: a method documented here keeps its name, parameters and
meaning for every fxim release with the same L{API_VERSION}; a release
that breaks one raises L{API_VERSION}.  A method added later says so
("Added in API version N").  Methods marked I{provisional} may still
change without a version bump.
"""

from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from fxim.admin.service import SYSTEM_UID
from fxim.model import Conversation, GroupInfo, GroupMember, Message, MessageContent, User
from fxim.wire.requests import SendResult

#: The version of this API.  Plugins may check it at import time:
#: C{assert fxim.api.API_VERSION == 1}.
API_VERSION = 1

#: The user id of the node's system notices (admin broadcasts); pass it as
#: C{fromUser} to L{FximAPI.publishMessage} for a message from "the system".
SYSTEM_USER_ID = SYSTEM_UID

#: The names L{FximAPI.getExtension} knows.
EXTENSIONS = ("push", "moderation", "webhooks")

#: C{async f(message, receivers)}.
MessageHook = Callable[[Message, List[str]], Awaitable[None]]
#: C{async f(event, userId, cid)}, C{event} C{"online"} or C{"offline"}.
DeviceHook = Callable[[str, str, str], Awaitable[None]]
#: C{async f(userId, cid)}; C{cid} None means every device of the user.
SessionHook = Callable[[str, Optional[str]], Awaitable[None]]
#: C{async f(userId, cid, message) -> message or None}.
BeforeSendHook = Callable[[str, str, Message], Awaitable[Optional[Message]]]


class FximAPI:
    """
    What a plugin may use of one node.

    Build it with L{apiFor}; its constructor is not part of the API.
    Methods doing I/O are coroutines (C{async def}); callers C{await} them
    (or wrap them with C{Deferred.fromCoroutine}).
    """

    def __init__(self, node: Any) -> None:
        # The one place that knows the node's internal shape.
        self._config = node.config
        self._clock = node.reactor
        self._store = node.store
        self._directory = node.directory
        self._bus = node.bus
        self._messages = node.messages
        self._auth = node.auth
        self._deviceHooks: List[Any] = node.sessions.deviceHooks
        self._extensions: Dict[str, Any] = {
            name: getattr(node, name, None) for name in EXTENSIONS}

    # -- the node -------------------------------------------------------------

    @property
    def config(self) -> Any:
        """
        The node's configuration, a frozen L{fxim.config.Config} (read-only;
        its attributes are the command-line and config-file options).

        Stable: the attribute names of documented options.
        """
        return self._config

    @property
    def clock(self) -> IReactorTime:
        """
        The node's clock (C{seconds}, C{callLater}); a plugin schedules its
        work here, never on the global reactor, so tests can drive it.

        Stable.
        """
        return self._clock  # type: ignore[no-any-return]

    def now(self) -> int:
        """
        @return: the node's time in milliseconds since the epoch (the unit
            of every timestamp fxim stores or sends).

        Stable.
        """
        return int(self._clock.seconds() * 1000)

    def logger(self, namespace: str) -> Logger:
        """
        @param namespace: a dotted name for the plugin's log lines (e.g.
            C{"acme.echo"}).
        @return: a L{twisted.logger.Logger} writing to the node's log.

        Stable.
        """
        return Logger(namespace=namespace)

    def getExtension(self, name: str) -> Optional[Any]:
        """
        The service an fxim extension installed on this node under C{name}
        (one of L{EXTENSIONS}: C{"push"}, C{"moderation"}, C{"webhooks"}),
        for that extension's own handlers.

        Provisional: the returned object's surface is that extension's
        own, not part of this API.

        @return: the service, or None when the node runs without it.
        """
        return self._extensions.get(name)

    # -- delivery -------------------------------------------------------------

    async def deliver(self, userId: str, push: Any, excludeCid: Optional[str] = None) -> None:
        """
        Push C{push} to every connected device of C{userId}, on whichever
        node of the cluster holds it; devices not connected miss it (a push
        is not stored: store a message with L{publishMessage} for that).

        @param push: a push object with a registered codec, e.g.
            C{fxim.wire.requests.PluginPush(subsignal, jsonValue)}.
        @param excludeCid: a device of C{userId} that must not get it (the
            caller's own, usually).

        Stable.
        """
        await self._bus.deliver(userId, push, excludeCid)

    # -- messages -------------------------------------------------------------

    async def publishMessage(self, fromUser: str, conversation: Conversation,
                             content: MessageContent, receivers: Iterable[str]) -> Message:
        """
        Store a server-made message from C{fromUser} (a user id, or
        L{SYSTEM_USER_ID}) in the inbox of every receiver and notify every
        device of each (MN; they pull it like any other message).  No send
        check or before-send hook runs: the plugin decides who receives it.

        @param conversation: where it appears, e.g. C{Conversation(
            ConversationType.PRIVATE, peer)} or a group conversation.
        @param receivers: the user ids whose inboxes get it (include the
            sender to keep a copy in its own history).
        @return: the stored L{Message}, with its uid and timestamp.

        Stable.
        """
        return await self._messages.publish(  # type: ignore[no-any-return]
            Message(conversation, fromUser, content), receivers)

    async def sendMessage(self, userId: str, cid: str, message: Message) -> SendResult:
        """
        Send C{message} as user C{userId} from its device C{cid}, exactly
        as if that device had sent MS: the same checks (friendship,
        blacklists, group membership and muting), hooks and idempotency.

        @raise fxim.errors.SignalError: the send was refused (its code).
        @return: the L{SendResult} (message uid and timestamp).

        Stable.
        """
        return await self._messages.send(userId, cid, message)  # type: ignore[no-any-return]

    # -- look-ups -------------------------------------------------------------

    async def getUser(self, userId: str) -> Optional[User]:
        """
        @return: the L{User}, or None if there is none with that id.

        Stable.
        """
        return await self._store.getUser(userId)  # type: ignore[no-any-return]

    async def getUsers(self, userIds: Iterable[str]) -> Dict[str, User]:
        """
        @return: user id -> L{User} for those of C{userIds} that exist.

        Stable.
        """
        return await self._store.getUsers(list(userIds))  # type: ignore[no-any-return]

    async def getGroup(self, groupId: str) -> Optional[GroupInfo]:
        """
        @return: the L{GroupInfo}, or None if there is no such group.

        Stable.
        """
        return await self._store.getGroup(groupId)  # type: ignore[no-any-return]

    async def getGroupMembers(self, groupId: str) -> List[GroupMember]:
        """
        @return: the current members of C{groupId} (none for an unknown
            group).

        Stable.
        """
        return list(await self._store.getMembers(groupId))

    async def getGroupsOf(self, userId: str) -> List[str]:
        """
        @return: the ids of the groups C{userId} is a member of.

        Stable.
        """
        return list(await self._store.groupsOf(userId))

    async def getDevices(self, userId: str) -> List[str]:
        """
        @return: the client ids of C{userId}'s devices connected now, on
            any node, ordered.

        Stable.
        """
        return [presence.cid for presence in await self._directory.devicesOf(userId)]

    # -- events ---------------------------------------------------------------
    # Callbacks run in registration order; one that raises is logged and
    # the others still run.  Register while the node starts (at wiring
    # time), not per request.

    def registerMessageStored(self, callback: MessageHook) -> None:
        """
        Call C{await callback(message, receivers)} after every stored
        message reached its receivers' inboxes -- sent by a client or
        published by the server -- before the next one from the same
        device is acked.

        Stable.
        """
        self._messages.afterReach.append(callback)

    def registerBeforeSend(self, callback: BeforeSendHook) -> None:
        """
        Call C{await callback(userId, cid, message)} before a client's
        message is stored: return the message (possibly rewritten), None to
        drop it silently, or raise L{fxim.errors.SignalError} to refuse it.

        Stable.
        """
        self._messages.beforeSend.append(callback)

    def registerDeviceEvent(self, callback: DeviceHook) -> None:
        """
        Call C{await callback(event, userId, cid)} when a device of this
        node comes online (C{"online"}, after its CONNECT is accepted) or
        goes (C{"offline"}).

        Stable.
        """
        self._deviceHooks.append(callback)

    def registerLoggedIn(self, callback: SessionHook) -> None:
        """
        Call C{await callback(userId, cid)} after a device logged in (HTTP
        C{/login}).

        Stable.
        """
        self._auth.loggedIn.append(callback)

    def registerSessionEnded(self, callback: SessionHook) -> None:
        """
        Call C{await callback(userId, cid)} after a device logged out or was
        revoked (C{cid} None: every device of the user).

        Stable.
        """
        self._auth.sessionEnded.append(callback)


def apiFor(node: Any) -> FximAPI:
    """
    @param node: the L{fxim.node.Node} (what handlers see as
        C{context.node}).
    @return: the node's L{FximAPI}.  Cheap: call it where needed.

    Stable.
    """
    return FximAPI(node)
