"""
The web chat in a real headless Chromium against a real C{twistd fxim}
(embedded default), step by step as two people would use it.

Screenshots of every step are written to C{$FXIM_WEBCHAT_SHOTS} if set,
else to C{webchat-screenshots/} in trial's temporary folder (see
docs/webchat.md).
"""

import os
import struct
import uuid
import zlib

from twisted.internet import reactor
from twisted.trial import unittest

from fxim.client import ChatClient
from fxim.test.agentserver import CHUNKS, AgentServer
from fxim.test.browser import SKIP, Browser
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.testing import ServerProcess


AGENT = "AIWEB1"


def shotsDir(backend: str = "embedded") -> str:
    """
    Where the screenshots go (created on first use); the PostgreSQL + Redis
    run writes into a C{postgresql+redis/} subfolder.
    """
    base = os.path.abspath(os.environ.get("FXIM_WEBCHAT_SHOTS") or "webchat-screenshots")
    return base if backend == "embedded" else os.path.join(base, backend)


def makePng(path: str, width: int = 160, height: int = 100) -> None:
    """
    Write a small RGB PNG (a colour gradient) to C{path}.
    """
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 180))
                           for x in range(width))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def mobile() -> str:
    return "139" + str(uuid.uuid4().int % 10**8).zfill(8)


