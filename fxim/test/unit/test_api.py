# -*- test-case-name: fxim.test.unit.test_api -*-
"""
Tests for L{fxim.api}, on a node from L{fxim.testing.memoryNode}, and for
the helpers of L{fxim.testing}.
"""

from typing import Any, Coroutine, List, Optional, Tuple

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fxim.test import ROOT
from fxim import api
from fxim.config import Config
from fxim.dispatch import HandlerSet, RequestContext
from fxim.errors import ErrorCode, SignalError
from fxim.interfaces import IConnection
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, Message, MessageContent,
)
from fxim.testing import FakeConnection, MemoryNode, connectedPair, memoryNode
from fxim.wire.requests import MessageNotify, PluginPush, PullMessages
from fxim.wire.signals import Signal

ALICE, BOB = "13800000001", "13800000002"


class _NodeTest(SynchronousTestCase):
    """
    A memory node with users alice and bob.
    """

    def setUp(self) -> None:
        self.node: MemoryNode = memoryNode()
        self.addCleanup(lambda: self.wait(self.node.close()))
        self.api = self.node.api
        self.alice, self.aliceToken = self.wait(self.node.login(ALICE, "phone"))
        self.bob, _ = self.wait(self.node.login(BOB, "phone"))

    def wait(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.successResultOf(ensureDeferred(coroutine))

    def online(self, userId: str, cid: str = "phone") -> FakeConnection:
        connection = FakeConnection(transportName="tcp")
        self.wait(self.node.bind(connection, userId, cid))
        return connection

    def text(self, body: str) -> MessageContent:
        return MessageContent(ContentType.TEXT, searchableContent=body)


class NodeTests(_NodeTest):
    """
    The node-wide parts: version, config, clock, logger, extensions.
    """

    def test_version(self) -> None:
        """
        The API is version 1.
        """
        self.assertEqual(api.API_VERSION, 1)

    def test_apiFor(self) -> None:
        """
        L{api.apiFor} and C{context.api} give a L{api.FximAPI} of the node.
        """
        self.assertIsInstance(api.apiFor(self.node.server), api.FximAPI)
        context = RequestContext(FakeConnection(), self.node.server, 0, 0, 0)
        self.assertIsInstance(context.api, api.FximAPI)
        self.assertIs(context.api.config, self.node.config)

    def test_config(self) -> None:
        """
        C{config} is the node's (frozen) configuration.
        """
        self.assertIs(self.api.config, self.node.config)
        self.assertEqual(self.api.config.loginCode, "556677")

    def test_clock(self) -> None:
        """
        C{clock} is the node's reactor; C{now} its time in milliseconds.
        """
        self.assertIs(self.api.clock, self.node.clock)
        self.node.clock.advance(12.5)
        self.assertEqual(self.api.now(), int(self.node.clock.seconds() * 1000))

    def test_logger(self) -> None:
        """
        C{logger} gives a L{Logger} in the plugin's namespace.
        """
        log = self.api.logger("acme.echo")
        self.assertIsInstance(log, Logger)
        self.assertEqual(log.namespace, "acme.echo")

    def test_getExtension(self) -> None:
        """
        C{getExtension} names an installed extension's service, None for
        an absent one.
        """
        self.assertIs(self.api.getExtension("push"), self.node.server.push)
        self.assertIs(self.api.getExtension("moderation"), self.node.server.moderation)
        self.assertIsNone(self.api.getExtension("webhooks"))


class DeliveryTests(_NodeTest):
    """
    C{deliver} and the message methods.
    """

    def test_deliver(self) -> None:
        """
        A push reaches every connected device of the user but the excluded
        one.
        """
        phone, web = self.online(self.alice, "phone"), self.online(self.alice, "web")
        push = PluginPush(64, {"x": 1})
        self.wait(self.api.deliver(self.alice, push, "phone"))
        self.assertEqual((phone.pushes, web.pushes), ([], [push]))

    def test_publishMessage(self) -> None:
        """
        A published message is stored for its receivers, who get an MN.
        """
        phone = self.online(self.bob)
        stored = self.wait(self.api.publishMessage(
            self.alice, Conversation(ConversationType.PRIVATE, self.bob), self.text("hi"),
            [self.alice, self.bob]))
        self.assertEqual((stored.fromUser, stored.content.searchableContent), (self.alice, "hi"))
        self.assertNotEqual(stored.messageUid, 0)
        self.assertEqual(phone.pushes, [MessageNotify(0, 1)])
        pulled = self.wait(self.node.server.messages.pull(self.bob, 0))
        self.assertEqual([m.messageUid for m in pulled.messages], [stored.messageUid])

    def test_publishSystemMessage(self) -> None:
        """
        A message from L{api.SYSTEM_USER_ID} is published the same way.
        """
        stored = self.wait(self.api.publishMessage(
            api.SYSTEM_USER_ID, Conversation(ConversationType.PRIVATE, ""), self.text("notice"),
            [self.bob]))
        self.assertEqual(stored.fromUser, "SystemNotification")

    def test_sendMessage(self) -> None:
        """
        C{sendMessage} sends as the user, with MS's checks: to a stranger
        it is refused; to oneself it is stored.
        """
        mine = Message(Conversation(ConversationType.PRIVATE, self.alice), "", self.text("note"))
        result = self.wait(self.api.sendMessage(self.alice, "phone", mine))
        self.assertNotEqual(result.messageUid, 0)
        unknown = Message(Conversation(ConversationType.PRIVATE, "nobody"), "", self.text("x"))
        failure = self.failureResultOf(
            ensureDeferred(self.api.sendMessage(self.alice, "phone", unknown)), SignalError)
        self.assertEqual(failure.value.code, ErrorCode.NOT_EXIST)


class LookupTests(_NodeTest):
    """
    Users, groups, members and devices.
    """

    def test_getUser(self) -> None:
        """
        C{getUser} finds a user by id, None for an unknown id.
        """
        self.assertEqual(self.wait(self.api.getUser(self.alice)).userId, self.alice)
        self.assertIsNone(self.wait(self.api.getUser("nobody")))

    def test_getUsers(self) -> None:
        """
        C{getUsers} maps the known ids to their users.
        """
        found = self.wait(self.api.getUsers([self.alice, "nobody", self.bob]))
        self.assertEqual(sorted(found), sorted([self.alice, self.bob]))

    def test_groups(self) -> None:
        """
        C{getGroup}, C{getGroupMembers} and C{getGroupsOf} read a group.
        """
        groupId = self.wait(self.node.server.groups.create(
            self.alice, GroupInfo("", "team"), [GroupMember(self.bob)], None))
        self.assertEqual(self.wait(self.api.getGroup(groupId)).name, "team")
        self.assertIsNone(self.wait(self.api.getGroup("nogroup")))
        members = self.wait(self.api.getGroupMembers(groupId))
        self.assertEqual(sorted(m.memberId for m in members), sorted([self.alice, self.bob]))
        self.assertEqual(self.wait(self.api.getGroupsOf(self.bob)), [groupId])

    def test_getDevices(self) -> None:
        """
        C{getDevices} lists the connected devices of a user.
        """
        self.assertEqual(self.wait(self.api.getDevices(self.alice)), [])
        self.online(self.alice, "web")
        self.online(self.alice, "phone")
        self.assertEqual(self.wait(self.api.getDevices(self.alice)), ["phone", "web"])


class EventTests(_NodeTest):
    """
    The C{register*} methods.
    """

    def test_messageStored(self) -> None:
        """
        A message-stored callback sees every stored message and its
        receivers.
        """
        seen: List[Tuple[int, List[str]]] = []

        async def stored(message: Message, receivers: List[str]) -> None:
            seen.append((message.messageUid, list(receivers)))
        self.api.registerMessageStored(stored)
        message = self.wait(self.api.publishMessage(
            self.alice, Conversation(ConversationType.PRIVATE, self.bob), self.text("hi"),
            [self.alice, self.bob]))
        self.assertEqual(seen, [(message.messageUid, [self.alice, self.bob])])

    def test_beforeSend(self) -> None:
        """
        A before-send callback may rewrite a client's message or refuse it.
        """
        async def shout(userId: str, cid: str, message: Message) -> Optional[Message]:
            if message.content.searchableContent == "no":
                raise SignalError(ErrorCode.NOT_RIGHT)
            return Message(message.conversation, message.fromUser, self.text("HI"))
        self.api.registerBeforeSend(shout)
        note = Message(Conversation(ConversationType.PRIVATE, self.alice), "", self.text("hi"))
        self.wait(self.api.sendMessage(self.alice, "phone", note))
        [stored] = self.wait(self.node.server.messages.pull(self.alice, 0)).messages
        self.assertEqual(stored.content.searchableContent, "HI")
        refused = Message(note.conversation, "", self.text("no"))
        self.failureResultOf(ensureDeferred(self.api.sendMessage(self.alice, "phone", refused)),
                             SignalError)

    def test_deviceEvent(self) -> None:
        """
        A device callback hears a device come online and go offline.
        """
        events: List[Tuple[str, str, str]] = []

        async def device(event: str, userId: str, cid: str) -> None:
            events.append((event, userId, cid))
        self.api.registerDeviceEvent(device)
        connection = self.online(self.alice, "web")
        self.node.server.sessions.connectionLost(connection)
        self.assertEqual(events, [("online", self.alice, "web"), ("offline", self.alice, "web")])

    def test_loggedInAndSessionEnded(self) -> None:
        """
        Login and session-ended callbacks hear logins and logouts.
        """
        events: List[Tuple[str, str, Optional[str]]] = []

        async def loggedIn(userId: str, cid: Optional[str]) -> None:
            events.append(("in", userId, cid))

        async def ended(userId: str, cid: Optional[str]) -> None:
            events.append(("ended", userId, cid))
        self.api.registerLoggedIn(loggedIn)
        self.api.registerSessionEnded(ended)
        self.wait(self.node.login(ALICE, "tablet"))
        self.successResultOf(self.node.server.auth.logout(self.alice, "tablet"))
        self.assertEqual(events, [("in", self.alice, "tablet"), ("ended", self.alice, "tablet")])


class TestingTests(_NodeTest):
    """
    L{fxim.testing}'s fake connection, request runner and iosim pair.
    """

    def test_fakeConnection(self) -> None:
        """
        L{FakeConnection} provides L{IConnection}.
        """
        self.assertTrue(verifyObject(IConnection, FakeConnection("u", "c")))

    def test_pluginHandler(self) -> None:
        """
        A plugin handler run through the node's dispatcher reaches the API:
        its reply is recorded on the connection, its push on the device.
        """
        plugin = HandlerSet("test.api.echo")

        @plugin.handler(Signal.PUBLISH, 66, name="TESTAPIECHO")
        async def echo(context: RequestContext, request: Any) -> Any:
            await context.api.deliver(context.userId, PluginPush(66, request.value), context.cid)
            return request.value
        node = memoryNode(plugins=[plugin])
        self.addCleanup(lambda: self.wait(node.close()))
        userId, _ = self.wait(node.login(ALICE, "phone"))
        phone, web = FakeConnection(transportName="ws"), FakeConnection(transportName="ws")
        self.wait(node.bind(phone, userId, "phone"))
        self.wait(node.bind(web, userId, "web"))
        outcome = self.successResultOf(node.request(phone, Signal.PUBLISH, 66, {"a": 1}))
        self.assertEqual(phone.replies, [outcome.reply])
        self.assertEqual(outcome.reply.content, '{"a":1}')
        self.assertEqual(web.pushes, [PluginPush(66, {"a": 1})])

    def test_connectedPair(self) -> None:
        """
        The SDK's client and the node's TCP protocol, joined by iosim, do a
        CONNECT and a pull; a message published meanwhile reaches the
        client as an MN.
        """
        client, server, pump = connectedPair(self.node)
        pushes: List[Any] = []
        client.onPush(pushes.append)
        d = ensureDeferred(client.connect(self.alice, self.aliceToken, "phone"))
        pump.flush()
        self.assertEqual(self.successResultOf(d).code, 1)
        self.assertEqual(server.userId, self.alice)
        stored = self.wait(self.api.publishMessage(
            self.bob, Conversation(ConversationType.PRIVATE, self.alice), self.text("hi"),
            [self.alice, self.bob]))
        pump.flush()
        self.assertEqual(pushes, [MessageNotify(0, 1)])
        d = client.request(PullMessages(0, 0))
        pump.flush()
        self.assertEqual([m.messageUid for m in self.successResultOf(d).messages], [stored.messageUid])

    def test_config(self) -> None:
        """
        A given config is used (with a temporary data folder).
        """
        node = memoryNode(Config(loginCode="1234", maxGroupSize=7))
        self.addCleanup(lambda: self.wait(node.close()))
        self.assertEqual((node.config.loginCode, node.config.maxGroupSize), ("1234", 7))
        self.assertNotEqual(node.config.dataDir, Config().dataDir)


class ExamplePluginTests(SynchronousTestCase):
    """
    The example plugin (docs/examples/fxim-echo) on a memory node, as
    docs/plugins.md shows plugin authors.
    """

    def setUp(self) -> None:
        import os
        import sys
        root = ROOT
        sys.path.insert(0, os.path.join(root, "docs", "examples", "fxim-echo"))
        self.addCleanup(sys.path.pop, 0)

    def test_echo(self) -> None:
        """
        ECHO answers the request plus the caller's uid and pushes the same
        value to the caller's other devices through C{context.api}.
        """
        from echo_fxim import ECHO, echo
        node = memoryNode(plugins=[echo])
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(node.close())))
        userId, _ = self.successResultOf(ensureDeferred(node.login("13800000001", "phone")))
        phone, web = FakeConnection(transportName="ws"), FakeConnection(transportName="ws")
        self.successResultOf(ensureDeferred(node.bind(phone, userId, "phone")))
        self.successResultOf(ensureDeferred(node.bind(web, userId, "web")))
        outcome = self.successResultOf(node.request(phone, Signal.PUBLISH, ECHO, {"hi": 1}))
        self.assertEqual(outcome.reply.content, '{"echo":{"hi":1},"uid":"%s"}' % (userId,))
        self.assertEqual(web.pushes, [PluginPush(ECHO, {"echo": {"hi": 1}, "uid": userId})])
        self.assertEqual(phone.pushes, [])
