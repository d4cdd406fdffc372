# -*- test-case-name: fxim.test.unit.test_push -*-
"""
L{PushService}: push-target registration, the push rules, and turning
queued push jobs into pusher calls.

Rules (docs/push.md): a stored message queues one push per registered
device of each receiver (not the sender) that is not connected; never for
transparent content; not when the receiver turned on do-not-disturb
(except call invitations) or muted the conversation (except call
invitations and messages mentioning them); call invitations (400) are
high priority and sent at once; others wait C{collapseWindow} seconds, and
further messages of the conversation arriving meanwhile merge into the
same push (C{collapsed} counts them).  Every stored message counts, the
server's own (admin broadcasts, friend greetings, agent answers) as much as
a client's; recalls, tips and notifications (content types 80-399: group
member added/kicked, renamed, ...) never push.
"""

from typing import Any, Callable, Iterable, Optional

from twisted.logger import Logger

from fxim.model import ContentType, ConversationType, Message
from fxim.push.store import DND, PushTarget, conversationKey

_log = Logger()

#: The outbox kind of push jobs.
KIND = "push"

#: Platforms a target may name.
PLATFORMS = ("ios", "android", "web", "harmony", "other")

#: Longest push token / app id accepted.
MAX_TOKEN = 4096
MAX_APP_ID = 256

#: Characters of a preview.
PREVIEW_CHARS = 120


#: Content types that never push: recall notices, tips and notifications
#: (group changes and the like) -- state the client shows in the
#: conversation, not something to ring a phone for.
SILENT_TYPES = range(ContentType.RECALL, ContentType.CALL_START)


def pushable(message: Message) -> bool:
    """
    @return: whether C{message} may push at all (before the per-receiver
        rules): not transparent, not a recall, tip or notification.
    """
    content = message.content
    return not content.transparent and int(content.type) not in SILENT_TYPES


class PushRefused(ValueError):
    """
    A registration is malformed (the message says what).
    """


def isMentioned(message: Message, userId: str) -> bool:
    """
    @return: whether C{message} mentions C{uid} (mentionedType 1 with the
        uid in mentionedTargets, or 2: everybody).
    """
    content = message.content
    return content.mentionedType == 2 or (content.mentionedType == 1
                                          and userId in content.mentionedTargets)


def receiverConversation(message: Message, receiver: str):
    """
    @return: C{(type, target, line)} of the conversation as C{receiver}
        sees it (a private message is in the conversation with its sender).
    """
    conv = message.conversation
    if conv.type == ConversationType.PRIVATE and conv.target == receiver:
        return (int(conv.type), message.fromUser, conv.line)
    return (int(conv.type), conv.target, conv.line)


