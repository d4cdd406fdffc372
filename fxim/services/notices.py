# -*- test-case-name: fxim.test.test_notices -*-
"""
System notices: 1:1 messages from the literal sender C{"SystemNotification"}
with an empty conversation target, as the 飞享 push API sends them.  The
iOS client files such a message under its sender, the web client under
C{target = from}; both pull it like any message (non-zero uid, MN).
"""

from typing import Iterable

from fxim.model import Conversation, ConversationType, Message, MessageContent

#: The sender id of system notices.
SYSTEM_SENDER = "SystemNotification"


async def pushSystemNotice(messages, uids: Iterable[str], content: MessageContent) -> Message:
    """
    Store C{content} as a system notice for each of C{uids} and notify
    their devices.

    @param messages: the L{fxim.services.messaging.MessagingService}.
    @return: the stored message.
    """
    message = Message(Conversation(ConversationType.PRIVATE, "", 0), SYSTEM_SENDER, content)
    return await messages.publish(message, sorted(set(uids)))
