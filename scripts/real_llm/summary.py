"""Runs of scripts/real-llm-check (JSON lines from report.py) as Markdown for
BENCHMARKS.md: per server the median of the runs, then each run."""
import collections
import json
import statistics
import sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_server = collections.defaultdict(list)
for run in runs:
    by_server[run["server"]].append(run)
for server, its in by_server.items():
    median_ok = statistics.median(r["ok"] for r in its)
    median_clean = statistics.median(r["clean"] for r in its)
    items = its[0]["items"]
    print(f"### {server}: {len(its)} runs")
    print()
    print(f"Median OK: {median_ok:g} of {items}; median clean corrections (equal to the "
          f"label): {median_clean:g} of {items}, {median_clean / max(median_ok, 1):.0%} of "
          f"the OK answers; OK answers that are the text unchanged: "
          f"{sum(r['unchanged'] for r in its)} in all runs; unrelated texts saved: "
          f"{sum(r['unrelated_saved'] for r in its)} in all runs.")
    print()
    print("| run | OK | clean | failed | calls | tokens recorded (in/out) | "
          "server reported (in/out) | items/s | failed by cause |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, r in enumerate(its, 1):
        causes = ", ".join(f"{c} x {k}" for k, c in sorted(
            r["failed_by_cause"].items(), key=lambda kv: -kv[1])) or "none"
        print(f"| {n} | {r['ok']} | {r['clean']} | {r['items'] - r['ok']} | {r['calls']} | "
              f"{r['tokens_recorded'][0]} / {r['tokens_recorded'][1]} | "
              f"{r['tokens_server'][0]} / {r['tokens_server'][1]} | {r['items_per_s']:.2f} | "
              f"{causes} |")
    print()
    modes = collections.Counter()
    probe = collections.Counter()
    for r in its:
        modes.update(r["json_modes"])
        probe.update(r["probe_json_modes"])
    examples = []
    for pair in (pair for r in its for pair in r["saved_not_clean"]):
        if pair not in examples:
            examples.append(pair)
    examples = examples[:8]
    if examples:
        print("Saved but not clean (first few):")
        print()
        for orig, result in examples:
            print(f"- {orig} → {result}")
        print()
    print("Requests by JSON mode: " + ", ".join(f"{n} x {m}" for m, n in modes.items())
          + "; the probe task after each run: "
          + (", ".join(f"{n} x {m}" for m, n in probe.items()) or "none"))
    print()
