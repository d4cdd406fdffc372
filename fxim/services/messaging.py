# -*- test-case-name: fxim.test.unit.test_notices,fxim.test.unit.test_social -*-
"""
Sending, notifying, pulling, recalling and loading history: the
notify-then-pull model of universe_push, with nothing ever skipped.

A message is committed -- the message and every receiver's inbox entry --
before the sender is acked and before any MN goes out.  Transparent
messages (typing, call signalling) are never stored: they are pushed at
once to the receivers' devices, never to the sender's own.
"""

from typing import Any, Iterable, Optional, Sequence

import attr
from twisted.internet.defer import Deferred, ensureDeferred, fail, maybeDeferred, succeed
from twisted.python.failure import Failure
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.ids import MessageUidGenerator
from fxim.model import (
    ContentType, Conversation, ConversationType, MemberType, Message,
    MessageContent, UserStatus,
)
from fxim.protocol.messages import fitPull
from fxim.wire.requests import (
    HistoryResult, MessageNotify, PullResult, RecallNotify, SendResult, TransparentMessage,
)

_log = Logger()

#: PullType of MN / MP for ordinary (non-chatroom) conversations.
PULL_NORMAL = 0


class _Sequencer:
    """
    Runs submissions in ticket order without recursion: each caller takes
    a ticket on arrival and hands in its work (or None) when ready; work
    runs as soon as every earlier ticket has been handed in.
    """

    def __init__(self) -> None:
        self._issued = 0
        self._next = 0
        self._ready: dict = {}
        self._draining = False

    def take(self) -> int:
        ticket = self._issued
        self._issued += 1
        return ticket

    def isNext(self, ticket: int) -> bool:
        """
        @return: whether C{ticket}'s work may run now, before it is handed in.
        """
        return ticket == self._next and not self._draining

    @property
    def idle(self) -> bool:
        return self._next == self._issued

    def ready(self, ticket: int, work) -> None:
        self._ready[ticket] = work
        if self._draining:
            return
        self._draining = True
        try:
            while self._next in self._ready:
                work = self._ready.pop(self._next)
                self._next += 1
                if work is not None:
                    try:
                        work()
                    except Exception:
                        _log.failure("submitting a message failed")
        finally:
            self._draining = False


def _fitted(batch, transport: Optional[str], replyLimit: int) -> PullResult:
    """
    The L{PullResult} of a L{PullBatch} (see L{MessagingService.pull}).
    """
    entries = batch.entries
    pieces: tuple = ()
    if transport and replyLimit and entries:
        # Measured encoded: the reply reuses the encodings.
        keep, pieces = fitPull([m for _, m in entries], batch.head, transport, replyLimit)
        entries = entries[:keep]
    if entries:
        current = entries[-1][0]
    else:
        current = batch.head
    return PullResult(tuple(m for _, m in entries), current, batch.head, pieces)


