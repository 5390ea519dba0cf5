"""bench/hold.py: scenario 10 of bench/bench.py: hold mode against batch mode
and Redis's own maxmemory + allkeys-lru, all in the same run.

Issue 16's targets, on gcs-loadgen at 25000 entries/s with 300-byte values
against a 32 MiB threshold, flush_num_entries_each_time = 40000 and
flush_period_secs = 1 (as script/demo), the pacing of issue 16's runs
(flush_max_entries_per_sec = 100000, four times the load, and since issue 13
flush_server_budget = off, so that the figures stay comparable), archive off and
on; used_memory read 4 times a second from the first time it reaches the
threshold:
  - mean within +/-2% of the threshold;
  - at least 99% of the readings within +/-5%, none beyond +/-10%;
  - entries removed per second equal to the load within 2%;
  - the share of removed entries that were the oldest (ordering fidelity).
The same figures for batch mode and for a redis-server with maxmemory 32mb
and allkeys-lru (no daemon), run in turn on the same machine.  Then loads
that change (bursts of 4x for a second; values from 100 to 1000 bytes):
how far and how long used_memory leaves the +/-5% band, and the same for
hold mode with neither caps nor pacing (is it the caps or the estimate?).  And what hold's
readings cost other clients: redis-benchmark GETs with no daemon, with the
daemon in batch mode, and in hold mode at 0.1 s and 0.01 s, interleaved.

Plots (gnuplot): hold_steady.png (used_memory over time for the three, the
threshold line, archive off and on) and hold_changing.png (the changing
loads).  Time series: hold_<run>.csv.
"""

import csv
import os
import re
import shutil
import statistics
import subprocess
import threading
import time

THRESHOLD = 32 * 1048576
RATE = 25000
BATCH, PERIOD = 40000, 1
VALUE = 300
EVERY = 0.25        # seconds between readings: 4 a second
HUGE = "1TiB"
MODES = ("hold", "batch", "lru")
LABEL = {"hold": "hold", "batch": "batch", "lru": "allkeys-lru", "hold-uncapped": "hold, uncapped"}


