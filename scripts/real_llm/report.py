"""One run of one server (scripts/real-llm-check), as a JSON line: items OK and failed
by cause, clean corrections (equal to the label), unrelated texts saved, calls,
tokens recorded against the server's own usage, items/s, and the probe task's JSON
modes. summary.py turns three runs into the Markdown of BENCHMARKS.md."""
import collections
import json
import re
import subprocess
import sys

kind, usage_file, started, ended, db, labels_file = sys.argv[1:7]
labels = json.load(open(labels_file))


def query(sql):
    out = subprocess.run(["mysql", "-h127.0.0.1", "-uroot", "-N", "-B", db, "-e", sql],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def cause(message):
    """The kind of failure: the first clause, numbers and placeholders blanked."""
    first = re.split(r"[:(\[]", message)[0].strip()
    return re.sub(r"\d+(\.\d+)?", "N", first)[:70]


def words(text):
    return [w for w in re.findall(r"\w+", text.lower()) if len(w) >= 4]


def near(a, b):
    """Within a small edit (a quarter of the word's letters, at least one)."""
    limit = max(len(a) // 4, 1)
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        current = [i + 1]
        for j, cb in enumerate(b):
            current.append(min(previous[j] + (ca != cb), previous[j + 1] + 1, current[j] + 1))
        previous = current
    return previous[-1] <= limit


def unrelated(original, result):
    """Keeps less than half of the original's longer words, as written or within a
    small edit: a reviewer would not call it this text corrected."""
    mine = words(original)
    theirs = words(result)
    kept = sum(any(w == t or near(w, t) for t in theirs) for w in mine)
    return bool(mine) and kept < len(mine) / 2


def normal(text):
    return " ".join(text.split())


lines = [json.loads(l) for l in open(usage_file)]
checked = [l for l in lines if l["task"] in ("ai-worker-task-1", "ai-worker-task-2")]
probe = [l for l in lines if l["task"] == "ai-worker-task-3"]
items = query("SELECT status_id, COALESCE(error_message, ''), text_original, "
              "COALESCE(REPLACE(text_corrected, '\\n', ' '), '') "
              "FROM task_item WHERE id_task IN (1, 2)")
saved = [(orig, result) for s, _, orig, result in items if s == "1"]
tokens = query("SELECT CAST(SUM(tokens_input) AS UNSIGNED), CAST(SUM(tokens_output) AS UNSIGNED) "
               "FROM task WHERE id_task IN (1, 2)")[0]
print(json.dumps({
    "server": kind,
    "items": len(items),
    "ok": len(saved),
    "clean": sum(normal(result) == normal(labels.get(orig, "")) for orig, result in saved),
    "unchanged": sum(normal(result) == normal(orig) for orig, result in saved),
    "unrelated_saved": sum(unrelated(orig, result) for orig, result in saved),
    "saved_not_clean": [[orig, result] for orig, result in saved
                        if normal(result) != normal(labels.get(orig, ""))],
    "failed_by_cause": collections.Counter(cause(m) for s, m, _, _ in items if s == "3"),
    "calls": len(checked),
    "tokens_recorded": [int(tokens[0]), int(tokens[1])],
    "tokens_server": [sum(l["prompt_tokens"] for l in checked),
                      sum(l["completion_tokens"] for l in checked)],
    "items_per_s": len(items) / (float(ended) - float(started)),
    "json_modes": collections.Counter(l["format"] for l in checked),
    "probe_json_modes": collections.Counter(l["format"] for l in probe),
}, ensure_ascii=False))
