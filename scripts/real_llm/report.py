"""The figures of one server's run (scripts/real-llm-check), as Markdown for
BENCHMARKS.md: items OK and failed by cause, calls per item, tokens recorded against
the server's own usage, items/s, and whether the second task probed the JSON mode."""
import collections
import re
import json
import subprocess
import sys

kind, usage_file, started, ended, db = sys.argv[1:6]


def query(sql):
    out = subprocess.run(["mysql", "-h127.0.0.1", "-uroot", "-N", "-B", db, "-e", sql],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


lines = [json.loads(l) for l in open(usage_file)]
first = [l for l in lines if l["task"] == "ai-worker-task-1"]
second = [l for l in lines if l["task"] == "ai-worker-task-2"]
items = query("SELECT status_id, COALESCE(error_message, '') FROM task_item WHERE id_task = 1")
ok = sum(1 for s, _ in items if s == "1")
def cause(message):
    """The kind of failure: the first clause, numbers and placeholders blanked."""
    first = re.split(r"[:(\[]", message)[0].strip()
    return re.sub(r"\d+(\.\d+)?", "N", first)[:70]


causes = collections.Counter(cause(m) for s, m in items if s == "3")
tin, tout = query("SELECT tokens_input, tokens_output FROM task WHERE id_task = 1")[0]
server_in = sum(l["prompt_tokens"] for l in first)
server_out = sum(l["completion_tokens"] for l in first)
secs = float(ended) - float(started)
formats = collections.Counter(l["format"] for l in first)
print(f"### {kind}")
print()
print("| items | OK | failed | calls | calls per item | tokens recorded (in/out) | "
      "tokens the server reported (in/out) | items/s |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {len(items)} | {ok} | {len(items) - ok} | {len(first)} | {len(first) / max(len(items), 1):.2f} | "
      f"{tin} / {tout} | {server_in} / {server_out} | {len(items) / secs:.2f} |")
print()
print("Failures by cause: " + (", ".join(f"{n} x {c}" for c, n in causes.items()) or "none"))
print("Requests by JSON mode: " + ", ".join(f"{n} x {f}" for f, n in formats.items()))
print("Second task (4 items): " + ", ".join(
    f"{n} x {f}" for f, n in collections.Counter(l["format"] for l in second).items())
      + " (no json_schema probe expected when the first task stepped down)")
print()
