#!/usr/bin/env python
"""
Cost of the sensitive-word filter per message (L{fxim.moderation}).

Runs the moderation before-send hook (action C{mask}) over the same
messages with word lists of 10 and 100,000 words, beside two baselines in
the same run: no filter (the identity hook) and a naive filter (Python
substring tests over the 10-word list).  Prints microseconds per message
and writes JSON.

    python bench/bench_wordfilter.py [--messages 20000] [--json PATH]
"""

import argparse
import asyncio
import json
import os
import random
import string
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa

from fxim.model import Conversation, Message, MessageContent  # noqa
from fxim.moderation.service import ModerationService  # noqa
from fxim.moderation.words import WordFilter  # noqa

CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def randomWord(rng, length):
    alphabet = CJK if rng.random() < 0.5 else string.ascii_lowercase
    return "".join(rng.choice(alphabet) for _ in range(length))


def messages(rng, count, words, hitRate=0.05):
    out = []
    for i in range(count):
        body = "".join(rng.choice(CJK + list(string.ascii_lowercase + "     "))
                       for _ in range(rng.randint(10, 120)))
        if rng.random() < hitRate:
            cut = rng.randrange(len(body))
            body = body[:cut] + rng.choice(words) + body[cut:]
        out.append(Message(Conversation(0, "b", 0), "a",
                           MessageContent(type=1, searchableContent=body), messageUid=i + 1))
    return out


def drive(hook, batch):
    """
    @return: microseconds per message of C{hook} over C{batch}.
    """
    loop = asyncio.new_event_loop()

    async def run():
        for message in batch:
            await hook("a", "c", message)
    start = time.perf_counter()
    loop.run_until_complete(run())
    elapsed = time.perf_counter() - start
    loop.close()
    return elapsed / len(batch) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rng = random.Random(14)
    # Words of 3-8 characters: short random ones would match random text
    # everywhere and measure masking instead of matching.
    big = sorted({randomWord(rng, rng.randint(3, 8)) for _ in range(110_000)})
    rng.shuffle(big)
    big = big[:100_000]
    small = big[:10]
    batch = messages(rng, args.messages, small)
    results = {}

    async def identity(userId, cid, message):
        return message

    def naive(words):
        async def hook(userId, cid, message):
            text = message.content.searchableContent.lower()
            for word in words:
                if word in text:
                    return None
            return message
        return hook

    results["baseline: no filter"] = {"us_per_msg": drive(identity, batch)}
    results["baseline: naive `in`, 10 words"] = {"us_per_msg": drive(naive(small), batch)}
    # The naive filter over the big list, on a slice (it is slow).
    results["baseline: naive `in`, 100000 words"] = {
        "us_per_msg": drive(naive(big), batch[:max(1, len(batch) // 100)])}
    for label, words in (("aho-corasick, 10 words", small),
                         ("aho-corasick, 100000 words", big)):
        start = time.perf_counter()
        f = WordFilter(words)
        build = time.perf_counter() - start
        service = ModerationService(Clock(), None, None, f, messageAction="mask")
        results[label] = {"us_per_msg": drive(service.beforeSend, batch),
                          "build_s": round(build, 3), "words": len(f),
                          "matched": service.matched["mask"]}
    print(f"word filter over {len(batch)} messages (10-120 chars, 5% with a word)")
    print(f"{'variant':34} {'us/msg':>8} {'build s':>8} {'matched':>8}")
    for label, r in results.items():
        print(f"{label:34} {r['us_per_msg']:8.2f} {r.get('build_s', ''):>8} "
              f"{r.get('matched', ''):>8}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"messages": len(batch), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
