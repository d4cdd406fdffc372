#!/usr/bin/env python3
"""
Resource-exhaustion figures of one fxim node (docs/security.md):

  tcp-preauth   memory (node RSS growth) held by N unauthenticated TCP
                connections that each send a frame header announcing
                4 MiB and then 4 MiB - 1 body bytes, never CONNECTing;
  ws-preauth    the same with N WebSocket connections each sending a frame
                header announcing 1 MiB and 1 MiB - 1 bytes before CONNECT;
  http-body     a 256 MiB body POSTed to /login: bytes the node took
                before it answered or closed, and the temp-file space used;
  stall         the worst PING round trip another client sees while one
                client pulls 1 MiB of stored messages (SQLite) and while
                one sends UPUI with 350,000 ids.

Run from the tree to measure (the node runs that tree's code):

    python3 bench/exhaust.py [--n 200] [--only tcp-preauth,stall]

Keep N modest on a shared machine; the node is stopped at the end.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fximbench import ROOT, Node, rssKiB  # noqa: E402

sys.path.insert(0, ROOT)

from fxim import crypto  # noqa: E402
from fxim.model import Conversation, Message, MessageContent  # noqa: E402
from fxim.wire import im_pb2 as pb  # noqa: E402
from fxim.wire.codecs_convert import messageToPb  # noqa: E402
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame  # noqa: E402
from fxim.wire.signals import Signal, SubSignal  # noqa: E402

MIB = 1024 * 1024
CODE = "556677"


def settle(pid, seconds=2.0):
    """
    The node's RSS after it had C{seconds} to process what was sent.
    """
    time.sleep(seconds)
    return rssKiB(pid)


def tcpPreauth(node, n):
    before = settle(node.pid, 0.5)
    socks, refusedEarly = [], 0
    header = struct.pack(">BBBiBH", 0xF8, 2, Signal.CONNECT, 4 * MIB, 0, 1)
    body = b"x" * (4 * MIB - 1)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", node.tcpPort))
        s.settimeout(10)
        try:
            s.sendall(header + body)
        except OSError:
            refusedEarly += 1
        socks.append(s)
    after = settle(node.pid)
    open_ = sum(1 for s in socks if _stillOpen(s))
    for s in socks:
        s.close()
    return {"connections": n, "rss_growth_MiB": round((after - before) / 1024, 1),
            "still_open": open_, "closed_while_sending": refusedEarly}


def _stillOpen(s):
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _wsHandshake(port):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    return s


def wsPreauth(node, n):
    before = settle(node.pid, 0.5)
    # A frame header announcing 1 MiB, then all of it but its last byte,
    # so the node must hold it (or refuse it).
    mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as is
    frame = struct.pack(">BBQ", 0x81, 0x80 | 127, MIB) + mask + b"y" * (MIB - 1)
    socks, refusedEarly = [], 0
    for _ in range(n):
        s = _wsHandshake(node.wsPort)
        s.settimeout(10)
        try:
            s.sendall(frame)
        except OSError:
            refusedEarly += 1
        socks.append(s)
    after = settle(node.pid)
    open_ = sum(1 for s in socks if _stillOpen(s))
    for s in socks:
        s.close()
    return {"connections": n, "rss_growth_MiB": round((after - before) / 1024, 1),
            "still_open": open_, "closed_while_sending": refusedEarly}


def httpBody(node, size=256 * MIB):
    tmp = tempfile.gettempdir()
    freeBefore = shutil.disk_usage(tmp).free
    s = socket.create_connection(("127.0.0.1", node.httpPort))
    s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % size)
    chunk = b" " * MIB
    sent, answer, start = 0, b"", time.monotonic()
    s.settimeout(0.01)
    peakTemp = 0
    try:
        while sent < size:
            s.settimeout(10)
            s.sendall(chunk)
            sent += len(chunk)
            s.settimeout(0)
            try:
                answer += s.recv(4096)
                if answer:
                    break
            except BlockingIOError:
                pass
            peakTemp = max(peakTemp, freeBefore - shutil.disk_usage(tmp).free)
    except OSError:
        pass
    took = time.monotonic() - start
    s.settimeout(5)
    try:
        answer += s.recv(4096)
    except OSError:
        pass
    s.close()
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    return {"declared_MiB": size // MIB, "sent_before_answer_MiB": sent // MIB,
            "status": status, "seconds": round(took, 2),
            "temp_disk_peak_MiB": round(max(peakTemp, 0) / MIB, 1)}


def _login(node, mobile, cid):
    request = urllib.request.Request(node.httpBase + "/login", data=json.dumps(
        {"mobile": mobile, "code": CODE, "clientId": cid}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        result = json.loads(answer.read())["result"]
    return result["userId"], result["token"], cid


class TcpClient:
    def __init__(self, node, mobile):
        self.userId, token, cid = _login(node, mobile, "bench-" + mobile)
        self.s = socket.create_connection(("127.0.0.1", node.tcpPort))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = FrameDecoder(1 << 30)
        self.frames = []
        body = json.dumps({"userName": self.userId, "clientIdentifier": cid,
                           "password": crypto.makePassword(token, int(time.time() * 1000))})
        self.s.sendall(encodeFrame(Frame(Signal.CONNECT, 0, 0, body.encode())))
        assert self.wait(lambda f: f.signal == Signal.CONNECT_ACK).subsignal == 1

    def wait(self, match, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i, f in enumerate(self.frames):
                if match(f):
                    return self.frames.pop(i)
            self.s.settimeout(max(end - time.monotonic(), 0.01))
            self.frames.extend(self.decoder.feed(self.s.recv(1 << 20)))
        raise TimeoutError("no reply")

    def publish(self, sub, mid, body):
        self.s.sendall(encodeFrame(Frame(Signal.PUBLISH, sub, mid, body)))

    def request(self, sub, mid, body, timeout=60):
        self.publish(sub, mid, body)
        return self.wait(lambda f: f.signal == Signal.PUB_ACK and f.messageId == mid, timeout)


def _pinger(node, stop, rtts):
    s = socket.create_connection(("127.0.0.1", node.tcpPort))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    decoder = FrameDecoder()
    ping = encodeFrame(Frame(Signal.PING, 0, 1, b'{"interval":60000}'))
    while not stop.is_set():
        t = time.perf_counter()
        s.sendall(ping)
        while not decoder.feed(s.recv(4096)):
            pass
        rtts.append(time.perf_counter() - t)
        time.sleep(0.005)
    s.close()


def _worstPingDuring(node, action):
    stop, rtts = threading.Event(), []
    thread = threading.Thread(target=_pinger, args=(node, stop, rtts))
    thread.start()
    time.sleep(0.5)
    baseline = len(rtts)
    t = time.perf_counter()
    result = action()
    took = time.perf_counter() - t
    time.sleep(0.2)
    stop.set()
    thread.join()
    during = rtts[baseline:] or [0]
    return result, took, max(during), (sorted(rtts[:baseline])[len(rtts[:baseline]) // 2]
                                       if baseline else 0)


def stall(node):
    sender = TcpClient(node, "13900000001")
    receiver = TcpClient(node, "13900000002")
    # ~1 MiB of stored messages for the receiver, in 1 KiB messages.
    for i in range(1000):
        m = pb.Message()
        messageToPb(Message(Conversation(0, receiver.userId, 0), "",
                            MessageContent(type=1, searchableContent="s" * 1000)), m)
        sender.request(SubSignal.MS, i % 60000 + 1, pb.Message.SerializeToString(m))
    pull = pb.PullMessageRequest(id=0, type=0).SerializeToString()
    reply, took, worst, median = _worstPingDuring(
        node, lambda: receiver.request(SubSignal.MP, 7, pull))
    pulled = pb.PullMessageResult.FromString(reply.body[1:]).message if reply.body[:1] == b"\x00" else []
    out = {"pull_messages": len(pulled), "pull_reply_KiB": len(reply.body) // 1024,
           "pull_seconds": round(took, 3), "ping_worst_ms_during_pull": round(worst * 1000, 1),
           "ping_median_ms_before": round(median * 1000, 2)}
    ids = pb.PullUserRequest()
    for i in range(350000):
        ids.request.add(uid=str(i), update_dt=0)
    body = ids.SerializeToString()
    reply, took, worst, _ = _worstPingDuring(
        node, lambda: receiver.request(SubSignal.UPUI, 8, body, timeout=120))
    out.update({"upui_350k_code": reply.body[0], "upui_seconds": round(took, 3),
                "ping_worst_ms_during_upui": round(worst * 1000, 1)})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="connections per pre-auth case")
    parser.add_argument("--only", default="tcp-preauth,ws-preauth,http-body,stall")
    args = parser.parse_args()
    cases = args.only.split(",")
    print(f"fxim tree: {ROOT}")
    results = {}
    for case in cases:
        node = Node("sqlite", extra=["--request-rate", "0"]).start()
        try:
            if case == "tcp-preauth":
                results[case] = tcpPreauth(node, args.n)
            elif case == "ws-preauth":
                results[case] = wsPreauth(node, args.n)
            elif case == "http-body":
                results[case] = httpBody(node)
            elif case == "stall":
                results[case] = stall(node)
            else:
                raise SystemExit(f"unknown case {case}")
        finally:
            node.stop()
        print(case, json.dumps(results[case]), flush=True)


if __name__ == "__main__":
    main()