class HoldBench:
    def __init__(self, suite, failed, wait_for, log):
        self.s = suite
        self.env = suite.env
        self.Failed = failed
        self.wait_for = wait_for
        self.log = log
        self.raw = {"threshold": THRESHOLD, "load_rate": RATE, "value_size": VALUE,
                    "flush_num_entries_each_time": BATCH, "flush_period_secs": PERIOD,
                    "flush_max_entries_per_sec": "100000 (budget off)", "readings_per_s": 1 / EVERY,
                    "lru": "redis-server --maxmemory %d --maxmemory-policy allkeys-lru, no daemon" % THRESHOLD,
                    "runs": {}}

    # ------------------------------------------------------------------
    def run(self):
        q = self.s.q
        secs = q(12, 30)
        # Steady load, interleaved: hold, batch, LRU, then the archive on;
        # in a full run all of it twice, so that a stall of the shared
        # machine shows as a difference between rounds.
        for rnd in range(q(1, 2)):
            for archive in ("no", "yes"):
                for mode in MODES:
                    if mode == "lru" and archive == "yes":
                        continue  # Redis keeps nothing of what it evicts either way
                    label = "steady-%s-archive-%s%s" % (mode, "off" if archive == "no" else "on",
                                                        "-r%d" % (rnd + 1) if rnd else "")
                    res = self.one(label, mode, archive, [(RATE, secs, VALUE)])
                    self.steady_rows(label, mode, archive, res, rnd)
        # Loads that change, archive off.
        a = q(5, 8)
        bursts = [(RATE, a, VALUE), (4 * RATE, 1, VALUE), (RATE, a, VALUE), (4 * RATE, 1, VALUE), (RATE, a, VALUE)]
        sizes = [(RATE, q(10, 12), 100), (RATE, q(8, 18), 1000)]
        for load, phases in (("bursts", bursts), ("sizes", sizes)):
            modes = MODES + ("hold-uncapped",)
            for mode in modes:
                label = "%s-%s" % (load, mode)
                res = self.one(label, mode, "no", phases)
                self.changing_rows(load, mode, phases, res)
        self.latency_cost()
        self.plot()
        self.s.raw["10_hold"] = self.raw

    # ------------------------------------------------------------------
    def one(self, label, mode, archive, phases):
        """One run: the phases of load against one server, used_memory read
        4 times a second; returns the run's figures (and writes its CSV)."""
        env = self.env
        with env.scope("s10-" + label) as sc:
            d = None
            if mode == "lru":
                rs = sc.redis("r", "--maxmemory", str(THRESHOLD), "--maxmemory-policy", "allkeys-lru")
            else:
                rs = sc.redis("r")
                policy = {"flush_when_at_least_bytes": THRESHOLD, "flush_period_secs": PERIOD,
                          "flush_num_entries_each_time": BATCH, "archive": archive,
                          "flush_mode": "batch" if mode == "batch" else "hold",
                          "flush_max_entries_per_sec": 100000, "flush_server_budget": "off"}
                if mode == "hold-uncapped":
                    # what the estimate does when neither the caps nor the pacing bind
                    policy.update(flush_num_entries_each_time=1000000000, flush_max_entries_per_sec=0)
                d = sc.daemon("d", [("s", rs, {})], policy)
                d.wait_ready()
            gens = []
            done = threading.Event()

            def load():
                start = 1
                try:
                    for rate, secs, size in phases:
                        rc, out, _ = env.run([env.loadgen, "-s", rs.sock, "-c", "0", "-d", str(secs), "-r", str(rate),
                                              "--value-size", str(size), "--start", str(start)], secs + 60)
                        m = re.search(r"created (\d+) entries in ([\d.]+) s.*last id (\d+)", out)
                        if rc or not m:
                            gens.append({"error": "gcs-loadgen: " + out})
                            return
                        gens.append({"rate": rate, "secs": secs, "value_size": size, "created": int(m.group(1)),
                                     "took_s": float(m.group(2)), "last_id": int(m.group(3))})
                        start = int(m.group(3)) + 1
                finally:
                    done.set()

            th = threading.Thread(target=load)
            c0 = d.cpu() if d else 0.0
            t0 = time.monotonic()
            th.start()
            samples = []
            nxt = t0
            while not done.is_set():
                now = time.monotonic()
                um = int(rs.r.info("memory")["used_memory"])
                if d:
                    removed = d.shard("s")["flushed_entries_total"]
                else:
                    removed = int(rs.r.info("stats")["evicted_keys"])
                samples.append((round(now - t0, 3), um, removed))
                if now - t0 > sum(p[1] for p in phases) + 60:
                    raise self.Failed("%s: gcs-loadgen did not stop" % label)
                nxt += EVERY
                time.sleep(max(0.0, nxt - time.monotonic()))
            th.join()
            wall = time.monotonic() - t0
            cpu = (d.cpu() - c0) if d else None
            bad = [g["error"] for g in gens if "error" in g]
            if bad:
                raise self.Failed("%s: %s" % (label, bad[0]))
            if d:
                # Still over the line (a flush that fell behind) a daemon
                # keeps flushing: pause it, so that the keys are counted
                # standing still.
                d.request("pause s")
                self.wait_for("the last flush to end", 60, lambda: not d.shard("s")["flushing"], 0.1)
            last = gens[-1]["last_id"]
            left = set()
            for k in rs.keys():
                left.add(int(k.split(":")[1]))
            removed = [i for i in range(1, last + 1) if i not in left]
            oldest = sum(1 for i in removed if i <= len(removed))
            fidelity = oldest / len(removed) if removed else None
        path = os.path.join(self.s.out, "hold_%s.csv" % label)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t", "used_memory", "removed_total"])
            w.writerows(samples)
        res = self.figures(samples, gens)
        res.update(mode=mode, archive=archive, phases=gens, fidelity=fidelity, removed=len(removed),
                   daemon_cpu_share=cpu / wall if cpu is not None else None, csv=path)
        self.raw["runs"][label] = res
        self.log("s10: %s: %s" % (label, ", ".join(
            "%s %s" % (k, ("%.3f" % v) if isinstance(v, float) else v) for k, v in res.items()
            if k in ("mean_pct", "within5_pct", "max_abs_pct", "min_pct", "max_pct", "removed_per_s", "load_per_s",
                     "fidelity", "outside5_s", "longest_outside5_s", "daemon_cpu_share"))))
        return res

    @staticmethod
    def figures(samples, gens):
        """The band from the first reading at or over the threshold on."""
        first = next((i for i, s in enumerate(samples) if s[1] >= THRESHOLD), None)
        if first is None:
            return {"reached": False}
        st = samples[first:]
        rel = [100.0 * (u / THRESHOLD - 1) for _, u, _ in st]
        out, longest, run_start = 0, 0.0, None
        for (t, _, _), r in zip(st, rel):
            if abs(r) > 5:
                out += 1
                run_start = t if run_start is None else run_start
                longest = max(longest, t - run_start + EVERY)
            else:
                run_start = None
        span = st[-1][0] - st[0][0]
        created = sum(g["created"] for g in gens)
        took = sum(g["took_s"] for g in gens)
        return {"reached": True, "reached_at_s": st[0][0], "readings": len(rel), "mean_pct": statistics.mean(rel),
                "min_pct": min(rel), "max_pct": max(rel), "max_abs_pct": max(abs(r) for r in rel),
                "within5_pct": 100.0 * sum(1 for r in rel if abs(r) <= 5) / len(rel),
                "within2_pct": 100.0 * sum(1 for r in rel if abs(r) <= 2) / len(rel),
                "outside5_s": out * EVERY, "longest_outside5_s": longest,
                "removed_per_s": (st[-1][2] - st[0][2]) / span if span > 0 else 0.0,
                "load_per_s": created / took if took > 0 else 0.0}

    # ------------------------------------------------------------------
    def steady_rows(self, label, mode, archive, res, rnd):
        row = self.s.row
        sc = "10 hold"
        who = "%s%s%s" % ("round %d: " % (rnd + 1) if rnd else "", LABEL[mode],
                          "" if mode == "lru" else ", archive %s" % ("off" if archive == "no" else "on"))
        if not res.get("reached"):
            row(sc, "%s: used_memory never reached the threshold" % who, None, "")
            return
        m, w5, mx = res["mean_pct"], res["within5_pct"], res["max_abs_pct"]
        row(sc, "%s: used_memory mean vs threshold" % who, m, "%", "threshold 32 MiB", None, None, "within +/-2%",
            abs(m) <= 2)
        row(sc, "%s: readings within +/-5%%" % who, w5, "%", "%d readings, 4/s" % res["readings"], None, None,
            ">= 99%", w5 >= 99)
        row(sc, "%s: largest deviation (%+.1f%% to %+.1f%%)" % (who, res["min_pct"], res["max_pct"]), mx, "%",
            None, None, None, "<= 10%", mx <= 10)
        r = res["removed_per_s"] / res["load_per_s"] if res["load_per_s"] else None
        row(sc, "%s: removed entries/s" % who, res["removed_per_s"], "entries/s", "load entries/s",
            res["load_per_s"], r, "1 +/- 0.02", r is not None and abs(r - 1) <= 0.02)
        if res["fidelity"] is not None:
            row(sc, "%s: share of removed that were the oldest" % who, res["fidelity"], "",
                "%d removed" % res["removed"], None, None, "1.00" if mode != "lru" else None,
                res["fidelity"] >= 1.0 if mode != "lru" else None)
        if res["daemon_cpu_share"] is not None:
            row(sc, "%s: daemon CPU share" % who, 100 * res["daemon_cpu_share"], "% core")

    def changing_rows(self, load, mode, phases, res):
        who = "%s: %s" % ("bursts of 4x for 1 s" if load == "bursts" else "values 100 -> 1000 B", LABEL[mode])
        if not res.get("reached"):
            self.s.row("10 hold", "%s: never reached the threshold" % who, None, "")
            return
        self.s.row("10 hold", "%s: %+.1f%% to %+.1f%%, longest out %.2f s" % (
            who, res["min_pct"], res["max_pct"], res["longest_outside5_s"]), res["outside5_s"],
            "s outside +/-5%", "%.1f s held" % (res["readings"] * EVERY))

    # ------------------------------------------------------------------
    def latency_cost(self):
        """Other clients' GET p99 and rate with no daemon, the daemon in
        batch mode, and in hold mode (0.1 s and 0.01 s), below the
        threshold: the readings alone, no flushing.  Interleaved rounds;
        the median of each."""
        env = self.env
        rounds = self.s.q(3, 5)
        n = self.s.q(100000, 300000)
        configs = [("no daemon", None), ("batch", {"flush_mode": "batch"}),
                   ("hold 0.1 s", {"flush_mode": "hold"}),
                   ("hold 0.01 s", {"flush_mode": "hold", "hold_interval_secs": 0.01})]
        res = {c: [] for c, _ in configs}
        with env.scope("s10-latency") as sc:
            rs = sc.redis("r")
            rc, out, _ = env.run([env.loadgen, "-s", rs.sock, "-c", "50000", "-q"], 120)
            if rc:
                raise self.Failed("gcs-loadgen: " + out)
            pipe = rs.r.pipeline(transaction=False)
            for s in range(0, 100000, 1000):
                pipe.mset({"key:%012d" % i: "x" * 20 for i in range(s, s + 1000)})
            pipe.execute()
            for rnd in range(rounds):
                for name, extra in configs:
                    d = None
                    if extra is not None:
                        policy = {"flush_when_at_least_bytes": HUGE, "match": "task:* object:* log:* event:*"}
                        policy.update(extra)
                        d = sc.daemon("d-%d-%s" % (rnd, name.replace(" ", "-")), [("s", rs, {})], policy)
                        d.wait_ready()
                        time.sleep(0.5)
                        t0 = d.shard("s")["ticks_total"]
                    rc, out, secs = env.run(["redis-benchmark", "-s", rs.sock, "-t", "get", "-r", "100000",
                                             "-n", str(n), "-c", "10", "--csv"], 120)
                    if rc:
                        raise self.Failed("redis-benchmark: " + out)
                    rows = [l for l in out.splitlines() if l.startswith('"')]
                    head = [h.strip('"') for h in rows[0].split(",")]
                    vals = [v.strip('"') for v in rows[-1].split(",")]
                    b = dict(zip(head, vals))
                    got = {"rps": float(b["rps"]), "p99_ms": float(b["p99_latency_ms"]), "seconds": secs}
                    if d is not None:
                        got["readings_per_s"] = (d.shard("s")["ticks_total"] - t0) / secs
                        d.stop()
                        shutil.rmtree(d.dir)
                    res[name].append(got)
        self.raw["latency_cost"] = {"rounds": rounds, "gets": n, "tracked_entries": 50000, "runs": res}
        base = statistics.median(r["p99_ms"] for r in res["no daemon"])
        base_rps = statistics.median(r["rps"] for r in res["no daemon"])
        for name, _ in configs[1:]:
            p99 = statistics.median(r["p99_ms"] for r in res[name])
            rps = statistics.median(r["rps"] for r in res[name])
            rd = statistics.median(r["readings_per_s"] for r in res[name])
            self.log("s10: GETs with the daemon %s: p99 %.3f ms (no daemon %.3f), %.0f GET/s (%.0f); %.1f readings/s" % (
                name, p99, base, rps, base_rps, rd))
            rng = [r["p99_ms"] for r in res[name]]
            self.s.row("10 hold", "other clients' GET p99, daemon %s (%.1f readings/s; rounds %.2f-%.2f)" % (
                name, rd, min(rng), max(rng)), p99, "ms",
                "no daemon (rounds %.2f-%.2f)" % (min(r["p99_ms"] for r in res["no daemon"]),
                                                  max(r["p99_ms"] for r in res["no daemon"])), base, p99 / base)
            self.s.row("10 hold", "other clients' GET/s, daemon %s" % name, rps, "GET/s", "no daemon", base_rps,
                       rps / base_rps)

    # ------------------------------------------------------------------
    def plot(self):
        gp = shutil.which("gnuplot")
        if not gp:
            self.log("s10: no gnuplot; no PNG (script/bootstrap installs gnuplot-nox)")
            return
        colors = {"hold": "#1f77b4", "batch": "#d62728", "lru": "#2a9d2a", "hold-uncapped": "#9467bd"}

        def panel(title, runs):
            lines = []
            for label, mode in runs:
                path = os.path.join(self.s.out, "hold_%s.csv" % label)
                if os.path.exists(path):
                    lines.append("'%s' using 1:($2/1048576) with lines lw 2 lc rgb '%s' title '%s'" % (
                        path, colors[mode], LABEL[mode]))
            if not lines:
                return ""
            lines.append("%g with lines dt 2 lw 2 lc rgb 'black' title 'threshold (32 MiB)'" % (THRESHOLD / 1048576))
            return "set title '%s'\nplot %s\n" % (title, ", \\\n     ".join(lines))

        figs = [("hold_steady.png", "used_memory over time: hold, batch and allkeys-lru, gcs-loadgen at %d entries/s, "
                 "%d B values, %d entries per %g s period" % (RATE, VALUE, BATCH, PERIOD),
                 [panel("archive off (allkeys-lru: maxmemory 32mb, no daemon)",
                        [("steady-hold-archive-off", "hold"), ("steady-batch-archive-off", "batch"),
                         ("steady-lru-archive-off", "lru")]),
                  panel("archive on (allkeys-lru as above)",
                        [("steady-hold-archive-on", "hold"), ("steady-batch-archive-on", "batch"),
                         ("steady-lru-archive-off", "lru")])]),
                ("hold_changing.png", "used_memory over time under loads that change (archive off)",
                 [panel("bursts: 4x the load for 1 s, twice (hold, uncapped: no caps, no pacing)",
                        [("bursts-hold", "hold"), ("bursts-batch", "batch"), ("bursts-lru", "lru"),
                         ("bursts-hold-uncapped", "hold-uncapped")]),
                  panel("values from 100 to 1000 bytes (hold, uncapped: no caps, no pacing)",
                        [("sizes-hold", "hold"), ("sizes-batch", "batch"), ("sizes-lru", "lru"),
                         ("sizes-hold-uncapped", "hold-uncapped")])])]
        for png, title, panels in figs:
            panels = [p for p in panels if p]
            if not panels:
                continue
            script = """
set terminal %%s size 1100,%d noenhanced
set output '%s'
set datafile separator ','
set key below horizontal
set xlabel 'seconds since the load started'
set ylabel 'used_memory (MiB)'
set yrange [0:*]
set grid
set multiplot layout %d,1 title '%s'
%s
unset multiplot
""" % (430 * len(panels), os.path.join(self.s.out, png), len(panels), title, "".join(panels))
            for term in ("pngcairo", "png"):
                r = subprocess.run([gp], input=(script % term).encode(), capture_output=True, timeout=60)
                if r.returncode == 0:
                    self.raw.setdefault("png", []).append(png)
                    break
            else:
                self.log("s10: gnuplot failed: " + r.stderr.decode(errors="replace"))
