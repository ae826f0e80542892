#!/usr/bin/env python3
"""Where the slowest acknowledgements of a load run spent their time.

Reads keygate's JSON log (`--log-format json`, KEYGATE_LOG=info,keygate::server=debug,
keygate::ledger=debug): one `delivery accepted` line per delivery, and for every one over
2 ms a `slow acknowledgement` line (the handler's steps) and, when its ledger write was over
2 ms too, a `slow ledger write` line (the writer thread's view). Joins them by delivery ID,
takes the slowest 0.1 % of all accepted deliveries by the handler's time, and prints what
each waited for.

    bench/ack_tail.py server.log [--share 0.001] [--skip-secs 1]

The first `--skip-secs` of deliveries are left out: connections opening, caches filling.
"""
import json
import sys
from collections import Counter
from datetime import datetime

STEPS = [
    ("body", "reading the body"),
    ("verify", "the HMAC"),
    ("triage", "reading the payload"),
    ("behind_commit", "the writer busy with the commit before"),
    ("behind_other", "the writer busy with other work (worker, probes)"),
    ("statements", "its batch's statements"),
    ("commit", "its batch's commit (WAL write, fsync, checkpoint)"),
    ("reply", "the answer back from the writer thread"),
    ("after", "after the ledger (queue, log line, scheduling)"),
]


def main():
    args = sys.argv[1:]
    share = 0.001
    if "--share" in args:
        share = float(args[args.index("--share") + 1])
    skip = 1.0
    if "--skip-secs" in args:
        skip = float(args[args.index("--skip-secs") + 1])
    path = args[0]
    accepted = 0
    first = None
    acks, writes = {}, {}
    for line in open(path, errors="replace"):
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        f = rec.get("fields", {})
        msg = f.get("message")
        if msg not in ("delivery accepted", "slow acknowledgement", "slow ledger write"):
            continue
        at = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()
        first = at if first is None else first
        if at - first < skip:
            continue
        if msg == "delivery accepted":
            accepted += 1
        elif msg == "slow acknowledgement":
            acks[f["delivery"]] = f
        elif msg == "slow ledger write":
            writes[f["delivery"]] = f
    if not accepted:
        sys.exit("ack_tail: no `delivery accepted` lines: was the log JSON at info level?")
    n = max(1, round(accepted * share))
    slowest = sorted(acks.values(), key=lambda a: -a["total_us"])[:n]
    print(f"deliveries accepted: {accepted}; over 2 ms in the handler: {len(acks)} "
          f"({100 * len(acks) / accepted:.2f} %); ledger writes over 2 ms: {len(writes)}")
    hist = Counter()
    for a in acks.values():
        ms = a["total_us"] / 1000
        edge = 2
        while ms >= edge * 2 and edge < 256:
            edge *= 2
        hist[edge] += 1
    print("handler time of the slow ones: " + ", ".join(
        f"{e}–{e * 2} ms: {hist[e]}" for e in sorted(hist)))
    rows, dominant = [], Counter()
    for a in slowest:
        w = writes.get(a["delivery"])
        parts = {"body": a["body_us"], "verify": a["verify_us"], "triage": a["triage_us"]}
        if w:
            waited, other = w["waited_us"], w["other_work_us"]
            parts["behind_other"] = min(other, waited)
            parts["behind_commit"] = max(0, waited - other)
            parts["statements"] = w["statements_us"]
            parts["commit"] = w["commit_us"]
            parts["reply"] = max(0, w["total_us"] - waited - w["statements_us"] - w["commit_us"])
            parts["after"] = max(0, a["accept_us"] - w["total_us"])
        else:
            # The write took under 2 ms: the rest of accepting is counted after the ledger.
            parts["after"] = a["accept_us"]
        rows.append((a, w, parts))
        dominant[max(parts, key=parts.get)] += 1
    print(f"\nthe slowest {share * 100:g} %: {len(slowest)} deliveries, handler time "
          f"{slowest[-1]['total_us'] / 1000:.1f}–{slowest[0]['total_us'] / 1000:.1f} ms")
    print("| step | median µs | max µs | the largest part of it for |")
    print("| --- | --- | --- | --- |")
    for key, words in STEPS:
        vals = sorted(p.get(key, 0) for _, _, p in rows)
        print(f"| {words} | {vals[len(vals) // 2]} | {vals[-1]} | {dominant[key]} |")
    batches = sorted(w["batch"] for _, w, _ in rows if w)
    pieces = Counter(w["other_pieces"] for _, w, _ in rows if w)
    if batches:
        print(f"\nbatch sizes: median {batches[len(batches) // 2]}, max {batches[-1]}; "
              f"other work pieces before the batch: {dict(sorted(pieces.items()))}")


if __name__ == "__main__":
    main()