class MessagingService:
    """
    @param store: the node's store (messages, users, friends, groups).
    @param bus: the L{fxim.interfaces.IDeliveryBus}.
    @param clock: an C{IReactorTime}.
    @param config: the L{fxim.config.Config}.
    """

    def __init__(self, store, bus, clock, config) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.config = config
        self.messageUids = MessageUidGenerator(config.nodeId, clock)
        self._sequencers: dict = {}
        # i13: agents
        #: Callables C{(senderUid, message)} run after a client's message
        #: is stored and its MNs sent (not for duplicates or transparent
        #: messages); they must not block (the agents schedule their work).
        self.onStored: list = []
        # i14: hooks (see fxim.push, fxim.webhooks, fxim.moderation).
        #: C{async f(uid, cid, message)} run in order before a message is
        #: stored: return the message (possibly rewritten), None to drop
        #: it silently, or raise L{SignalError} to refuse it.
        self.beforeSend: list = []
        #: C{async f(message, receivers)} awaited after a message is stored,
        #: before the sender is acked (durable follow-ups: webhooks).
        self.afterStore: list = []
        #: C{async f(message, receivers)} after a server-generated message
        #: (group notification, friend greeting) is stored.
        self.afterPublish: list = []
        #: C{async f(message, operator)} after a message is recalled.
        self.afterRecall: list = []
        # ipush2: one hook for every stored message
        #: C{async f(message, receivers)} awaited after I{every} stored
        #: message reached its receivers' inboxes -- sent by a client or
        #: published by the server (broadcasts, greetings, agent answers,
        #: group notifications) -- so a decision such as offline push is
        #: made in one place for all of them.
        self.afterReach: list = []

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    def send(self, userId: str, cid: str, message: Message) -> "Deferred[SendResult]":
        """
        Send C{message} as C{uid} from device C{cid}.  The server sets the
        sender, uid and timestamp; a resend with the same local id returns
        the original uid and timestamp.

        Callbacks on the store's L{Deferred}s, not a coroutine: with the
        send checks cached, an MS is checked and queued for the group
        commit in the turn that read it, and answered in the one that saw
        it committed.  Coroutines run only the hooks, when there are any.

        @return: L{Deferred} firing with the L{SendResult}, or failing with
            L{SignalError}: C{FORBIDDEN_SEND_MSG} blocked/muted sender,
            C{IN_BLACK_LIST} blacklisted by the target, C{NOT_IN_GROUP} not
            a group member, C{NOT_RIGHT} muted in the group, C{NOT_EXIST}
            unknown target, C{INVALID_MESSAGE} invalid message.
        """
        # Checks of concurrent sends from one device run in parallel, but
        # their messages reach the store (and get uids) in arrival order.
        key = (userId, cid)
        sequencer = self._sequencers.get(key)
        if sequencer is None:
            sequencer = self._sequencers[key] = _Sequencer()
        ticket = sequencer.take()
        conversation = message.conversation
        turn = (userId, cid, key, sequencer, ticket)
        now = getattr(self.store, "sendContextNow", None)
        if now is not None:
            # Cached (the common case): no Deferred between here and the store.
            context = now(userId, conversation.type, conversation.target)
            if context is not None:
                try:
                    return self._checked(context, message, turn)
                except BaseException:
                    return fail()
        try:
            checked = self.store.getSendContext(userId, conversation.type, conversation.target)
        except BaseException:
            self._release(key, sequencer, ticket, None)
            raise
        known: list = []
        checked.addBoth(known.append)
        if not known:  # read from the store: continue when it is read
            checked.addCallback(lambda _: known[0])
            return checked.addCallbacks(self._checked, self._unchecked,
                                        callbackArgs=(message, turn), errbackArgs=(turn,))
        # Already read (the memory store): on at once.
        if isinstance(known[0], Failure):
            return fail(self._unchecked(known[0], turn))
        try:
            return self._checked(known[0], message, turn)
        except BaseException:
            return fail()

    def _unchecked(self, failure, turn: tuple):
        userId, cid, key, sequencer, ticket = turn
        self._release(key, sequencer, ticket, None)
        return failure

    def _checked(self, context, message: Message, turn: tuple) -> "Deferred[SendResult]":
        userId, cid, key, sequencer, ticket = turn
        try:
            receivers = self._check(userId, message.conversation, context, message.to)
        except BaseException:
            self._release(key, sequencer, ticket, None)
            raise
        if self.beforeSend:
            return ensureDeferred(self._hooked(message, receivers, turn))
        return self._submit(message, receivers, turn)

    async def _hooked(self, message: Message, receivers: list, turn: tuple) -> SendResult:
        userId, cid, key, sequencer, ticket = turn
        try:
            for hook in self.beforeSend:
                message = await hook(userId, cid, message)
                if message is None:
                    self._release(key, sequencer, ticket, None)
                    return SendResult(self.messageUids.next(), self.now())
        except BaseException:
            self._release(key, sequencer, ticket, None)
            raise
        return await self._submit(message, receivers, turn)

    def _submit(self, message: Message, receivers: list, turn: tuple) -> "Deferred[SendResult]":
        """
        Store C{message} once every earlier send of its device was
        submitted (its L{_Sequencer} turn).
        """
        userId, cid, key, sequencer, ticket = turn
        if sequencer.isNext(ticket):
            # Its turn already (the common case): the store's Deferred is
            # the request's, stored before any later send of the device.
            try:
                stored = self._store(message, receivers, userId, cid)
            finally:
                self._release(key, sequencer, ticket, None)
            return stored.addCallback(self._stored, userId, cid, receivers)
        submitted: Deferred = Deferred()

        def submit() -> None:
            try:
                stored = self._store(message, receivers, userId, cid)
            except BaseException:
                submitted.errback()
            else:
                stored.chainDeferred(submitted)

        self._release(key, sequencer, ticket, submit)
        return submitted.addCallback(self._stored, userId, cid, receivers)

    def _store(self, message: Message, receivers: list, userId: str, cid: str) -> Deferred:
        """
        Give C{message} its sender, uid and time, and store it (or push it,
        if transparent).

        @return: L{Deferred} firing with the L{StoredMessage}, or with the
            final L{Message} if it was pushed, not stored.
        """
        # attr.evolve of the sender, uid and time, at a fifth of its
        # cost: every field, in order (test_messaging checks it).
        final = Message(message.conversation, userId, message.content,
                        self.messageUids.next(), self.now(),
                        message.toUser, message.to, message.localId)
        if final.content.transparent:
            self._pushTransparent(final, receivers, userId)
            return succeed(final)
        dedupKey = (userId, cid, final.localId) if final.localId else None
        return maybeDeferred(self.store.storeMessage, final, receivers, dedupKey, self.now())

    def _stored(self, stored, userId: str, cid: str, receivers: list) -> Any:
        if isinstance(stored, Message):  # transparent: pushed, not stored
            return SendResult(stored.messageUid, stored.timestamp)
        if not stored.duplicate:
            self._notify(stored.seqs, userId, cid)
            for hook in self.onStored:
                try:
                    hook(userId, stored.message)
                except Exception:
                    _log.failure("an after-send hook failed")
            if self.afterStore or self.afterReach:
                return ensureDeferred(self._afterStored(stored.message, receivers))
        return SendResult(stored.message.messageUid, stored.message.timestamp)

    async def _afterStored(self, message: Message, receivers: list) -> SendResult:
        if self.afterStore:
            await self._runHooks(self.afterStore, message, receivers)
        if self.afterReach:
            await self._runHooks(self.afterReach, message, receivers)
        return SendResult(message.messageUid, message.timestamp)

    def _release(self, key, sequencer: "_Sequencer", ticket: int, work) -> None:
        sequencer.ready(ticket, work)
        if sequencer.idle and self._sequencers.get(key) is sequencer:
            del self._sequencers[key]

    async def publish(self, message: Message, receivers: Iterable[str]) -> Message:
        """
        Store and notify a server-generated message (group notifications,
        friend greetings): every device of every receiver gets MN, the
        operator's included.

        @return: the stored message.
        """
        message = attr.evolve(message, messageUid=self.messageUids.next(), timestamp=self.now())
        receivers = list(receivers)
        stored = await self.store.storeMessage(message, receivers, None, self.now())
        self._notify(stored.seqs, None, None)
        await self._runHooks(self.afterPublish, stored.message, receivers)
        await self._runHooks(self.afterReach, stored.message, receivers)
        return stored.message

    async def _runHooks(self, hooks: list, message: Message, *args) -> None:
        for hook in hooks:
            try:
                await hook(message, *args)
            except Exception:
                _log.failure("a message hook failed for message {uid}", uid=message.messageUid)

    def _check(self, userId: str, conversation: Conversation, context,
               tos: Sequence[str] = ()) -> list:
        """
        Apply upstream's checks, in its order, to what
        C{store.getSendContext} read.

        @param tos: the message's C{tos} list; a group message carrying
            one (a group call invitation) goes only to those members and
            the sender, so the other members' devices do not ring.
        @return: the receivers, sender included.
        """
        sender = context.sender
        if sender is None or sender.status in (UserStatus.MUTED, UserStatus.BLOCKED):
            raise SignalError(ErrorCode.FORBIDDEN_SEND_MSG)
        if conversation.type == ConversationType.PRIVATE:
            if not conversation.target:
                raise SignalError(ErrorCode.INVALID_MESSAGE, "no target")
            if conversation.target == userId:
                return [userId]
            if context.target is None:
                raise SignalError(ErrorCode.NOT_EXIST, "unknown target user")
            if context.blacklisted:
                raise SignalError(ErrorCode.IN_BLACK_LIST)
            return [userId, conversation.target]
        if conversation.type == ConversationType.GROUP:
            me = next((m for m in context.members if m.memberId == userId), None)
            if me is None:
                raise SignalError(ErrorCode.NOT_IN_GROUP)
            if me.type == MemberType.SILENT:
                raise SignalError(ErrorCode.NOT_RIGHT, "muted in the group")
            if tos:
                wanted = set(tos)
                return [userId] + [m.memberId for m in context.members
                                if m.memberId in wanted and m.memberId != userId]
            return [m.memberId for m in context.members]
        raise SignalError(ErrorCode.NOT_IMPLEMENT, f"conversation type {conversation.type}")

    def _notify(self, seqs: dict, senderUid: Optional[str], senderCid: Optional[str]) -> None:
        for receiver, seq in seqs.items():
            exclude = senderCid if receiver == senderUid else None
            self._deliver(receiver, MessageNotify(PULL_NORMAL, seq), exclude)

    def _deliver(self, userId: str, push, excludeCid: Optional[str] = None) -> None:
        now = getattr(self.bus, "deliverNow", None)
        if now is not None:
            # The embedded bus: no Deferred per receiver (a group message
            # is thousands of deliveries).
            try:
                now(userId, push, excludeCid)
            except Exception:
                _log.failure("delivery to {uid} failed", uid=userId)
            return
        d = ensureDeferred(self.bus.deliver(userId, push, excludeCid))
        d.addErrback(lambda f: _log.failure("delivery to {uid} failed", f, uid=userId))

    def _pushTransparent(self, message: Message, receivers: Sequence[str], sender: str) -> None:
        push = TransparentMessage(message)
        for receiver in receivers:
            if receiver != sender:
                self._deliver(receiver, push)

    def pull(self, userId: str, afterSeq: int, transport: Optional[str] = None,
             replyLimit: int = 0) -> "Deferred[PullResult]":
        """
        Everything in C{uid}'s inbox after C{afterSeq}, oldest first, capped
        at the configured size; C{current} is the seq of the last message
        returned, so continuing after it never skips one.

        A callback on the store's L{Deferred}, not a coroutine: an online
        device's pull is read inline (SQLite), so the whole MP runs in the
        turn that read it, without coroutine machinery.

        @param transport: C{"tcp"} or C{"ws"}: also cap the result at
            C{replyLimit} bytes as that transport encodes it.
        @return: L{Deferred} firing with the L{PullResult}.
        """
        batch = self.store.pullMessages(userId, max(0, afterSeq), self.config.pullMaxBytes)
        return batch.addCallback(_fitted, transport, replyLimit)

    def pullNow(self, userId: str, afterSeq: int, transport: Optional[str] = None,
                replyLimit: int = 0) -> Optional[PullResult]:
        """
        L{pull}, answered on the spot where the store can (an inline read of
        the few messages an online device is waiting for).

        @return: the L{PullResult}, or L{None}: use L{pull}.
        """
        now = getattr(self.store, "pullNow", None)
        if now is None:
            return None
        batch = now(userId, max(0, afterSeq), self.config.pullMaxBytes)
        return None if batch is None else _fitted(batch, transport, replyLimit)

    async def recall(self, userId: str, cid: str, messageUid: int) -> None:
        """
        Recall a message: its sender, or the owner or a manager of its
        group, may; it becomes type 80 and every receiver device but the
        operator's gets RMN.

        @raise SignalError: C{NOT_EXIST} unknown message, C{NOT_RIGHT} not
            allowed.
        """
        message = await self.store.getMessage(messageUid)
        if message is None:
            raise SignalError(ErrorCode.NOT_EXIST)
        allowed = message.fromUser == userId
        if not allowed and message.conversation.type == ConversationType.GROUP:
            member = await self.store.getMember(message.conversation.target, userId)
            allowed = member is not None and member.type in (MemberType.OWNER, MemberType.MANAGER)
        if not allowed:
            raise SignalError(ErrorCode.NOT_RIGHT)
        window = self.config.recallWindow
        if window and self.now() - message.timestamp > window * 1000:
            raise SignalError(ErrorCode.NOT_RIGHT, "recall window passed")
        if message.content.type == ContentType.RECALL:
            return
        content = MessageContent(type=ContentType.RECALL, content=userId,
                                 data=str(messageUid).encode("ascii"))
        await self.store.replaceContent(messageUid, content)
        for receiver in await self.store.getReceivers(messageUid):
            self._deliver(receiver, RecallNotify(messageUid, userId), cid if receiver == userId else None)
        await self._runHooks(self.afterRecall, message, userId)

    async def history(self, userId: str, conversation: Conversation, beforeUid: int,
                      count: int) -> HistoryResult:
        """
        The viewer's own copy of a conversation, newest first.

        @raise SignalError: C{NOT_IN_GROUP} for a group the viewer never
            belonged to.
        """
        if conversation.type == ConversationType.GROUP:
            if await self.store.getMember(conversation.target, userId) is None:
                raise SignalError(ErrorCode.NOT_IN_GROUP)
        count = max(1, min(count or 20, self.config.historyMaxCount))
        messages = await self.store.loadHistory(userId, conversation, max(0, beforeUid), count)
        return HistoryResult(tuple(messages))
