"""
End-to-end test of the newer clients' content types against a real
C{twistd fxim}: voice 2, location 4, file 5, video 6, sticker 7 and image
sticker 8, sent as the web client builds them, are stored (persist and
count: one MN each, pullable, in history) with every field intact, on TCP
and WS; typing (91) stays transparent.
"""

import base64

from twisted.trial.unittest import TestCase

from fxim.client import Inbox
from fxim.test.e2e import NodeTestMixin, ProductionBackend, SettleMixin, sleep, withTimeout
from fxim.test.newerweb import NewerWebClient, now
from fxim.wire.requests import PullMessages

THUMB = base64.b64encode(b"\x89PNG thumb").decode()

#: (type, content object) as the newer clients build them.
CONTENTS = [
    (2, {"type": 2, "searchableContent": "[语音]", "content": '{"duration":3}', "mediaType": 2,
         "remoteMediaUrl": "https://m.example/2-a-1-v.amr"}),
    (4, {"type": 4, "searchableContent": "天安门", "content": '{"lat":39.9,"long":116.4}',
         "binaryContent": THUMB}),
    (5, {"type": 5, "searchableContent": "[文件] report.pdf", "content": "12345", "mediaType": 4,
         "remoteMediaUrl": "https://m.example/4-a-1-report.pdf"}),
    (6, {"type": 6, "searchableContent": "[视频]", "content": '{"duration":9}', "mediaType": 3,
         "binaryContent": THUMB, "remoteMediaUrl": "https://m.example/3-a-1-v.mp4"}),
    (7, {"type": 7, "searchableContent": "[表情消息]"}),
    (8, {"type": 8, "searchableContent": "[图片表情]", "remoteMediaUrl": "https://m.example/s.gif"}),
]


class ContentMixin(SettleMixin):

    async def test_newContentTypesStoredAndPulled(self):
        node = await self.startNode()
        a = NewerWebClient(await self.loginAndConnect(node, "13800000300", "ws"))
        b = await self.loginAndConnect(node, "13800000301", "tcp")
        inbox = Inbox(b)
        webB = NewerWebClient(await self.loginAndConnect(node, "13800000301", "ws"),
                              autoDeliveryReport=False)
        for i, (_ctype, content) in enumerate(CONTENTS):
            ack = await a.send("MS", {
                "conversationType": 0, "target": b.userId, "line": 0, "from": a.userId,
                "content": content, "messageId": str(1000 + i), "direction": 0, "status": 0,
                "localMessageId": str(1000 + i), "timestamp": now(), "tos": ""})
            self.assertTrue(ack["messageId"])
        got = await withTimeout(inbox.waitFor(len(CONTENTS)))
        self.assertEqual([m.content.type for m in got], [t for t, _ in CONTENTS])
        voice, location, file, video, sticker, imageSticker = got
        self.assertEqual((voice.content.content, voice.content.mediaType,
                          voice.content.remoteMediaUrl),
                         ('{"duration":3}', 2, "https://m.example/2-a-1-v.amr"))
        self.assertEqual(location.content.data, b"\x89PNG thumb")
        self.assertEqual((file.content.searchableContent, file.content.content),
                         ("[文件] report.pdf", "12345"))
        self.assertEqual(video.content.content, '{"duration":9}')
        self.assertEqual(imageSticker.content.remoteMediaUrl, "https://m.example/s.gif")
        # One MN per stored message (persist and count) on the web device.
        await webB.waitFor(lambda: len(webB.messages) == len(CONTENTS), what="web pulls")
        self.assertEqual(len([e for e in webB.events if e[0] == "MN"]), len(CONTENTS))
        for (ctype, content), m in zip(CONTENTS, sorted(webB.messages, key=lambda m: m["messageId"])):
            for key, value in content.items():
                self.assertEqual(m["content"][key], value, (ctype, key))
        # Typing stays transparent: no MN, nothing stored.
        await a.send("MS", {"conversationType": 0, "target": b.userId, "line": 0, "from": a.userId,
                            "content": {"type": 91}, "messageId": "2000", "tos": ""})
        await sleep(0.3)
        self.assertEqual(len((await b.request(PullMessages(0, 0))).messages), len(CONTENTS))


class ContentEmbeddedTests(ContentMixin, NodeTestMixin, TestCase):
    pass


class ContentProductionTests(ContentMixin, ProductionBackend, TestCase):
    pass
