#!/usr/bin/env python3
"""No target synced by two replicas at once (tests/e2e/shards.sh).

Arguments: LOG[:KILLED_MS] per replica, portcullisd's JSON-lines logs. A sync runs from its
"sync started" line to its "sync of TARGET ..." line; a sync without an end lasts until the
replica was killed (KILLED_MS, Unix milliseconds) or, for a replica still running, until now.
Exits 1 and names the overlaps when two replicas' syncs of one target overlap; else prints how
many syncs and handovers (a target synced next by another replica) it checked.
"""
import json
import sys
import time
from datetime import datetime, timezone


def millis(stamp):
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000)


def intervals(path, killed):
    out, open_ = [], {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            msg, target = e.get("msg", ""), e.get("target")
            if not isinstance(msg, str) or not target or "time" not in e:
                continue
            if msg == "sync started":
                open_[target] = millis(e["time"])
            elif msg.startswith("sync of ") and target in open_:
                out.append((target, open_.pop(target), millis(e["time"])))
    end = killed if killed is not None else int(time.time() * 1000)
    out.extend((t, start, end) for t, start in open_.items())
    return out


def main():
    syncs = []
    for arg in sys.argv[1:]:
        path, _, killed = arg.partition(":")
        syncs.extend((t, s, e, path) for t, s, e in intervals(path, int(killed) if killed else None))
    overlaps, handovers = [], 0
    by_target = {}
    for t, s, e, who in syncs:
        by_target.setdefault(t, []).append((s, e, who))
    for t, runs in by_target.items():
        runs.sort()
        for i, (s, e, who) in enumerate(runs):
            for s2, e2, who2 in runs[i + 1:]:
                if s2 >= e:
                    break
                if who2 != who:
                    overlaps.append(f"{t}: {who} {s}-{e} and {who2} {s2}-{e2}")
        handovers += sum(1 for a, b in zip(runs, runs[1:]) if a[2] != b[2])
    if overlaps:
        print("; ".join(overlaps[:10]))
        return 1
    print(f"{len(syncs)} syncs of {len(by_target)} targets, {handovers} handovers between replicas, none overlapping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