class PushService:
    """
    @param clock: an C{IReactorTime}.
    @param pushStore: the L{fxim.push.store.IPushStore}.
    @param preferences: provides C{preferencesOf(uids)} (L{IPushStore}
        does; so will the client-settings store).
    @param outbox: the L{fxim.outbox.store.IOutbox}.
    @param directory: the L{fxim.interfaces.IDirectory}.
    @param store: the node's store (sender and group names).
    @param enabled: whether a pusher is configured (without one nothing is
        queued, but registration still works).
    """

    def __init__(self, clock: Any, pushStore: Any, preferences: Any, outbox: Any, directory: Any,
                 store: Any, *, enabled: bool = True, preview: bool = True,
                 collapseWindow: float = 1.0, pusher: Any = None,
                 makeWorker: Optional[Callable[[Callable[[Any], Any]], Any]] = None) -> None:
        self.clock = clock
        self.pushStore = pushStore
        self.preferences = preferences
        self.outbox = outbox
        self.directory = directory
        self.store = store
        self.enabled = enabled
        self.preview = preview
        self.collapseWindow = collapseWindow
        self.pusher: Any = pusher
        #: The outbox worker running L{deliver} (built here: it calls back
        #: into this service, which kicks it), or None.
        self.worker: Any = None if makeWorker is None else makeWorker(self.deliver)
        #: Pushes queued / collapsed into a queued one, since start.
        self.queued = 0

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    # -- registration ---------------------------------------------------------

    async def register(self, userId: str, cid: str, value: Any) -> PushTarget:
        """
        Register (or replace) the push target of (uid, cid) from a request
        body C{{"platform","pushToken","appId","voipToken"}}.

        @raise PushRefused: if it is malformed.
        """
        if not isinstance(value, dict):
            raise PushRefused("the body must be a JSON object")
        platform = value.get("platform", "other")
        token = value.get("pushToken")
        appId = value.get("appId", "")
        voip = value.get("voipToken", "") or ""
        if not isinstance(platform, str) or platform.lower() not in PLATFORMS:
            raise PushRefused("platform must be one of " + ", ".join(PLATFORMS))
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or "\0" in token:
            raise PushRefused("pushToken must be a non-empty string")
        if not isinstance(appId, str) or len(appId) > MAX_APP_ID or "\0" in appId:
            raise PushRefused("appId must be a string")
        if not isinstance(voip, str) or len(voip) > MAX_TOKEN or "\0" in voip:
            raise PushRefused("voipToken must be a string")
        target = PushTarget(userId, cid, platform.lower(), token, appId, voip, 0, self.now())
        await self.pushStore.putTarget(target)
        _log.info("push target registered for {uid}/{cid} ({platform})",
                  uid=userId, cid=cid, platform=target.platform)
        return target

    async def unregister(self, userId: str, cid: Optional[str] = None) -> int:
        """
        Drop the target of (uid, cid) -- every target of C{uid} when C{cid}
        is None (logout, revoke, block).
        """
        return await self.pushStore.dropTargets(userId, cid)

    async def setPreference(self, userId: str, value: Any) -> None:
        """
        C{{"dnd": bool}} or C{{"conversation": {"type","target","line"},
        "muted": bool}}.

        @raise PushRefused: if it is malformed.
        """
        if not isinstance(value, dict):
            raise PushRefused("the body must be a JSON object")
        if "dnd" in value:
            if not isinstance(value["dnd"], bool):
                raise PushRefused("dnd must be true or false")
            await self.preferencesStore().setPreference(userId, DND, value["dnd"])
            return
        conv, muted = value.get("conversation"), value.get("muted")
        if not isinstance(conv, dict) or not isinstance(muted, bool):
            raise PushRefused('expected {"dnd": bool} or {"conversation": {...}, "muted": bool}')
        ctype, target, line = conv.get("type", 0), conv.get("target"), conv.get("line", 0)
        if (not isinstance(ctype, int) or not isinstance(line, int) or not isinstance(target, str)
                or not target or isinstance(ctype, bool)):
            raise PushRefused("conversation needs an integer type, a target and an integer line")
        await self.preferencesStore().setPreference(userId, conversationKey(ctype, target, line), muted)

    def preferencesStore(self):
        return self.preferences if hasattr(self.preferences, "setPreference") else self.pushStore

    async def deviceConnected(self, userId: str, cid: str) -> None:
        """
        The device came online: its badge starts again at 0.
        """
        await self.pushStore.resetBadge(userId, cid)

    # -- queuing ----------------------------------------------------------------

    async def messageStored(self, message: Message, receivers: Iterable[str]) -> int:
        """
        Queue the pushes a stored message calls for.

        @return: the number of pushes queued or merged.
        """
        if not self.enabled or not pushable(message):
            return 0
        others = [r for r in receivers if r != message.fromUser]
        if not others:
            return 0
        targets = await self.pushStore.targetsOf(others)
        if not targets:
            return 0
        byUser: dict = {}
        for target in targets:
            byUser.setdefault(target.userId, []).append(target)
        prefs = await self.preferences.preferencesOf(list(byUser))
        high = message.content.type == ContentType.CALL_START
        names = None
        jobs, count = [], 0
        for userId, userTargets in byUser.items():
            keys = prefs.get(userId, set())
            ctype, ctarget, cline = receiverConversation(message, userId)
            convKey = conversationKey(ctype, ctarget, cline)
            mentioned = isMentioned(message, userId)
            if DND in keys and not high:
                continue
            if convKey in keys and not (high or mentioned):
                continue
            online = {p.cid for p in await self.directory.devicesOf(userId)}
            for target in userTargets:
                if target.cid in online:
                    continue
                if names is None:
                    names = await self._names(message)
                badge = await self.pushStore.bumpBadge(target.userId, target.cid)
                payload = dict(
                    uid=userId, cid=target.cid, platform=target.platform,
                    pushToken=target.voipToken if high and target.voipToken else target.pushToken,
                    appId=target.appId, registeredAt=target.updatedAt,
                    messageUid=message.messageUid, sender=message.fromUser, senderName=names[0],
                    conversation={"type": ctype, "target": ctarget, "line": cline},
                    conversationName=names[1], contentType=int(message.content.type),
                    preview=self._preview(message), badge=badge, mentioned=mentioned,
                    priority="high" if high else "normal", timestamp=message.timestamp)
                jobs.append((f"{userId}\x1f{target.cid}\x1f{convKey}", payload, high))
        for high_ in (True, False):
            batch = [(key, payload) for key, payload, h in jobs if h == high_]
            if batch:
                await self.outbox.enqueue(KIND, batch, self.now(),
                                          0 if high_ else int(self.collapseWindow * 1000),
                                          collapse=not high_ and self.collapseWindow > 0)
                count += len(batch)
        if count:
            self.queued += count
            if self.worker is not None:
                if high:
                    self.worker.kick()
                else:
                    self.clock.callLater(self.collapseWindow, self.worker.kick)
        return count

    async def _names(self, message: Message):
        sender = (await self.store.getUsers([message.fromUser])).get(message.fromUser)
        senderName = (sender.displayName or sender.name) if sender is not None else ""
        convName = senderName
        if message.conversation.type == ConversationType.GROUP:
            group = await self.store.getGroup(message.conversation.target)
            convName = group.name if group is not None else ""
        return senderName, convName

    def _preview(self, message: Message) -> Optional[str]:
        if not self.preview:
            return None
        content = message.content
        text = content.pushContent or content.searchableContent
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS - 1] + "…"
        return text

    # -- delivering ------------------------------------------------------------

    async def deliver(self, job) -> None:
        """
        Hand one queued push to the pusher; drop the targets it rejected.
        """
        rejected = await self.pusher.push(job.payload)
        for token in rejected or ():
            dropped = await self.pushStore.dropPushToken(token)
            _log.info("push gateway rejected a push token: dropped {n} target(s)", n=dropped)