class WebChatBrowserTests(NodeTestMixin, unittest.TestCase):
    """
    Two browser users (and one SDK user for the group of three).
    """

    skip = SKIP
    timeout = 600

    async def browser(self, name: str, **kwargs) -> Browser:
        b = await Browser.start(reactor, shotsDir(self.backend), name, **kwargs)
        self.addCleanup(b.stop)
        return b

    async def logIn(self, b: Browser, base: str, who: str) -> str:
        """
        Log in through the page; @return: the uid the page shows.
        """
        await b.get(base)
        await b.type("[data-t=identity]", who)
        await b.click("[data-t=send-code]")
        await b.waitText("[data-t=login-status]", who)
        await b.type("[data-t=code]", LOGIN_CODE)
        await b.click("[data-t=login]")
        await b.click("[data-t=tab-me]")
        userId = (await b.find("[data-t=my-uid]")).text
        await b.click("[data-t=tab-chats]")
        return userId

    async def setDisplayName(self, b: Browser, name: str) -> None:
        """
        Save C{name} as the display name on the page's profile tab.
        """
        await b.click("[data-t=tab-me]")
        await b.type("[data-t=display-name]", name)
        await b.click("[data-t=save-profile]")
        await b.waitText("[data-t=profile-status]", "Saved")

    async def openChat(self, b: Browser, key: str) -> None:
        await b.click("[data-t=tab-chats]")
        await b.click(f"[data-t=conv][data-key='{key}']")
        await b.find("[data-t=composer]")

    async def say(self, b: Browser, text: str) -> None:
        await b.type("[data-t=composer]", text, enter=True)
        # Acknowledged: the message has its server uid and no "sending".
        await b.waitUntil(
            "return Array.from(document.querySelectorAll('[data-t=msg]')).some("
            f"m => m.dataset.uid && m.innerText.includes({text!r}))", what=f"{text!r} acked")

    async def messageTexts(self, b: Browser):
        return [t.split("\n")[0] for t in await b.texts("[data-t=msg] .text")]

    async def test_webchat(self):
        node = await self.startNode()
        base = node.httpBase + "/"
        alice = await self.browser("alice")
        bob = await self.browser("bob")
        # Alice logs in with a phone number, Bob with an e-mail address.
        aliceMobile, carolMobile = mobile(), mobile()
        bobMobile = f"bob-{uuid.uuid4().hex[:8]}@example.com"

        # 1. Both log in with a code (a phone number; an e-mail address).
        await alice.get(base)
        await alice.find("[data-t=identity]")
        await alice.screenshot("01-login")
        aliceUid = await self.logIn(alice, base, aliceMobile)
        bobUid = await self.logIn(bob, base, bobMobile)
        await alice.screenshot("02-logged-in")

        # Names, so the pages show people rather than uids.
        await self.setDisplayName(alice, "Alice")
        await alice.screenshot("03-profile")
        await self.setDisplayName(bob, "Bob")

        # 2. Alice finds Bob (by name: the server's search matches phone
        # numbers exactly and names fuzzily) and asks; Bob accepts.
        await alice.click("[data-t=tab-contacts]")
        await alice.type("[data-t=search]", "Bob")
        await alice.click("[data-t=search-go]")
        await alice.waitText("[data-t=result]", "Bob")
        await alice.click("[data-t=add]")
        await alice.waitText("[data-t=add]", "Request sent")
        await alice.screenshot("04-friend-request-sent")
        await bob.click("[data-t=tab-contacts]")
        await bob.waitText(f"[data-t=request][data-from='{aliceUid}']", "Alice")
        await bob.screenshot("05-friend-request-received")
        await bob.click(f"[data-t=request][data-from='{aliceUid}'] [data-t=accept]")
        await bob.waitText(f"[data-t=friend][data-uid='{aliceUid}']", "Alice")
        await alice.click("[data-t=tab-contacts]")
        await alice.waitText(f"[data-t=friend][data-uid='{bobUid}']", "Bob")
        await alice.screenshot("06-friends")

        # 3. Messages both ways; Bob sees an unread count first.
        await alice.click(f"[data-t=friend][data-uid='{bobUid}']")
        await alice.find("[data-t=composer]")
        await self.say(alice, "Hello Bob!")
        await self.say(alice, "How are you?")
        await bob.click("[data-t=tab-chats]")
        await bob.waitText(f"[data-t=conv][data-key='0:{aliceUid}'] [data-t=unread]", "2")
        await bob.screenshot("07-unread")
        await self.openChat(bob, f"0:{aliceUid}")
        await bob.waitText("[data-t=msg]", "How are you?")
        await bob.type("[data-t=composer]", "Fine", clear=True)
        await alice.waitText("[data-t=typing]", "Bob is typing")
        await alice.screenshot("08-typing")
        await bob.type("[data-t=composer]", " thanks, and you?", enter=True, clear=False)
        await alice.waitText("[data-t=msg]", "Fine thanks, and you?")
        self.assertEqual(await self.messageTexts(alice),
                         ["Hello Bob!", "How are you?", "Fine thanks, and you?"])
        await alice.screenshot("09-chat")
        await bob.screenshot("09-chat")

        # 4. Bob goes offline (his page is closed); Alice sends three; Bob
        # reopens the page: same session, all three, in order, once.
        await bob.quit()
        for text in ("while you were away 1", "while you were away 2", "while you were away 3"):
            await self.say(alice, text)
        await bob.launch()
        await bob.get(base)
        await bob.waitText(f"[data-t=conv][data-key='0:{aliceUid}'] [data-t=unread]", "3")
        await bob.screenshot("10-back-online")
        await self.openChat(bob, f"0:{aliceUid}")
        await bob.waitText("[data-t=msg]", "while you were away 3")
        self.assertEqual(await self.messageTexts(bob), [
            "Hello Bob!", "How are you?", "Fine thanks, and you?",
            "while you were away 1", "while you were away 2", "while you were away 3"])
        await bob.screenshot("11-caught-up")

        # 5. An image, shown on the other side.
        image = os.path.abspath("landscape.png")
        makePng(image)
        await alice.upload("[data-t=image-input]", image)
        await bob.find("[data-t=msg] img[data-t=image]")
        await bob.waitUntil(
            "const i = document.querySelector('[data-t=msg] img[data-t=image]');"
            "return i && i.complete && i.naturalWidth === 160;", what="the image loaded")
        await alice.find("[data-t=msg] img[data-t=image]")
        await bob.screenshot("12-image")

        # 6. A recall: Bob sees it replaced.
        recallButtons = "[data-t=msg] [data-t=recall]"
        await alice.js(
            "const m = Array.from(document.querySelectorAll('[data-t=msg]')).find("
            "e => e.innerText.includes('while you were away 2'));"
            "m.querySelector('[data-t=recall]').click();")
        await alice.waitText("[data-t=recalled]", "You recalled a message")
        await bob.waitText("[data-t=recalled]", "Message recalled")
        self.assertNotIn("while you were away 2", await self.messageTexts(bob))
        self.assertTrue(await alice.texts(recallButtons))
        await bob.screenshot("13-recalled")

        # 7. A group of three: Carol uses the Python SDK.
        carol = ChatClient(reactor, "tcp", "127.0.0.1", node.tcpPort, httpBase=node.httpBase)
        await carol.login(carolMobile, LOGIN_CODE)
        await carol.start()
        self.addCleanup(carol.stop)
        await carol.setMyInfo(displayName="Carol")
        carolGot = []
        carol.onMessage(lambda m: carolGot.append(m))
        await carol.addFriend(aliceUid, "Carol here")
        await alice.click("[data-t=tab-contacts]")
        await alice.click(f"[data-t=request][data-from='{carol.userId}'] [data-t=accept]")
        await alice.waitText(f"[data-t=friend][data-uid='{carol.userId}']", "Carol")
        await alice.click("[data-t=tab-groups]")
        await alice.type("[data-t=group-name]", "Team of three")
        await alice.click(f"[data-t=member-pick][value='{bobUid}']")
        await alice.click(f"[data-t=member-pick][value='{carol.userId}']")
        await alice.screenshot("14-new-group")
        await alice.click("[data-t=create-group]")
        await alice.waitText("[data-t=chat-title]", "Team of three")
        await self.say(alice, "Welcome to the team")
        await bob.click("[data-t=tab-chats]")
        await bob.click("[data-t=conv]", text="Team of three")
        await bob.waitText("[data-t=msg]", "Welcome to the team")
        gid = (await bob.js("return document.querySelector('[data-t=conv].active').dataset.key")).split(":", 1)[1]
        for _ in range(100):
            if any(m.content.searchableContent == "Welcome to the team" for m in carolGot):
                break
            await sleep(0.1)
        else:
            self.fail("Carol did not get the group message")
        await withTimeout(carol.sendText(gid, "Hi both, Carol here", group=True))
        await alice.waitText("[data-t=msg]", "Hi both, Carol here")
        await bob.waitText("[data-t=msg]", "Hi both, Carol here")
        await self.say(bob, "Hi Carol")
        await bob.click("[data-t=members]")
        await bob.waitText("[data-t=members-panel]", "Carol")
        members = await bob.texts("[data-t=member]")
        self.assertEqual(len(members), 3, members)
        await bob.screenshot("15-group")
        await alice.screenshot("15-group")

        # Rename from Alice's members panel; Bob's title follows.
        await alice.click("[data-t=members]")
        await alice.type("[data-t=rename-input]", "Team 3")
        await alice.click("[data-t=rename]")
        await alice.waitText("[data-t=chat-title]", "Team 3")
        await bob.waitText("[data-t=notice]", "renamed the group to Team 3")

        # History on scroll: Carol writes 30 to Alice; the chat shows the
        # newest page, then the older ones when scrolled to the top.
        for i in range(30):
            await withTimeout(carol.sendText(aliceUid, f"history {i:02d}"))
        await alice.click("[data-t=tab-chats]")
        await alice.click(f"[data-t=conv][data-key='0:{carol.userId}']")
        await alice.waitText("[data-t=msg]", "history 29")
        texts = await self.messageTexts(alice)
        self.assertNotIn("history 00", texts)
        await alice.js("document.querySelector('[data-t=messages]').scrollTop = 0;")
        await alice.waitText("[data-t=msg]", "history 00")
        texts = [t for t in await self.messageTexts(alice) if t.startswith("history")]
        self.assertEqual(texts, [f"history {i:02d}" for i in range(30)])
        await alice.screenshot("16-history")

        # A file, with its name and size on the other side.
        notes = os.path.abspath("notes.txt")
        with open(notes, "w") as f:
            f.write("fxim " * 300)
        await self.openChat(alice, f"0:{bobUid}")
        await alice.upload("[data-t=file-input]", notes)
        await alice.waitText("[data-t=msg] a.file", "notes.txt")
        await bob.click(f"[data-t=conv][data-key='0:{aliceUid}']")
        link = await bob.waitText("[data-t=msg] a.file", "notes.txt")
        self.assertIn("1 KB", link.text)
        href = await bob.run(lambda d: link.get_attribute("href"))
        status = await bob.js("return fetch(arguments[0]).then(r => r.text()).then(t => t.length);", href)
        self.assertEqual(status, 1500)

        # 8. A reload keeps the session and the conversations.
        await alice.refresh()
        await alice.waitText("[data-t=conv]", "Team 3")
        await self.openChat(alice, f"0:{bobUid}")
        await alice.waitText("[data-t=msg]", "Fine thanks, and you?")
        await alice.screenshot("17-after-reload")

        # 9. The node restarts: the page shows it is offline, then recovers
        # by itself, and messages flow again.
        await node.stop()
        await alice.find("[data-t=banner]", text="Reconnecting")
        await alice.screenshot("18-node-down")
        again = ServerProcess(reactor, list(self.backendArgs()), dataDir=node.dataDir)
        again.tcpPort, again.wsPort, again.httpPort = node.tcpPort, node.wsPort, node.httpPort
        self.addCleanup(again.stop)
        await again.start()
        await alice.waitGone("[data-t=banner]", timeout=90)
        await bob.waitGone("[data-t=banner]", timeout=90)
        await self.say(alice, "Still here after the restart")
        await bob.click("[data-t=tab-chats]")
        await self.openChat(bob, f"0:{aliceUid}")
        await bob.waitText("[data-t=msg]", "Still here after the restart")
        await alice.screenshot("19-recovered")

        # 10. Bob leaves the group.
        await bob.click("[data-t=conv]", text="Team 3")
        await bob.click("[data-t=members]")
        await bob.click("[data-t=quit]")
        await bob.waitGone("[data-t=conv][data-key='1:%s']" % gid)
        await alice.click("[data-t=conv]", text="Team 3")
        await alice.waitText("[data-t=notice]", "Bob left the group")
        await alice.screenshot("20-member-left")

        # 11. A phone-sized screen, and Chinese.
        await bob.setSize(390, 844)
        await bob.click("[data-t=tab-chats]")
        await bob.screenshot("21-phone-list")
        await bob.click(f"[data-t=conv][data-key='0:{aliceUid}']")
        await bob.find("[data-t=back]")
        await bob.screenshot("22-phone-chat")
        await bob.click("[data-t=back]")
        await bob.click("[data-t=tab-me]")
        await bob.run(lambda d: __import__("selenium.webdriver.support.select", fromlist=["Select"])
                      .Select(d.find_element("css selector", "[data-t=lang]")).select_by_value("zh"))
        await bob.waitText("[data-t=tabs]", "会话")
        await bob.click("[data-t=tab-chats]")
        await bob.screenshot("23-phone-chinese")

        errors = [line for line in await alice.consoleLog() + await bob.consoleLog()
                  if line.startswith("SEVERE") and "WebSocket" not in line
                  and "ERR_CONNECTION_REFUSED" not in line]
        self.assertEqual(errors, [])


    async def befriend(self, a: Browser, aUid: str, b: Browser, bUid: str, bWho: str) -> None:
        """
        A finds B by B's login (phone numbers match exactly) and asks; B accepts.
        """
        await a.click("[data-t=tab-contacts]")
        await a.type("[data-t=search]", bWho)
        await a.click("[data-t=search-go]")
        await a.click("[data-t=add]")
        await a.waitText("[data-t=add]", "Request sent")
        await b.click("[data-t=tab-contacts]")
        await b.click(f"[data-t=request][data-from='{aUid}'] [data-t=accept]")
        await b.find(f"[data-t=friend][data-uid='{aUid}']")
        await a.find(f"[data-t=friend][data-uid='{bUid}']", timeout=30)

    async def test_receiptsAndAgent(self):
        """
        Delivered (✓) then read (✓✓) marks on the sender's page once the
        receiver's page has the message and then opens the chat; an agent's
        answer grows chunk by chunk in the page (from a real local agent
        server) and is then replaced by the stored message, kept in history.
        """
        agentServer = await AgentServer(pause=0.8).start()
        self.addCleanup(agentServer.stop)
        node = await self.startNode(["--agent", f"{AGENT}={agentServer.url}/stream",
                                     "--agent-read-timeout", "20"])
        base = node.httpBase + "/"
        alice = await self.browser("r-alice")
        bob = await self.browser("r-bob")
        aliceMobile, bobMobile = mobile(), mobile()
        aliceUid = await self.logIn(alice, base, aliceMobile)
        bobUid = await self.logIn(bob, base, bobMobile)
        await self.befriend(alice, aliceUid, bob, bobUid, bobMobile)

        # Bob's page is on his contacts tab: the message reaches it (✓) but
        # he has not read it.
        await alice.click(f"[data-t=friend][data-uid='{bobUid}']")
        await alice.find("[data-t=composer]")
        await self.say(alice, "Did you get this?")
        await bob.click("[data-t=tab-chats]")
        await bob.waitText(f"[data-t=conv][data-key='0:{aliceUid}'] [data-t=unread]", "1")
        mark = "[data-t=msg].mine [data-t={}]"
        await alice.waitText(mark.format("delivered"), "✓", timeout=30)
        self.assertEqual(await alice.texts(mark.format("read")), [])
        await alice.screenshot("30-delivered")
        # Bob opens the chat: read (✓✓).
        await self.openChat(bob, f"0:{aliceUid}")
        await bob.waitText("[data-t=msg]", "Did you get this?")
        await alice.waitText(mark.format("read"), "✓✓", timeout=30)
        await alice.screenshot("31-read")
        # Marks survive a reload (kept with the session).
        await alice.refresh()
        await self.openChat(alice, f"0:{bobUid}")
        await alice.waitText(mark.format("read"), "✓✓", timeout=30)

        # The agent is everyone's friend; Alice asks it.
        await alice.click("[data-t=tab-contacts]")
        await alice.click(f"[data-t=friend][data-uid='{AGENT}']")
        await alice.find("[data-t=composer]")
        # Every text the streaming row shows, as the page shows it.
        await alice.js("""
            window.__streamed = [];
            new MutationObserver(() => {
              const el = document.querySelector('[data-t=agent-stream] .text');
              const text = el ? el.textContent : null;
              const last = window.__streamed[window.__streamed.length - 1];
              if (text !== null && text !== last) window.__streamed.push(text);
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        """)
        await self.say(alice, "你好")
        await alice.waitUntil(
            "const el = document.querySelector('[data-t=agent-stream] .text');"
            f"return el && el.textContent.startsWith({''.join(CHUNKS[:2])!r})",
            timeout=30, what="the answer streaming")
        await alice.screenshot("32-agent-streaming")
        answer = "".join(CHUNKS)
        await alice.waitGone("[data-t=agent-stream]", timeout=60)
        await alice.waitText("[data-t=msg]", CHUNKS[-1].strip())
        streamed = await alice.js("return window.__streamed")
        # It grew chunk by chunk: every prefix of the answer, in order.
        prefixes = ["".join(CHUNKS[:n]) for n in range(1, len(CHUNKS) + 1)]
        self.assertEqual([t for t in streamed if t in prefixes], prefixes)
        texts = await alice.js(
            "return Array.from(document.querySelectorAll('[data-t=msg] .text')).map(e => e.textContent)")
        self.assertEqual(texts, ["你好", answer])
        await alice.screenshot("33-agent-stored")
        # Stored: the history after a reload has it.
        await alice.refresh()
        await self.openChat(alice, f"0:{AGENT}")
        await alice.waitText("[data-t=msg]", CHUNKS[-1].strip())
        texts = await alice.js(
            "return Array.from(document.querySelectorAll('[data-t=msg] .text')).map(e => e.textContent)")
        self.assertEqual(texts, ["你好", answer])
        self.assertEqual([r["question"] for r in agentServer.requests], ["你好"])
        errors = [line for line in await alice.consoleLog() + await bob.consoleLog()
                  if line.startswith("SEVERE")]
        self.assertEqual(errors, [])


class ProductionWebChatBrowserTests(ProductionBackend, WebChatBrowserTests):
    """
    The same on PostgreSQL + Redis.
    """

    skip = ProductionBackend.skip or SKIP
