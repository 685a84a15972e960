#!/usr/bin/env python3
"""A fake Gemini server for benchmarks: one asyncio thread, no thread per request.

Every request waits LATENCY seconds (asyncio.sleep) and is answered with its own
item text as the correction. It records how many requests are in flight over time,
so a benchmark can tell the ramp (time until 90 % of C are in flight) from the
steady state (requests completed per second in the middle of the run).

  fake_llm_async.py serve PORT LATENCY STATS_FILE   (stats written on SIGTERM)
  fake_llm_async.py selftest PORT CONCURRENCY SECONDS   (load the fake alone)
"""
import asyncio
import json
import signal
import sys
import time


class Stats:
    def __init__(self):
        self.in_flight = 0
        self.peak = 0
        self.first = None
        self.reached = {}  # in-flight level -> first time reached
        self.done = []  # completion times
        self.texts = {}  # item text -> requests that carried it

    def arrive(self):
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.in_flight += 1
        if self.in_flight > self.peak:
            self.peak = self.in_flight
            self.reached[self.peak] = now - self.first

    def leave(self):
        self.in_flight -= 1
        self.done.append(time.monotonic() - self.first)


def item_text(body):
    try:
        user = json.loads(body)["contents"][0]["parts"][0]["text"]
        start = user.index("<text>\n") + len("<text>\n")
        end = user.rindex("\n</text>")
        return user[start:end]
    except (ValueError, KeyError, IndexError):
        return "?"


def answer(text):
    inner = json.dumps({"text_corrected": text, "change_summary": "ok"})
    return json.dumps({
        "candidates": [{"content": {"role": "model", "parts": [{"text": inner}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                          "totalTokenCount": 120},
    }).encode()


async def handle(reader, writer, latency, stats):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            stats.arrive()
            text = item_text(body)
            stats.texts[text] = stats.texts.get(text, 0) + 1
            await asyncio.sleep(latency)
            out = answer(text)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(out) + out)
            await writer.drain()
            stats.leave()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(port, latency, stats_file):
    stats = Stats()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency, stats), "127.0.0.1", port, backlog=8192,
        limit=1 << 20)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    with open(stats_file, "w") as f:
        json.dump({"peak": stats.peak, "reached": stats.reached, "done": stats.done,
                   "requests": sum(stats.texts.values()),
                   "duplicates": sum(1 for n in stats.texts.values() if n > 1)}, f)


async def selftest(port, concurrency, seconds):
    body = json.dumps({"contents": [{"parts": [{"text": "<text>\nAla ma kota.\n</text>"}]}]}).encode()
    request = (b"POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    deadline = time.monotonic() + seconds
    count = 0

    async def client():
        nonlocal count
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        while time.monotonic() < deadline:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            await reader.readexactly(length)
            count += 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    print(f"{count / (time.monotonic() - started):.0f}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        asyncio.run(serve(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
    else:
        asyncio.run(selftest(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
