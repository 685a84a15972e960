#!/usr/bin/env python3
"""Calls in flight against connections: the release binary at C calls in flight and
L seconds of model latency, against a fake that sleeps without a thread per request.

For each (L, C): the fake alone first (its own capacity at C), then one run of the
binary on C/L * SECONDS items. Reports items/s over the whole run and in the steady
state (both against C/L), the ramp (time until 90 % of C are in flight), the peak
of database connections (Threads_connected over the run, less before), threads,
peak RSS and CPU per item.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(ROOT, "target", "release", "ai-worker")
FAKE = os.path.join(HERE, "fake_llm_async.py")
DB = "aiw_bench_conc"
PORT = 18601


def sql(statement, db=None):
    args = ["mysql", "-h127.0.0.1", "-uroot", "-N", "-B", "-e", statement]
    if db:
        args.insert(1, db)
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def prepare(items):
    sql(f"DROP DATABASE IF EXISTS {DB}")
    env = dict(os.environ, DB_NAME=DB)
    subprocess.run([BIN, "--env-file", "/dev/null", "init-db", "-q"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    sql(f"INSERT INTO ai_model (name, provider, model_name, api_url) VALUES "
        f"('b', 'gemini', 'm', 'http://127.0.0.1:{PORT}/v1beta')", DB)
    sql("INSERT INTO task (id_ai_model, name, description) VALUES (1, 'b', 'Popraw.')", DB)
    done = 0
    while done < items:
        upto = min(done + 100000, items)
        sql(f"INSERT INTO task_item (id_task, text_original) SELECT 1, "
            f"CONCAT('Tekst numer ', seq, ' z błedem.') FROM seq_{done + 1}_to_{upto}", DB)
        done = upto


def start_fake(latency, stats):
    fake = subprocess.Popen([sys.executable, FAKE, "serve", str(PORT), str(latency), stats],
                            stdout=subprocess.PIPE, text=True)
    assert fake.stdout.readline().strip() == "ready"
    return fake


def fake_alone(latency, concurrency):
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        fake = start_fake(latency, stats.name)
        seconds = max(4 * latency, 5)
        out = subprocess.run([sys.executable, FAKE, "selftest", str(PORT), str(concurrency),
                              str(seconds)], capture_output=True, text=True, check=True)
        fake.send_signal(signal.SIGTERM)
        fake.wait()
        return float(out.stdout.strip())


class Sampler(threading.Thread):
    """Peak threads of the process and database connections while it runs."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.threads, self.conns, self.running = pid, 0, 0, True

    def run(self):
        while self.running:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("Threads:"):
                            self.threads = max(self.threads, int(line.split()[1]))
                self.conns = max(self.conns, int(sql("SHOW STATUS LIKE 'Threads_connected'").split()[1]))
            except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
                pass
            time.sleep(0.2)


def one_run(latency, concurrency, seconds, pool):
    items = int(concurrency / latency * seconds)
    prepare(items)
    before = int(sql("SHOW STATUS LIKE 'Threads_connected'").split()[1])
    stats = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    fake = start_fake(latency, stats)
    env = dict(os.environ, DB_NAME=DB, GEMINI_API_KEY="bench", AI_ENV_KEY_HOSTS="127.0.0.1", PACK_MAX_ITEMS="1",
               DB_POOL_SIZE=str(pool),
               RUST_LOG="warn")
    timing = tempfile.NamedTemporaryFile(delete=False).name
    started = time.monotonic()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %e %U %S", "-o", timing, BIN,
                             "--env-file", "/dev/null", "-q", "--json", "--task", "1",
                             "--max-item", str(items), "--concurrency", str(concurrency)],
                            env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    sampler = Sampler(int(child[0]) if child else proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - started
    sampler.running = False
    fake.send_signal(signal.SIGTERM)
    fake.wait()
    summary = json.loads(out)
    with open(timing) as f:
        rss_kib, _, user, system = f.read().split()[-4:]
    with open(stats) as f:
        st = json.load(f)
    os.unlink(stats)
    os.unlink(timing)
    reached = {int(k): v for k, v in st["reached"].items()}
    target = int(0.9 * concurrency)
    ramp = min((v for k, v in reached.items() if k >= target), default=None)
    done = sorted(st["done"])
    start = (ramp or 0) + latency
    end = (done[-1] if done else 0) - latency
    window = [t for t in done if start <= t <= end]
    steady = len(window) / (end - start) if end > start else 0
    ok = summary.get("items_ok", 0)
    return {
        "L": latency, "C": concurrency, "items": items, "ok": ok, "wall": wall,
        "overall": ok / wall, "steady": steady, "ideal": concurrency / latency,
        "ramp": ramp, "peak_in_flight": st["peak"], "conns": sampler.conns - before,
        "threads": sampler.threads, "rss_mib": int(rss_kib) / 1024,
        "cpu_ms_per_item": (float(user) + float(system)) * 1000 / max(ok, 1),
    }


def main():
    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    pool = int(os.environ.get("DB_POOL_SIZE", "8"))
    latencies = [float(x) for x in os.environ.get("BENCH_LATENCIES", "1 2").split()]
    concurrencies = [int(x) for x in os.environ.get("BENCH_CONCURRENCY", "64 256 1024 4096").split()]
    print(f"DB_POOL_SIZE={pool}, runs of C/L x {seconds:.0f} s of items\n")
    print("| L | C | fake alone | items | items/s (of C/L) | steady (of C/L) | ramp to 90 % | "
          "in flight | DB conns | threads | RSS | CPU/item |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for latency in latencies:
        for concurrency in concurrencies:
            alone = fake_alone(latency, concurrency)
            r = one_run(latency, concurrency, seconds, pool)
            ramp = f"{r['ramp']:.2f} s" if r["ramp"] is not None else "never"
            print(f"| {latency:g} s | {concurrency} | {alone / r['ideal']:.2f} | {r['ok']}/{r['items']} | "
                  f"{r['overall']:.0f} ({r['overall'] / r['ideal']:.2f}) | "
                  f"{r['steady']:.0f} ({r['steady'] / r['ideal']:.2f}) | {ramp} | {r['peak_in_flight']} | "
                  f"{r['conns']} | {r['threads']} | {r['rss_mib']:.0f} MiB | {r['cpu_ms_per_item']:.2f} ms |",
                  flush=True)
    sql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
