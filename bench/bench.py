#!/usr/bin/python3
"""bench/bench.py: the scenarios of gcs-flushd's benchmark suite.

Run through bench/run, which builds the daemon, makes the temporary
directory (--tmp) and cleans up after us whatever happens.  Every process
started here is a child of this one, is logged in TMP/pids ("start PID" /
"end PID") so that bench/run can stop what is left by PID, and is stopped
by PID here too: redis-servers on UNIX sockets in TMP (never a TCP port),
gcs-flushd with a config and state_dir in TMP, and the clients.

Needs /usr/bin/python3 with redis-py (Debian's python3-redis).
"""

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import redis
import redis.cluster

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
HUGE = "1TiB"  # a threshold no scenario reaches: flushes happen only when forced


def log(msg):
    print("bench: " + msg, flush=True)


class Failed(Exception):
    pass


def wait_for(what, timeout, fn, step=0.05):
    """Calls fn until it returns something true; bounded."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Failed("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(step)


def proc_cpu(pid):
    """utime + stime of pid in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise Failed("no %s in /proc/%d/status" % (field, pid))


class Env:
    """Processes and directories of one run."""

    def __init__(self, tmp, build, compare_build=None):
        self.tmp = tmp
        self.build = build
        # another build's daemon, for before/after figures in the same run (scenario 9)
        self.compare_flushd = os.path.join(compare_build, "gcs-flushd") if compare_build else None
        self.procs = []
        self.pidlog = open(os.path.join(tmp, "pids"), "a")
        self.flushd = os.path.join(build, "gcs-flushd")
        self.flushctl = os.path.join(build, "gcs-flushctl")
        self.loadgen = os.path.join(build, "tools", "gcs-loadgen")

    def spawn(self, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=None):
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=stdin, env=env)
        self.pidlog.write("start %d\n" % p.pid)
        self.pidlog.flush()
        self.procs.append(p)
        return p

    def reaped(self, p):
        if p in self.procs:
            self.procs.remove(p)
            self.pidlog.write("end %d\n" % p.pid)
            self.pidlog.flush()

    def wait(self, p, timeout):
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise Failed("%s did not end within %gs" % (p.args[0], timeout))
        self.reaped(p)
        return rc

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.reaped(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)

    def run(self, argv, timeout, **kw):
        """Runs argv to its end (bounded); returns (rc, stdout, seconds)."""
        t0 = time.perf_counter()
        p = self.spawn(argv, stdout=subprocess.PIPE, **kw)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise Failed("%s did not end within %gs" % (" ".join(argv[:3]), timeout))
        self.reaped(p)
        return p.returncode, out.decode(errors="replace"), time.perf_counter() - t0

    def scope(self, name):
        return Scope(self, name)


class Scope:
    """A scenario's directory and processes, all gone when it ends."""

    def __init__(self, env, name):
        self.env = env
        self.dir = os.path.join(env.tmp, name)

    def __enter__(self):
        os.makedirs(self.dir)
        self.mine = len(self.env.procs)
        return self

    def __exit__(self, *exc):
        for p in reversed(self.env.procs[self.mine:]):
            self.env.stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def redis(self, name, *extra, tcp=False):
        return Redis(self, name, extra, tcp)

    def daemon(self, name, shards, policy, flushd=None, extra_lines=(), env=None):
        return Daemon(self, name, shards, policy, flushd, extra_lines, env)


def free_port():
    """A free port of 127.0.0.1, never Redis's default 6379."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port != 6379:
            return port


class Redis:
    def __init__(self, scope, name, extra, tcp=False):
        """tcp: also listen on a free port of 127.0.0.1 (self.port), for the
        daemon only; the benchmark's own clients keep the UNIX socket."""
        self.env = scope.env
        self.name = name
        self.dir = scope.path(name)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.port = free_port() if tcp else 0
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                "--enable-debug-command", "local", "--logfile", os.path.join(self.dir, "redis.log")]
        argv += list(extra)
        self.proc = self.env.spawn(argv)
        self.r = redis.Redis(unix_socket_path=self.sock, socket_timeout=120)

        def up():
            if self.proc.poll() is not None:
                raise Failed("redis-server %s exited; see %s/redis.log" % (name, self.dir))
            try:
                return self.r.ping()
            except redis.exceptions.ConnectionError:
                return False
        wait_for("redis-server " + name, 10, up)
        self.pid = self.proc.pid

    def used_memory(self):
        return int(self.r.info("memory")["used_memory"])

    def dbsize(self):
        return int(self.r.dbsize())

    def populate(self, n, prefix):
        """n keys PREFIX:0 .. PREFIX:n-1 with 20-byte values, no keyspace events."""
        self.r.execute_command("DEBUG", "POPULATE", n, prefix, 20)

    def keys(self):
        return [k.decode() for k in self.r.scan_iter(count=1000)]

    def stop(self):
        self.env.stop(self.proc)


class Daemon:
    def __init__(self, scope, name, shards, policy, flushd=None, extra_lines=(), env=None):
        """shards: [(name, Redis, {key: value})], an "address" there instead
        of the UNIX socket; policy: {key: value}; flushd: another binary;
        extra_lines: more of the config file (a cluster shard's section);
        env: the daemon's environment (None: ours)."""
        self.env = scope.env
        self.dir = scope.path(name)
        os.makedirs(self.dir)
        self.ctl_sock = os.path.join(self.dir, "control.sock")
        self.conf = os.path.join(self.dir, "gcs-flushd.conf")
        lines = ["[daemon]", "control_socket = " + self.ctl_sock,
                 "state_dir = " + os.path.join(self.dir, "state"), "log_level = notice", "", "[policy]"]
        lines += ["%s = %s" % kv for kv in policy.items()]
        self.shards = []
        for sname, rs, extra in shards:
            extra = dict(extra)
            lines += ["", "[shard:%s]" % sname, "address = " + extra.pop("address", "unix:" + rs.sock)]
            lines += ["%s = %s" % kv for kv in extra.items()]
            self.shards.append(sname)
        lines += list(extra_lines)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.logf = open(os.path.join(self.dir, "daemon.log"), "w")
        self.proc = self.env.spawn([flushd or self.env.flushd, "-c", self.conf], stderr=self.logf, env=env)
        self.pid = self.proc.pid

    def request(self, line, timeout=30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.ctl_sock)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
        finally:
            s.close()
        return json.loads(buf)

    def status(self):
        return self.request("status")

    def shard(self, name):
        for s in self.status()["shards"]:
            if s["name"] == name:
                return s
        raise Failed("no shard " + name)

    def wait_ready(self, timeout=60):
        """Every shard connected and its startup reconciliation done."""
        def ready():
            if self.proc.poll() is not None:
                raise Failed("gcs-flushd exited; see " + self.logf.name)
            try:
                st = self.status()
            except (OSError, ValueError):
                return False
            return all(s["state"] == "connected" and s["reconcile_state"] == "done" for s in st["shards"])
        wait_for("gcs-flushd to connect and reconcile", timeout, ready, 0.1)

    def wait_tracked(self, shard, n, timeout=60):
        return wait_for("%d tracked entries" % n, timeout, lambda: self.shard(shard)["tracked_entries"] >= n, 0.1)

    def flush_argv(self, shard, n):
        return [self.env.flushctl, "-s", self.ctl_sock, "--json", "flush", shard, str(n)]

    def flush(self, shard, n, timeout=300):
        rc, out, _ = self.env.run(self.flush_argv(shard, n), timeout)
        reply = json.loads(out)
        if not reply.get("ok"):
            raise Failed("flush %s %d: %s" % (shard, n, reply.get("error")))
        return reply

    def cpu(self):
        return proc_cpu(self.pid)

    def rss(self):
        return proc_status(self.pid, "VmRSS")

    def hwm(self):
        return proc_status(self.pid, "VmHWM")

    def stop(self):
        self.env.stop(self.proc)


def free_cluster_port():
    """A TCP port free on 127.0.0.1 whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket()
        try:
            if port + 10000 <= 65535 and port != 6379:
                b.bind(("127.0.0.1", port + 10000))
                return port
        except OSError:
            pass
        finally:
            a.close()
            b.close()
    raise Failed("no free port pair for a cluster node")


def cluster_start(env, scope, n):
    """n cluster masters (no replicas) in scope, every slot covered; their ports."""
    ports = []
    for i in range(n):
        port = free_cluster_port()
        d = scope.path("c%d" % i)
        os.makedirs(d)
        env.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                   "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000", "--save", "",
                   "--appendonly", "no", "--dir", d, "--logfile", os.path.join(d, "redis.log")])
        r = redis.Redis(host="127.0.0.1", port=port)
        wait_for("cluster node %d" % port, 10, lambda: _pings(r))
        ports.append(port)
    rc, out, _ = env.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports] +
                         ["--cluster-replicas", "0", "--cluster-yes"], 60)
    if rc != 0:
        raise Failed("cluster create: " + out[-500:])
    for p in ports:
        r = redis.Redis(host="127.0.0.1", port=p)
        wait_for("cluster_state ok", 20, lambda: r.cluster("info")["cluster_state"] == "ok")
    return ports


def _pings(r):
    try:
        return r.ping()
    except redis.exceptions.ConnectionError:
        return False


def bench_csv(out):
    """The last data line of redis-benchmark --csv, as a dict of floats."""
    rows = list(csv.reader(l for l in out.splitlines() if l.startswith('"')))
    head, last = rows[0], rows[-1]
    return {k: float(v) for k, v in zip(head[1:], last[1:])}


class Suite:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.env = Env(args.tmp, args.build, args.compare_build)
        self.out = args.out
        self.rows = []       # the table
        self.raw = {}        # scenario -> figures
        self.timings = {}

    def q(self, quick, full):
        return quick if self.quick else full

    def row(self, scenario, figure, value, unit, baseline=None, base_value=None, ratio=None,
            target=None, holds=None):
        self.rows.append(dict(scenario=scenario, figure=figure, value=value, unit=unit,
                              baseline=baseline, baseline_value=base_value, ratio=ratio,
                              target=target, holds=holds))

    # ------------------------------------------------------------------
    def s1_throughput(self):
        """Forced flush of N entries vs. the deletion limit and what ops use."""
        n = self.q(200000, 1000000)
        raw = {"entries": n, "keys": "DEBUG POPULATE (key:0 .. key:N-1, 20-byte values)"}
        env = self.env
        with env.scope("s1") as sc:
            rs = sc.redis("r")

            def check_empty(what):
                left = rs.dbsize()
                if left:
                    raise Failed("%s left %d keys" % (what, left))

            def pipe_rounds(path, rounds, what, deletes=True):
                """Seconds of each of rounds redis-cli --pipe runs of path over n fresh keys;
                deletes: the commands delete them all."""
                secs_list = []
                for _ in range(rounds):
                    if deletes or not secs_list:
                        rs.populate(n, "key")
                    with open(path, "rb") as f:
                        rc, out, secs = env.run(["redis-cli", "-s", rs.sock, "--pipe"], 120, stdin=f)
                    if rc or "errors: 0" not in out:
                        raise Failed("redis-cli --pipe (%s): %s" % (what, out))
                    if deletes:
                        check_empty("redis-cli --pipe (%s)" % what)
                    secs_list.append(secs)
                return secs_list

            # (a) the server's deletion limit: pre-built 1000-key UNLINKs through redis-cli --pipe
            resp = sc.path("unlink.resp")
            with open(resp, "wb") as f:
                for s in range(0, n, 1000):
                    ks = [b"key:%d" % i for i in range(s, min(n, s + 1000))]
                    f.write(b"*%d\r\n$6\r\nUNLINK\r\n" % (len(ks) + 1))
                    f.write(b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in ks))
            # best of 3: it is the bar, and one pass is short
            raw["limit_s"] = pipe_rounds(resp, 3, "UNLINK")
            limit = n / min(raw["limit_s"])
            log("s1: deletion limit (UNLINK x1000 via redis-cli --pipe, best of 3): %.0f keys/s" % limit)

            # the same with what the daemon adds: keyspace events, and a subscriber reading them
            rs.r.config_set("notify-keyspace-events", "Egxen")
            sub = env.spawn(["redis-cli", "-s", rs.sock, "subscribe"] +
                            ["__keyevent@0__:" + e for e in ("new", "del", "expired", "evicted")])
            wait_for("the subscriber", 10, lambda: int(rs.r.pubsub_numsub("__keyevent@0__:del")[0][1]) == 1)
            raw["limit_notify_s"] = pipe_rounds(resp, 2, "UNLINK, notifications on")
            limit_notify = n / min(raw["limit_notify_s"])
            log("s1: the same with notifications on and a subscriber (best of 2): %.0f keys/s" % limit_notify)

            # what any archiving, tracking flusher must at least do: per key one DUMP, PTTL and
            # UNLINK, pipelined, with the notifications on and the subscriber reading them
            dpu = sc.path("dump_pttl_unlink.resp")
            with open(dpu, "wb") as f:
                for i in range(n):
                    k = b"key:%d" % i
                    k = b"$%d\r\n%s\r\n" % (len(k), k)
                    f.write(b"*2\r\n$4\r\nDUMP\r\n%s*2\r\n$4\r\nPTTL\r\n%s*2\r\n$6\r\nUNLINK\r\n%s" % (k, k, k))
            raw["dpu_limit_s"] = pipe_rounds(dpu, 2, "DUMP+PTTL+UNLINK")
            env.stop(sub)
            rs.r.config_set("notify-keyspace-events", "")
            dpu_limit = n / min(raw["dpu_limit_s"])
            log("s1: DUMP+PTTL+UNLINK limit, notifications on + subscriber (best of 2): %.0f keys/s" % dpu_limit)

            # what archiving must at least do: read every value out once, pipelined DUMPs
            dump = sc.path("dump.resp")
            with open(dump, "wb") as f:
                for i in range(n):
                    k = b"key:%d" % i
                    f.write(b"*2\r\n$4\r\nDUMP\r\n$%d\r\n%s\r\n" % (len(k), k))
            raw["dump_limit_s"] = pipe_rounds(dump, 2, "DUMP", deletes=False)
            rs.r.flushall()
            dump_limit = n / min(raw["dump_limit_s"])
            log("s1: DUMP limit (one DUMP per key via redis-cli --pipe, best of 2): %.0f keys/s" % dump_limit)

            # (b) the ops one-liner
            rs.populate(n, "key")
            cmd = "redis-cli -s '%s' --scan --pattern 'key:*' | xargs -n 1000 redis-cli -s '%s' unlink >/dev/null" % (
                rs.sock, rs.sock)
            rc, out, secs = env.run(["bash", "-c", cmd], 300)
            check_empty("the one-liner")
            raw["oneliner_s"] = secs
            oneliner = n / secs
            log("s1: one-liner (redis-cli --scan | xargs -n 1000 redis-cli unlink): %.0f keys/s" % oneliner)

            # (c) what Ray's monitor did: SCAN + pipelined DEL, in redis-py
            rs.populate(n, "key")
            rc, out, secs = env.run(["/usr/bin/python3", os.path.join(HERE, "scan_delete.py"), rs.sock, "key:*"], 300)
            check_empty("scan_delete.py")
            rec = json.loads(out)
            raw["redispy_s"] = rec["seconds"]
            redispy = rec["deleted"] / rec["seconds"]
            log("s1: redis-py SCAN + pipelined DEL: %.0f keys/s" % redispy)

            # gcs-flushd, archive off and on, unpaced
            for archive in ("no", "yes"):
                rs.populate(n, "key")
                d = sc.daemon("d-archive-" + archive, [("s", rs, {})],
                              {"flush_when_at_least_bytes": HUGE, "flush_max_entries_per_sec": 0, "flush_server_budget": "off",
                               "archive": archive})
                t0 = time.monotonic()
                d.wait_ready(timeout=120)
                raw["reconcile_s_archive_" + archive] = time.monotonic() - t0
                tracked = d.shard("s")["tracked_entries"]
                if tracked != n:
                    raise Failed("tracked %d of %d after reconciliation" % (tracked, n))
                c0 = d.cpu()
                rep = d.flush("s", n)
                cpu = d.cpu() - c0
                if rep["flushed"] != n:
                    raise Failed("flushed %d of %d" % (rep["flushed"], n))
                check_empty("gcs-flushd")
                rate = rep["flushed"] / rep["seconds"]
                raw["daemon_archive_" + archive] = dict(rep, entries_per_s=rate, daemon_cpu_s=cpu)
                if archive == "yes":
                    raw["archive_bytes"] = d.shard("s")["archive_bytes"]
                d.stop()
                shutil.rmtree(d.dir)
                log("s1: gcs-flushd archive=%s: %.0f entries/s (%d chunks, %.2f s, daemon CPU %.2f s)" % (
                    archive, rate, rep["chunks"], rep["seconds"], cpu))
                label = "off" if archive == "no" else "on"
                self.row("1 throughput", "flush archive %s" % label, rate, "entries/s",
                         "UNLINK --pipe limit", limit, rate / limit, None, None)
                if archive == "no":
                    off = rate
                else:
                    on = rate
            self.row("1 throughput", "flush archive off", off, "entries/s",
                     "scan|xargs one-liner", oneliner, off / oneliner, ">= 3", off / oneliner >= 3)
            self.row("1 throughput", "flush archive off", off, "entries/s",
                     "redis-py SCAN+DEL", redispy, off / redispy, None, None)
            self.row("1 throughput", "flush archive off", off, "entries/s",
                     "limit, notify on + subscriber", limit_notify, off / limit_notify, ">= 0.80",
                     off / limit_notify >= 0.8)
            self.row("1 throughput", "flush archive on", on, "entries/s",
                     "DUMP+PTTL+UNLINK, notify on + sub", dpu_limit, on / dpu_limit, ">= 0.80", on / dpu_limit >= 0.8)
            self.row("1 throughput", "flush archive on", on, "entries/s",
                     "DUMP --pipe limit", dump_limit, on / dump_limit, None, None)
            raw.update(limit_per_s=limit, limit_notify_per_s=limit_notify, oneliner_per_s=oneliner,
                       redispy_per_s=redispy, dump_limit_per_s=dump_limit, dpu_limit_per_s=dpu_limit)
        self.raw["1_throughput"] = raw

    # ------------------------------------------------------------------
    def s2_latency(self):
        """Other clients' GET latency and rate while the daemon flushes with its default settings."""
        f = self.q(600000, 1000000)        # entries per flush (outlasting the GETs), archive off and on
        g = self.q(100000, 300000)         # GETs per redis-benchmark run
        batch = 10000                      # the default flush_num_entries_each_time
        # --s2-budgets 5%,10%,25%: the same with each budget, set through the
        # runtime policy key (how the default was chosen); "default" is the
        # built-in one.
        budgets = (self.args.s2_budgets or "default").split(",")
        raw = {"entries_per_flush": f, "gets_per_run": g, "clients": 10, "batch": batch, "budgets": {}}
        env = self.env
        with env.scope("s2") as sc:
            rs = sc.redis("r")
            # the keys redis-benchmark GETs (key:__rand_int__ is key:%012d), outside the daemon's match
            pipe = rs.r.pipeline(transaction=False)
            for s in range(0, 100000, 1000):
                pipe.mset({"key:%012d" % i: "x" * 20 for i in range(s, s + 1000)})
            pipe.execute()
            rs.populate(f + 2 * batch, "a")
            rs.populate(f + 2 * batch, "b")
            d = sc.daemon("d", [("off", rs, {"match": "a:*", "archive": "no"}),
                                ("on", rs, {"match": "b:*", "archive": "yes"})],
                          # a 1 s period: the policy hash is read every second
                          {"flush_when_at_least_bytes": HUGE, "policy_key": "bench:policy", "flush_period_secs": 1})
            d.wait_ready(timeout=120)

            def getbench(n=g):
                rc, out, secs = env.run(["redis-benchmark", "-s", rs.sock, "-t", "get", "-r", "100000",
                                         "-n", str(n), "-c", "10", "--csv"], 120)
                if rc:
                    raise Failed("redis-benchmark failed: " + out)
                return bench_csv(out)

            def set_budget(budget):
                if budget == "default":
                    rs.r.delete("bench:policy")
                else:
                    rs.r.hset("bench:policy", "flush_server_budget", budget)

                def applied(sh):
                    b = d.shard(sh)["settings"]["flush_server_budget"]
                    if budget == "default":
                        return b["source"] != "runtime"
                    want = 0 if budget == "off" else float(budget.rstrip("%")) / (100 if "%" in budget else 1)
                    return b["source"] == "runtime" and abs(b["value"] - want) < 1e-9
                wait_for("the budget to apply", 30, lambda: applied("off") and applied("on"), 0.1)
                return d.shard("on")["settings"]["flush_server_budget"]["value"]

            for budget in budgets:
                value = set_budget(budget)
                name = "default %g%%" % (value * 100) if budget == "default" else "budget " + budget
                raw["budgets"][name] = br = {}
                for shard, label in (("off", "off"), ("on", "on")):
                    idle = getbench()
                    p = env.spawn(d.flush_argv(shard, f), stdout=subprocess.PIPE)
                    wait_for("the flush to start", 10, lambda: d.shard(shard)["flushing"] or p.poll() is not None)
                    fl0 = d.shard(shard)["flushed_entries_total"]
                    t0 = time.monotonic()
                    busy = getbench()
                    t1 = time.monotonic()
                    st = d.shard(shard)
                    covered = st["flushing"]
                    during_rate = (st["flushed_entries_total"] - fl0) / (t1 - t0)
                    if covered:  # the figure is in; stop the rest of the flush
                        d.request("pause " + shard)
                    out, _ = p.communicate(timeout=600)
                    env.reaped(p)
                    d.request("resume " + shard)
                    rep = json.loads(out)
                    if not rep.get("ok") and rep.get("error") != "paused":
                        raise Failed("flush: " + str(rep))
                    share = d.shard(shard)["flush_server_share"]
                    # The default batch beside the same GETs: how long a policy flush takes.
                    gp = env.spawn(["redis-benchmark", "-s", rs.sock, "-t", "get", "-r", "100000", "-n",
                                    "100000000", "-c", "10", "-q"])
                    time.sleep(0.5)
                    brep = d.flush(shard, batch)
                    env.stop(gp)
                    br["archive_" + label] = dict(idle=idle, flushing=busy, flush=rep,
                                                  entries_per_s_during_benchmark=during_rate,
                                                  flush_outlasted_benchmark=covered, server_share=share,
                                                  batch=brep)
                    log("s2: %s, archive %s: GET p50/p99 idle %.3f/%.3f ms, flushing %.3f/%.3f ms; GET/s %.0f -> "
                        "%.0f; %.0f entries/s (server share %.3f)%s; a batch of %d in %.2f s" % (
                            name, label, idle["p50_latency_ms"], idle["p99_latency_ms"], busy["p50_latency_ms"],
                            busy["p99_latency_ms"], idle["rps"], busy["rps"], during_rate, share,
                            "" if covered else " (the flush ended before the GETs)", batch, brep["seconds"]))
                    ratio = busy["p99_latency_ms"] / idle["p99_latency_ms"]
                    rps = busy["rps"] / idle["rps"]
                    tag = "%s, archive %s" % (name, label)
                    self.row("2 latency", "GET p50 flushing, " + tag, busy["p50_latency_ms"], "ms",
                             "idle p50", idle["p50_latency_ms"], busy["p50_latency_ms"] / idle["p50_latency_ms"])
                    self.row("2 latency", "GET p99 flushing, " + tag, busy["p99_latency_ms"], "ms",
                             "idle p99", idle["p99_latency_ms"], ratio, "<= 2.5", ratio <= 2.5)
                    self.row("2 latency", "GET/s flushing, " + tag, busy["rps"], "GET/s",
                             "idle GET/s", idle["rps"], rps, ">= 0.8", rps >= 0.8)
                    self.row("2 latency", "entries/s during GETs, " + tag, during_rate, "entries/s",
                             "server share", share, None, None, None)
                    self.row("2 latency", "a %d batch under GETs, %s" % (batch, tag), batch / brep["seconds"],
                             "entries/s", "period 10 s", 10, brep["seconds"] / 10, "well within", brep["seconds"] < 5)
            set_budget("default")
            raw["timeline"] = {label: self.s2_timeline(sc, rs, d, shard, label)
                               for shard, label in (("off", "off"), ("on", "on"))}
            raw["timeline_png"] = self.s2_plot()
        self.raw["2_latency"] = raw

    # The p99 over time: one client GETs in a loop beside redis-benchmark's
    # ten, for TL_BEFORE seconds idle, then TL_DURING while a forced flush
    # runs at the default budget; its latencies in TL_WINDOW windows.
    TL_BEFORE, TL_DURING, TL_WINDOW = 2.0, 5.0, 0.25

    def s2_timeline(self, sc, rs, d, shard, label):
        env = self.env
        probe = redis.Redis(unix_socket_path=rs.sock)
        samples = []  # (seconds from the start, latency ms)
        gp = env.spawn(["redis-benchmark", "-s", rs.sock, "-t", "get", "-r", "100000", "-n", "100000000",
                        "-c", "10", "-q"])
        time.sleep(0.5)
        t0 = time.monotonic()
        p = None
        while True:
            now = time.monotonic() - t0
            if now >= self.TL_BEFORE + self.TL_DURING:
                break
            if p is None and now >= self.TL_BEFORE:
                p = env.spawn(d.flush_argv(shard, 10 ** 9), stdout=subprocess.PIPE)
            a = time.monotonic()
            probe.get("key:%012d" % random.randrange(100000))
            samples.append((a - t0, (time.monotonic() - a) * 1000))
        flushing = d.shard(shard)["flushing"]
        d.request("pause " + shard)
        p.communicate(timeout=120)
        env.reaped(p)
        d.request("resume " + shard)
        env.stop(gp)
        rows = []
        for w in range(int((self.TL_BEFORE + self.TL_DURING) / self.TL_WINDOW)):
            lat = sorted(ms for t, ms in samples if w * self.TL_WINDOW <= t < (w + 1) * self.TL_WINDOW)
            if lat:
                rows.append((round((w + 0.5) * self.TL_WINDOW - self.TL_BEFORE, 3), lat[int(0.99 * (len(lat) - 1))],
                             lat[len(lat) // 2], len(lat)))
        path = os.path.join(self.out, "s2_timeline_archive_%s.csv" % label)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["seconds_from_flush_start", "p99_ms", "p50_ms", "gets"])
            w.writerows(rows)
        idle = statistics.median(r[1] for r in rows if r[0] < 0)
        busy = statistics.median(r[1] for r in rows if r[0] > 0)
        worst = max(r[1] for r in rows if r[0] > 0)
        log("s2: timeline, archive %s: a probe client's p99 per %g s window: median %.3f ms idle, %.3f ms "
            "flushing (worst window %.3f ms)%s" % (label, self.TL_WINDOW, idle, busy, worst,
                                                   "" if flushing else "; the flush ended early"))
        self.row("2 latency", "p99 per %g s window while flushing, archive %s (median)" % (self.TL_WINDOW, label),
                 busy, "ms", "idle windows", idle, busy / idle, "<= 2.5", busy / idle <= 2.5)
        return {"csv": path, "median_p99_idle_ms": idle, "median_p99_flushing_ms": busy,
                "worst_window_p99_ms": worst, "flush_outlasted": flushing}

    def s2_plot(self):
        png = os.path.join(self.out, "s2_timeline.png")
        gp = shutil.which("gnuplot")
        if not gp:
            log("s2: no gnuplot; no PNG (script/bootstrap installs gnuplot-nox)")
            return None
        data = [(label, os.path.join(self.out, "s2_timeline_archive_%s.csv" % label)) for label in ("off", "on")]
        plots = ", ".join("'%s' using 1:2 with linespoints title 'archive %s: p99 (ms)'" % (path, label)
                          for label, path in data if os.path.exists(path))
        script = """
set terminal %%s size 1000,420 noenhanced
set output '%s'
set datafile separator ','
set key below horizontal
set xlabel 'seconds from the start of a forced flush (default flush_server_budget)'
set ylabel 'GET p99 per %g s window (ms)'
set yrange [0:*]
set grid
set arrow from 0, graph 0 to 0, graph 1 nohead dt 2
set title 'Other clients during a flush: a probe client beside redis-benchmark -c 10 GETs'
plot %s
""" % (png, self.TL_WINDOW, plots)
        for term in ("pngcairo", "png"):
            r = subprocess.run([gp], input=(script % term).encode(), capture_output=True, timeout=60)
            if r.returncode == 0:
                return png
        log("s2: gnuplot failed: " + r.stderr.decode(errors="replace"))
        return None

    # ------------------------------------------------------------------
    def s3_tracking(self):
        """SET throughput with the daemon tracking vs. without it."""
        rounds = self.q(1, 3)
        runs = {"pipelined -P 16": ["-P", "16", "-n", str(self.q(300000, 1000000))],
                "not pipelined": ["-n", str(self.q(100000, 300000))]}
        raw = {"rounds": rounds, "clients": 50, "keyspace": "-r 100000000 (nearly every SET creates a key)",
               "figure": "best of the rounds", "results": {}}
        env = self.env
        res = {(k, m): [] for k in runs for m in ("base", "notify", "subscriber", "tracked")}
        channels = ["__keyevent@0__:" + e for e in ("new", "del", "expired", "evicted")]
        with env.scope("s3") as sc:
            rs = sc.redis("r")

            def setbench(args):
                rs.r.flushall()
                rc, out, _ = env.run(["redis-benchmark", "-s", rs.sock, "-t", "set", "-r", "100000000",
                                      "-d", "100", "--csv"] + args, 300)
                if rc:
                    raise Failed("redis-benchmark failed: " + out)
                return bench_csv(out)["rps"]

            for rnd in range(rounds):
                rs.r.config_set("notify-keyspace-events", "")
                for k, args in runs.items():
                    res[(k, "base")].append(setbench(args))
                # what the notifications alone cost, with nobody subscribed
                rs.r.config_set("notify-keyspace-events", "Egxen")
                for k, args in runs.items():
                    res[(k, "notify")].append(setbench(args))
                # the server's own cost of tracking: the events, and their delivery to one
                # minimal subscriber on the daemon's channels (redis-cli to /dev/null)
                sub = env.spawn(["redis-cli", "-s", rs.sock, "subscribe"] + channels)
                wait_for("the subscriber", 10, lambda: int(rs.r.pubsub_numsub(channels[0])[0][1]) == 1)
                for k, args in runs.items():
                    res[(k, "subscriber")].append(setbench(args))
                env.stop(sub)
                rs.r.config_set("notify-keyspace-events", "")
                d = sc.daemon("d%d" % rnd, [("s", rs, {})], {"flush_when_at_least_bytes": HUGE})
                d.wait_ready()
                c0, t0, e0 = d.cpu(), time.monotonic(), d.shard("s")["events_total"]
                for k, args in runs.items():
                    res[(k, "tracked")].append(setbench(args))
                cpu, events = d.cpu() - c0, d.shard("s")["events_total"] - e0
                raw.setdefault("daemon_cpu_share", []).append(cpu / (time.monotonic() - t0))
                raw.setdefault("events_total", []).append(d.shard("s")["events_total"])
                raw.setdefault("daemon_cpu_us_per_event", []).append(1e6 * cpu / max(events, 1))
                raw["notify_keyspace_events_with_daemon"] = rs.r.config_get("notify-keyspace-events")[
                    "notify-keyspace-events"]
                d.stop()
                shutil.rmtree(d.dir)
            for k in runs:
                base, tr = max(res[(k, "base")]), max(res[(k, "tracked")])
                nt, sb = max(res[(k, "notify")]), max(res[(k, "subscriber")])
                raw["results"][k] = {"base_rps": res[(k, "base")], "notify_only_rps": res[(k, "notify")],
                                     "subscriber_rps": res[(k, "subscriber")], "tracked_rps": res[(k, "tracked")]}
                log("s3: SET %s: %.0f/s without the daemon, %.0f/s with notifications but no subscriber, "
                    "%.0f/s with a minimal subscriber, %.0f/s tracked (%.2fx of the subscriber's)" % (
                        k, base, nt, sb, tr, tr / sb))
                self.row("3 tracking", "SET/s notify on, no daemon, " + k, nt, "SET/s", "no daemon, notify off", base,
                         nt / base)
                self.row("3 tracking", "SET/s notify on + subscriber, " + k, sb, "SET/s", "no daemon, notify off",
                         base, sb / base)
                self.row("3 tracking", "SET/s tracked, " + k, tr, "SET/s", "no daemon, notify off", base,
                         tr / base, None, None)
                self.row("3 tracking", "SET/s tracked, " + k, tr, "SET/s", "notify on + subscriber", sb,
                         tr / sb, ">= 0.95", tr / sb >= 0.95)
            cpe = raw["daemon_cpu_us_per_event"]
            log("s3: daemon CPU per keyspace event: %s us" % ", ".join("%.2f" % x for x in cpe))
            self.row("3 tracking", "daemon CPU per keyspace event", min(cpe), "us", None, None, None, None, None)
        self.raw["3_tracking"] = raw

    # ------------------------------------------------------------------
    def s4_memory(self):
        """Daemon RSS per tracked entry vs. a Redis zset index of the same keys."""
        n = self.q(200000, 1000000)
        raw = {"entries": n, "keys": "tools/gcs-loadgen (Ray-like mix, 16-byte values), tracked from keyspace events"}
        env = self.env
        with env.scope("s4") as sc:
            rs = sc.redis("data")
            d = sc.daemon("d", [("s", rs, {})], {"flush_when_at_least_bytes": HUGE})
            d.wait_ready()
            time.sleep(0.2)
            rss0 = d.rss()
            rc, out, secs = env.run([env.loadgen, "-s", rs.sock, "-c", str(n), "--value-size", "16", "-P", "1000"], 300)
            if rc:
                raise Failed("gcs-loadgen: " + out)
            d.wait_tracked("s", n)
            time.sleep(0.3)
            st = d.shard("s")
            rss1 = d.rss()
            keys = rs.keys()
            if len(keys) != n:
                raise Failed("%d keys in Redis, expected %d" % (len(keys), n))
            mean_len = sum(map(len, keys)) / n
            per = (rss1 - rss0) / n
            raw.update(rss_before=rss0, rss_after=rss1, tracked=st["tracked_entries"], ledger_bytes=st["ledger_bytes"],
                       daemon_bytes_per_entry=per, ledger_bytes_per_entry=st["ledger_bytes"] / n,
                       mean_key_len=mean_len, loadgen=out.strip())
            self.churn(d, rs, keys, rss0, per, raw)
            d.stop()
            rs.stop()

            zs = sc.redis("index")
            u0 = zs.used_memory()
            pipe = zs.r.pipeline(transaction=False)
            for i in range(0, n, 1000):
                pipe.zadd("idx", {k: int(k.split(":")[1]) for k in keys[i:i + 1000]})
                if i % 100000 == 0:
                    pipe.execute()
            pipe.execute()
            u1 = zs.used_memory()
            if zs.r.zcard("idx") != n:
                raise Failed("zset has %d members" % zs.r.zcard("idx"))
            zper = (u1 - u0) / n
            raw.update(zset_used_memory_before=u0, zset_used_memory_after=u1, zset_bytes_per_entry=zper)
            target = 48 + mean_len
            log("s4: daemon %.1f B/entry (RSS delta; ledger_bytes %.1f B/entry), zset %.1f B/entry, "
                "mean key length %.1f, target %.1f" % (per, st["ledger_bytes"] / n, zper, mean_len, target))
            self.row("4 memory", "daemon RSS delta per entry", per, "B", "zset used_memory delta", zper,
                     per / zper, "<= %.1f B (48 + key %.1f)" % (target, mean_len), per <= target)
            self.row("4 memory", "daemon ledger_bytes per entry", st["ledger_bytes"] / n, "B",
                     "zset used_memory delta", zper, st["ledger_bytes"] / n / zper, None, None)
        self.raw["4_memory"] = raw

    def churn(self, d, rs, keys, rss0, fresh, raw):
        """Scenario 4, continued: the application deletes a random 90% of the
        keys; the daemon's memory per live entry is sampled every second for
        up to a minute; then it refills to n and the same is read again."""
        n = len(keys)
        victims = random.Random(13).sample(keys, n * 9 // 10)
        live = n - len(victims)
        pipe = rs.r.pipeline(transaction=False)
        for i in range(0, len(victims), 1000):
            pipe.unlink(*victims[i:i + 1000])
            if i % 100000 == 0:
                pipe.execute()
        pipe.execute()
        wait_for("the deletions to be tracked", 120, lambda: d.shard("s")["tracked_entries"] <= live, 0.2)
        t0 = time.monotonic()
        series = []
        reached = None
        while time.monotonic() - t0 < 60:
            st = d.shard("s")
            now = time.monotonic() - t0
            per_live = (d.rss() - rss0) / st["tracked_entries"]
            series.append([round(now, 1), per_live, st["ledger_bytes"] / st["tracked_entries"]])
            if reached is None and per_live <= 1.5 * fresh:
                reached = now
            # Stable: no longer falling over the last 5 samples.
            if len(series) > 6 and series[-6][1] - per_live < 0.01 * per_live:
                break
            time.sleep(1)
        per_live, lb = series[-1][1], series[-1][2]
        raw["churn"] = dict(deleted=len(victims), live=st["tracked_entries"], series=series,
                            seconds_to_1_5x=reached, per_live_entry=per_live, ledger_bytes_per_live_entry=lb)
        log("s4: after a random 90%% deleted: %.1f B per live entry (ledger_bytes %.1f), fresh %.1f; "
            "within 1.5x after %s s" % (per_live, lb, fresh, "%.0f" % reached if reached is not None else "never"))
        self.row("4 memory", "per live entry, a random 90%% deleted (after %.0f s)" % series[-1][0], per_live, "B",
                 "fresh per entry", fresh, per_live / fresh, "<= 1.5 within 60 s", reached is not None)
        self.row("4 memory", "ledger_bytes per live entry, 90% deleted", lb, "B", "fresh per entry", fresh,
                 lb / fresh, None, None)
        # Refill with new keys to n.
        rc, out, _ = self.env.run([self.env.loadgen, "-s", rs.sock, "-c", str(len(victims)), "--start",
                                   str(10 * n + 1), "--value-size", "16", "-P", "1000"], 300)
        if rc:
            raise Failed("gcs-loadgen: " + out)
        d.wait_tracked("s", n)
        time.sleep(2)  # a sweep's worth
        st = d.shard("s")
        per_refill = (d.rss() - rss0) / st["tracked_entries"]
        raw["refill"] = dict(tracked=st["tracked_entries"], per_entry=per_refill,
                             ledger_bytes_per_entry=st["ledger_bytes"] / st["tracked_entries"])
        log("s4: refilled to %d: %.1f B per entry (ledger_bytes %.1f), fresh %.1f" % (
            st["tracked_entries"], per_refill, st["ledger_bytes"] / st["tracked_entries"], fresh))
        self.row("4 memory", "per entry, refilled to %d" % st["tracked_entries"], per_refill, "B",
                 "fresh per entry", fresh, per_refill / fresh, "<= 1.25", per_refill <= 1.25 * fresh)

    # ------------------------------------------------------------------
    def s5_ordering(self):
        """Share of removed keys that were among the oldest: gcs-flushd vs allkeys-lru."""
        m = self.q(100000, 400000)
        n = m // 4
        rate = self.q(50000, 100000)
        raw = {"written": m, "to_remove": n, "write_rate": rate,
               "touched": "a read (GET, HGETALL, LRANGE, ZRANGE) of a random 30% of the older half (ids 1..M/2), 1.5 s after the writes"}
        env = self.env
        with env.scope("s5") as sc:
            rd = sc.redis("daemon")
            rl = sc.redis("lru", "--maxmemory-policy", "allkeys-lru")
            d = sc.daemon("d", [("s", rd, {})], {"flush_when_at_least_bytes": HUGE, "archive": "no"})
            d.wait_ready()
            u_empty = rl.used_memory()
            gens = [env.spawn([env.loadgen, "-s", r.sock, "-c", str(m), "-r", str(rate), "--value-size", "100",
                               "--seed", "7", "-q"]) for r in (rd, rl)]
            for p in gens:
                if env.wait(p, 120):
                    raise Failed("gcs-loadgen failed")
            d.wait_tracked("s", m)
            keys = rd.keys()
            if sorted(keys) != sorted(rl.keys()) or len(keys) != m:
                raise Failed("the two servers got different keys")
            ident = {k: int(k.split(":")[1]) for k in keys}
            by_id = sorted(keys, key=ident.get)
            time.sleep(1.5)  # Redis's LRU clock ticks in seconds
            rng = random.Random(5)
            touched = rng.sample(by_id[:m // 2], int(0.3 * (m // 2)))
            for r in (rd, rl):
                pipe = r.r.pipeline(transaction=False)
                for i, k in enumerate(touched):
                    typ = k.split(":")[0]
                    if typ == "object":
                        pipe.hgetall(k)
                    elif typ == "log":
                        pipe.lrange(k, 0, -1)
                    elif typ == "event":
                        pipe.zrange(k, 0, -1)
                    else:
                        pipe.get(k)
                    if i % 1000 == 999:
                        pipe.execute()
                pipe.execute()

            def share(r):
                left = set(r.keys())
                removed = [k for k in keys if k not in left]
                oldest = set(by_id[:len(removed)])
                return len(removed), (sum(1 for k in removed if k in oldest) / len(removed)) if removed else None

            rep = d.flush("s", n)
            dn, dshare = share(rd)
            u = rl.used_memory()
            per_key = (u - u_empty) / m
            maxmem = int(u - n * per_key)
            rl.r.config_set("maxmemory", maxmem)

            def settled():
                e1 = int(rl.r.info("stats")["evicted_keys"])
                time.sleep(0.3)
                rl.r.ping()
                return e1 > 0 and int(rl.r.info("stats")["evicted_keys"]) == e1
            wait_for("LRU eviction to settle", 30, settled, 0.05)
            ln, lshare = share(rl)
            raw.update(daemon_flush=rep, daemon_removed=dn, daemon_share=dshare, lru_maxmemory=maxmem,
                       lru_removed=ln, lru_share=lshare, lru_evicted_keys=int(rl.r.info("stats")["evicted_keys"]))
            log("s5: removed %d / %d: gcs-flushd %.3f of them among the oldest; allkeys-lru removed %d, %.3f" % (
                dn, m, dshare, ln, lshare))
            self.row("5 ordering", "share oldest, gcs-flushd (%d of %d)" % (dn, m), dshare, "",
                     "allkeys-lru (%d removed)" % ln, lshare, dshare / lshare if lshare else None, "1.00",
                     dshare >= 1.0)
        self.raw["5_ordering"] = raw

    # ------------------------------------------------------------------
    def s6_steady(self):
        """Load above the threshold for a while: used_memory vs threshold, daemon CPU."""
        secs = self.q(10, 30)
        threshold = 32 * 1048576
        load_rate = 25000
        batch, period = 40000, 1
        raw = {"seconds": secs, "threshold": threshold, "load_rate": load_rate, "flush_num_entries_each_time": batch,
               "flush_period_secs": period, "pacing": "the defaults (flush_server_budget 10%)", "value_size": 300,
               "sample_every_s": 0.5}
        for archive in ("no", "yes"):
            label = "off" if archive == "no" else "on"
            raw["archive_" + label] = self.steady_run(archive, secs, threshold, load_rate, batch, period)
        self.raw["6_steady"] = raw
        self.plot(secs, threshold, load_rate, batch, period)

    def steady_run(self, archive, secs, threshold, load_rate, batch, period):
        env = self.env
        label = "off" if archive == "no" else "on"
        samples = []
        with env.scope("s6-" + label) as sc:
            rs = sc.redis("r")
            d = sc.daemon("d", [("s", rs, {})], {"flush_when_at_least_bytes": threshold, "flush_period_secs": period,
                                                 "flush_num_entries_each_time": batch, "archive": archive})
            d.wait_ready()
            gen = env.spawn([env.loadgen, "-s", rs.sock, "-c", "0", "-d", str(secs), "-r", str(load_rate), "-q"])
            t0 = time.monotonic()
            c0 = d.cpu()
            nxt = t0
            prev = None
            while True:
                now = time.monotonic()
                st = d.shard("s")
                um = rs.used_memory()
                cpu = d.cpu()
                t = now - t0
                row = {"t": round(t, 3), "used_memory": um, "threshold": threshold,
                       "flushed_total": st["flushed_entries_total"], "tracked": st["tracked_entries"],
                       "daemon_cpu_s": round(cpu - c0, 3)}
                if prev:
                    dt = t - prev["t"]
                    row["flushed_per_s"] = round((row["flushed_total"] - prev["flushed_total"]) / dt, 1)
                    row["daemon_cpu_pct"] = round(100 * (row["daemon_cpu_s"] - prev["daemon_cpu_s"]) / dt, 1)
                else:
                    row["flushed_per_s"] = 0.0
                    row["daemon_cpu_pct"] = 0.0
                samples.append(row)
                prev = row
                if gen.poll() is not None:
                    break
                if t > secs + 10:
                    raise Failed("gcs-loadgen did not stop")
                nxt += 0.5
                time.sleep(max(0, nxt - time.monotonic()))
            wall = time.monotonic() - t0
            cpu = d.cpu() - c0
            env.reaped(gen)
            st = d.shard("s")
        cols = ["t", "used_memory", "threshold", "flushed_total", "flushed_per_s", "tracked", "daemon_cpu_s",
                "daemon_cpu_pct"]
        with open(os.path.join(self.out, "steady_state_archive_%s.csv" % label), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(samples)
        first = next((i for i, s in enumerate(samples) if s["used_memory"] >= threshold), None)
        if first is None:
            raise Failed("used_memory never reached the threshold")
        steady = samples[first:]
        rel = [100.0 * (s["used_memory"] / threshold - 1) for s in steady]
        over = [max(0.0, r) for r in rel]
        mean_rel, mean_over, max_over = statistics.mean(rel), statistics.mean(over), max(rel)
        share = cpu / wall
        span = steady[-1]["t"] - steady[0]["t"]
        rate = (steady[-1]["flushed_total"] - steady[0]["flushed_total"]) / span if span > 0 else 0.0
        res = dict(samples=len(samples), reached_threshold_at_s=samples[first]["t"], mean_used_vs_threshold_pct=mean_rel,
                   mean_overshoot_pct=mean_over, max_overshoot_pct=max_over, daemon_cpu_share=share,
                   flushed_per_s_after_threshold=rate, flushed_total=st["flushed_entries_total"],
                   flush_cycles=st["flush_cycles_total"], final_used_memory=samples[-1]["used_memory"])
        log("s6: archive %s: used_memory vs 32 MiB threshold from %.1f s on: mean %+.1f%%, mean overshoot %.1f%%, "
            "max %+.1f%%; %.0f flushed/s (load %d/s); daemon CPU %.1f%% of a core; %d flushed, %d cycles" % (
                label, samples[first]["t"], mean_rel, mean_over, max_over, rate, load_rate, 100 * share,
                st["flushed_entries_total"], st["flush_cycles_total"]))
        sc_ = "6 steady"
        self.row(sc_, "archive %s: used_memory mean vs threshold" % label, mean_rel, "%", "threshold 32 MiB")
        self.row(sc_, "archive %s: used_memory max overshoot" % label, max_over, "%", "threshold 32 MiB")
        self.row(sc_, "archive %s: flushed entries/s" % label, rate, "entries/s", "load entries/s", load_rate,
                 rate / load_rate)
        self.row(sc_, "archive %s: daemon CPU share" % label, 100 * share, "% core")
        return res

    def plot(self, secs, threshold, load_rate, batch, period):
        png = os.path.join(self.out, "steady_state.png")
        gp = shutil.which("gnuplot")
        if not gp:
            log("s6: no gnuplot; no PNG (script/bootstrap installs gnuplot-nox)")
            return
        panels = []
        for label in ("off", "on"):
            data = os.path.join(self.out, "steady_state_archive_%s.csv" % label)
            if not os.path.exists(data):
                continue
            panels.append("""
set title 'archive = %s'
plot '%s' using 1:($2/1048576) with lines lw 2 title 'used_memory (MiB)', \\
     '' using 1:($3/1048576) with lines dt 2 lc rgb 'red' title 'threshold (MiB)', \\
     '' using 1:5 axes x1y2 with fsteps lc rgb '#2a9d2a' title 'flushed entries/s'
""" % ("no" if label == "off" else "yes", data))
        script = """
set terminal %%s size 1000,%d noenhanced
set output '%s'
set datafile separator ','
set key below horizontal autotitle columnhead
set xlabel 'seconds'
set ylabel 'used_memory (MiB)'
set y2label 'flushed entries/s'
set ytics nomirror
set y2tics
set y2range [0:*]
set yrange [0:*]
set xrange [0:%d]
set grid
set multiplot layout %d,1 title 'gcs-flushd steady state: gcs-loadgen at %d entries/s, threshold %d MiB, %d entries per %g s period'
%s
unset multiplot
""" % (420 * len(panels), png, secs + 1, len(panels), load_rate, threshold // 1048576, batch, period, "".join(panels))
        for term in ("pngcairo", "png"):  # gnuplot-nox has pngcairo; libgd's png otherwise
            r = subprocess.run([gp], input=(script % term).encode(), capture_output=True, timeout=60)
            if r.returncode == 0:
                self.raw["6_steady"]["png"] = png
                return
        log("s6: gnuplot failed: " + r.stderr.decode(errors="replace"))

    # ------------------------------------------------------------------
    def s7_shards(self):
        """One daemon, many small shards, concurrent forced flushes."""
        counts = self.q([1, 8], [1, 8, 32])
        k = self.q(25000, 50000)
        raw = {"entries_per_shard": k, "archive": "no", "flush_max_entries_per_sec": 0, "flush_server_budget": "off", "runs": {}}
        env = self.env
        for ns in counts:
            with env.scope("s7-%d" % ns) as sc:
                servers = [sc.redis("r%d" % i) for i in range(ns)]
                for rs in servers:
                    rs.populate(k, "key")
                d = sc.daemon("d", [("s%d" % i, rs, {}) for i, rs in enumerate(servers)],
                              {"flush_when_at_least_bytes": HUGE, "flush_max_entries_per_sec": 0, "flush_server_budget": "off", "archive": "no"})
                d.wait_ready(timeout=120)
                rss_ready = d.rss()
                c0, t0 = d.cpu(), time.monotonic()
                ps = [env.spawn(d.flush_argv("s%d" % i, k), stdout=subprocess.PIPE) for i in range(ns)]
                reps = []
                for p in ps:
                    out, _ = p.communicate(timeout=300)
                    env.reaped(p)
                    reps.append(json.loads(out))
                wall = time.monotonic() - t0
                cpu = d.cpu() - c0
                flushed = sum(r.get("flushed", 0) for r in reps)
                if flushed != ns * k or not all(r.get("ok") for r in reps):
                    raise Failed("flushed %d of %d: %s" % (flushed, ns * k, [r for r in reps if not r.get("ok")]))
                agg = flushed / wall
                run = dict(shards=ns, flushed=flushed, wall_s=wall, entries_per_s=agg, daemon_cpu_share=cpu / wall,
                           rss_ready=rss_ready, rss_after=d.rss(), vm_hwm=d.hwm(),
                           max_shard_seconds=max(r["seconds"] for r in reps))
                raw["runs"][str(ns)] = run
                log("s7: %2d shards: %.0f entries/s aggregate, daemon CPU %.0f%%, RSS %.1f MiB (peak %.1f)" % (
                    ns, agg, 100 * cpu / wall, run["rss_after"] / 1048576, run["vm_hwm"] / 1048576))
                base = raw["runs"]["1"]["entries_per_s"]
                self.row("7 shards", "%d shards: entries/s" % ns, agg, "entries/s", "1 shard", base, agg / base)
                self.row("7 shards", "%d shards: daemon CPU, RSS" % ns, 100 * cpu / wall, "% core",
                         "RSS %.1f MiB" % (run["vm_hwm"] / 1048576), None, None)
        self.raw["7_shards"] = raw


    # ------------------------------------------------------------------
    def make_certs(self, d):
        """A CA and a server certificate for 127.0.0.1 (P-256), in d."""
        def ossl(*a):
            r = subprocess.run(["openssl"] + list(a), capture_output=True, timeout=30)
            if r.returncode:
                raise Failed("openssl %s: %s" % (a[0], r.stderr.decode(errors="replace")))
        os.makedirs(d)
        p = lambda f: os.path.join(d, f)
        for k in ("ca.key", "server.key"):
            ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(k))
        ossl("req", "-x509", "-new", "-key", p("ca.key"), "-subj", "/CN=gcs-flushd bench CA", "-days", "2",
             "-out", p("ca.crt"))
        ossl("req", "-new", "-key", p("server.key"), "-subj", "/CN=127.0.0.1", "-out", p("server.csr"))
        with open(p("server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        ossl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial",
             "-days", "2", "-extfile", p("server.ext"), "-out", p("server.crt"))
        return p

    def s9_tls(self):
        """Forced flush and tracking over TLS against the same over plain TCP, same server."""
        n = self.q(100000, 500000)
        rounds = self.q(1, 3)
        set_n = self.q(300000, 1000000)
        env = self.env
        raw = {"entries": n, "rounds": rounds, "figure": "best of the rounds, variants interleaved",
               "sets": set_n, "set_args": "-t set -r 100000000 -d 100 -P 16 -c 50 (over the UNIX socket)",
               "compare_build": self.args.compare_build, "results": {}}
        with env.scope("s9") as sc:
            cert = self.make_certs(sc.path("certs"))
            tls_port = free_port()
            rs = sc.redis("r", "--tls-port", str(tls_port), "--tls-cert-file", cert("server.crt"),
                          "--tls-key-file", cert("server.key"), "--tls-ca-cert-file", cert("ca.crt"),
                          "--tls-auth-clients", "no", tcp=True)
            # Unpaced: our build's budget off (a compare build may predate the key).
            variants = [("plain TCP", None, {"address": "127.0.0.1:%d" % rs.port, "flush_server_budget": "off"}),
                        ("TLS", None, {"address": "127.0.0.1:%d" % tls_port, "tls": "yes",
                                       "tls_ca_file": cert("ca.crt"), "flush_server_budget": "off"})]
            if env.compare_flushd:
                variants.append(("plain TCP, compare build", env.compare_flushd,
                                 {"address": "127.0.0.1:%d" % rs.port}))
            res = {}
            for rnd in range(rounds):
                for archive in ("no", "yes"):
                    for label, flushd, shard in variants:
                        rs.r.flushall()  # the tracking runs' keys too
                        rs.populate(n, "key")
                        d = sc.daemon("d-%d-%s-%s" % (rnd, archive, len(res)), [("s", rs, shard)],
                                      {"flush_when_at_least_bytes": HUGE, "flush_max_entries_per_sec": 0,
                                       "archive": archive}, flushd)
                        d.wait_ready(timeout=120)
                        c0, s0 = d.cpu(), proc_cpu(rs.pid)
                        rep = d.flush("s", n)
                        cpu = d.cpu() - c0 + proc_cpu(rs.pid) - s0
                        if rep["flushed"] != n or rs.dbsize():
                            raise Failed("%s: flushed %d of %d" % (label, rep["flushed"], n))
                        res.setdefault(("flush", archive, label), []).append(rep["flushed"] / rep["seconds"])
                        # the work itself (the daemon's and the server's CPU), which other
                        # load on the machine moves far less than the rate
                        res.setdefault(("flush_us", archive, label), []).append(1e6 * cpu / n)
                        d.stop()
                        shutil.rmtree(d.dir)
                for label, flushd, shard in variants:
                    rs.r.flushall()
                    d = sc.daemon("t-%d-%s" % (rnd, len(res)), [("s", rs, shard)],
                                  {"flush_when_at_least_bytes": HUGE}, flushd)
                    d.wait_ready()
                    c0, ev0 = d.cpu(), d.shard("s")["events_total"]
                    rc, out, _ = env.run(["redis-benchmark", "-s", rs.sock, "-t", "set", "-r", "100000000",
                                          "-d", "100", "-P", "16", "-n", str(set_n), "--csv"], 300)
                    if rc:
                        raise Failed("redis-benchmark failed: " + out)
                    res.setdefault(("track", label), []).append(bench_csv(out)["rps"])
                    # what the daemon spends per keyspace event: its own cost, which
                    # the machine's other load moves far less than the SET rate
                    created = rs.dbsize()  # one "new" event each

                    def read_all():
                        e = d.shard("s")["events_total"] - ev0
                        return e if e >= created else 0
                    ev = wait_for("the daemon to read the %d events" % created, 120, read_all)
                    res.setdefault(("track_us", label), []).append(1e6 * (d.cpu() - c0) / ev)
                    res.setdefault(("track_events", label), []).append(ev)
                    d.stop()
                    shutil.rmtree(d.dir)
            raw["results"] = {" / ".join(k): v for k, v in res.items()}
        best = {k: max(v) for k, v in res.items()}
        for archive in ("no", "yes"):
            a = "off" if archive == "no" else "on"
            tcp, tls = best[("flush", archive, "plain TCP")], best[("flush", archive, "TLS")]
            log("s9: flush archive %s: %.0f entries/s over TLS, %.0f over plain TCP (%.2fx)" % (a, tls, tcp, tls / tcp))
            self.row("9 tls", "flush archive %s over TLS" % a, tls, "entries/s", "same, plain TCP", tcp, tls / tcp)
            tcp, tls = (min(res[("flush_us", archive, v)]) for v in ("plain TCP", "TLS"))
            log("s9: flush archive %s: %.2f us of CPU (daemon + server) per entry over TLS, %.2f over plain TCP" % (
                a, tls, tcp))
            self.row("9 tls", "CPU per entry flushed, archive %s, TLS" % a, tls, "us", "same, plain TCP", tcp, tls / tcp)
        tcp, tls = best[("track", "plain TCP")], best[("track", "TLS")]
        log("s9: SET/s -P 16 tracked over TLS %.0f, over plain TCP %.0f (%.2fx)" % (tls, tcp, tls / tcp))
        self.row("9 tls", "SET/s tracked over TLS, -P 16", tls, "SET/s", "same, plain TCP", tcp, tls / tcp)
        tcp, tls = (min(res[("track_us", v)]) for v in ("plain TCP", "TLS"))
        log("s9: daemon CPU per keyspace event: %.3f us over TLS, %.3f over plain TCP" % (tls, tcp))
        self.row("9 tls", "daemon CPU per event over TLS", tls, "us", "same, plain TCP", tcp, tls / tcp)
        if env.compare_flushd:
            other = "compare build"
            for archive in ("no", "yes"):
                a = "off" if archive == "no" else "on"
                new, old = best[("flush", archive, "plain TCP")], best[("flush", archive, "plain TCP, " + other)]
                self.row("9 tls", "flush archive %s, plain TCP" % a, new, "entries/s", other, old, new / old)
                new, old = (min(res[("flush_us", archive, v)]) for v in ("plain TCP", "plain TCP, " + other))
                self.row("9 tls", "CPU per entry flushed, archive %s, TCP" % a, new, "us", other, old, new / old)
            new, old = best[("track", "plain TCP")], best[("track", "plain TCP, " + other)]
            log("s9: SET/s -P 16 tracked over plain TCP: %.0f, compare build %.0f (%.2fx)" % (new, old, new / old))
            self.row("9 tls", "SET/s tracked over plain TCP, -P 16", new, "SET/s", other, old, new / old)
            new, old = (min(res[("track_us", v)]) for v in ("plain TCP", "plain TCP, " + other))
            log("s9: daemon CPU per keyspace event over plain TCP: %.3f us, compare build %.3f" % (new, old))
            self.row("9 tls", "daemon CPU per event, plain TCP", new, "us", other, old, new / old)
        self.raw["9_tls"] = raw

    def s8_cluster(self):
        """A forced flush across a 3-master Redis Cluster against three standalone servers."""
        k = self.q(20000, 100000)
        raw = {"entries_per_master": k, "archive": "no", "flush_max_entries_per_sec": 0, "flush_server_budget": "off"}
        policy = {"flush_when_at_least_bytes": HUGE, "flush_max_entries_per_sec": 0, "flush_server_budget": "off", "archive": "no"}
        env = self.env
        with env.scope("s8-standalone") as sc:
            servers = [sc.redis("r%d" % i) for i in range(3)]
            for rs in servers:
                rs.populate(k, "key")
            d = sc.daemon("d", [("s%d" % i, rs, {}) for i, rs in enumerate(servers)], policy)
            d.wait_ready(timeout=120)
            t0 = time.monotonic()
            ps = [env.spawn(d.flush_argv("s%d" % i, k), stdout=subprocess.PIPE) for i in range(3)]
            flushed = 0
            for p in ps:
                out, _ = p.communicate(timeout=300)
                env.reaped(p)
                flushed += json.loads(out).get("flushed", 0)
            base = flushed / (time.monotonic() - t0)
        with env.scope("s8-cluster") as sc:
            ports = cluster_start(env, sc, 3)
            rc = redis.cluster.RedisCluster(host="127.0.0.1", port=ports[0])
            pipe = rc.pipeline()
            for i in range(3 * k):
                pipe.set("key:%d" % i, "x" * 20)
                if i % 5000 == 4999:
                    pipe.execute()
            pipe.execute()
            d = sc.daemon("d", [], policy, extra_lines=["", "[shard:c]", "cluster = 127.0.0.1:%d" % ports[0]])
            d.wait_ready(timeout=120)
            d.wait_tracked("c", 3 * k)
            t0 = time.monotonic()
            reply = d.flush("c", 3 * k)
            wall = time.monotonic() - t0
            if reply.get("flushed") != 3 * k:
                raise Failed("cluster flush: %s" % reply)
            rate = reply["flushed"] / wall
            limit = self.cluster_unlink_limit(sc, rc, ports, 3 * k)
        raw.update(standalone_entries_per_s=base, cluster_entries_per_s=rate, cluster_unlink_limit=limit)
        log("s8: cluster %.0f entries/s, three standalone %.0f entries/s (%.2fx), the cluster's single-key "
            "UNLINK limit %.0f/s (%.2fx)" % (rate, base, rate / base, limit, rate / limit))
        self.row("8 cluster", "forced flush, 3 masters: entries/s", rate, "entries/s", "3 standalone servers",
                 base, rate / base, ">= 0.8x", rate / base >= 0.8)
        self.row("8 cluster", "the same", rate, "entries/s", "the cluster's one-key UNLINK limit", limit,
                 rate / limit)
        self.raw["8_cluster"] = raw

    def cluster_unlink_limit(self, sc, rc, ports, n):
        """The cluster's limit for the work a flush must do there: one UNLINK
        per key (no command may cross a slot, and the oldest keys are about
        one a slot), pre-built and piped into every master at once."""
        pipe = rc.pipeline()
        for i in range(n):
            pipe.set("key:%d" % i, "x" * 20)
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        files = {}
        for p in ports:
            files[p] = open(sc.path("unlink-%d.resp" % p), "wb")
        for i in range(n):
            key = b"key:%d" % i
            node = rc.get_node_from_key(key)
            files[node.port].write(b"*2\r\n$6\r\nUNLINK\r\n$%d\r\n%s\r\n" % (len(key), key))
        for f in files.values():
            f.close()
        t0 = time.monotonic()
        ps = [self.env.spawn(["redis-cli", "-p", str(p), "--pipe"], stdin=open(sc.path("unlink-%d.resp" % p), "rb"))
              for p in ports]
        for p in ps:
            self.env.wait(p, 300)
        return n / (time.monotonic() - t0)

    # ------------------------------------------------------------------
    def s10_hold(self):
        """Hold mode vs batch mode vs Redis's maxmemory + allkeys-lru: used_memory held at the threshold."""
        from hold import HoldBench  # bench/hold.py
        HoldBench(self, Failed, wait_for, log).run()

    # ------------------------------------------------------------------
    def s11_slowdisk(self):
        """The loop never blocks: status latency and another shard's flush rate while one shard's archive fdatasync takes 20 ms."""
        env = self.env
        shim = os.path.join(env.build, "tests", "slowsync.so")
        if not os.path.exists(shim):
            rc, out, _ = env.run(["make", "-C", env.build, "tests/slowsync.so"], 120)
            if rc:
                raise Failed("cannot build the slow-disk shim: " + out)
        rounds = self.q(1, 3)
        a_keys, b_keys, probes = 40000, self.q(60000, 100000), 300
        raw = {"rounds": rounds, "a": "forced flush, archive on, 5000 entries/s cap, no budget",
               "b": "forced unpaced flush, archive on", "status_requests": probes, "results": []}

        def status_latency(sock, n):
            rc, out, _ = env.run([sys.executable, os.path.join(TOP, "tests", "status-latency.py"), sock, str(n)],
                                 120)
            if rc:
                raise Failed("status-latency.py: " + out)
            p99, p50 = out.split()
            return float(p99), float(p50)

        with env.scope("s11") as sc:
            ra, rb = sc.redis("a"), sc.redis("b")
            for rnd in range(rounds):
                for mode, match in (("fast", "/no/such/path/"), ("slow", "/archive/a/")):
                    ra.r.flushall()
                    rb.r.flushall()
                    ra.populate(a_keys, "k")
                    rb.populate(b_keys, "k")
                    denv = dict(os.environ, LD_PRELOAD=shim, GCS_SLOW_SYNC_MATCH=match, GCS_SLOW_SYNC_MS="20")
                    d = sc.daemon("d%d%s" % (rnd, mode),
                                  [("a", ra, {"flush_max_entries_per_sec": 5000, "flush_server_budget": "off"}),
                                   ("b", rb, {"flush_server_budget": "off"})],
                                  {"flush_when_at_least_bytes": HUGE}, env=denv)
                    d.wait_ready(timeout=120)
                    d.wait_tracked("a", a_keys)
                    d.wait_tracked("b", b_keys)
                    pa = env.spawn(d.flush_argv("a", a_keys), stdout=subprocess.PIPE)
                    wait_for("a's flush to start", 10, lambda: d.shard("a")["flushing"])
                    out = {}
                    th = threading.Thread(target=lambda: out.update(lat=status_latency(d.ctl_sock, probes)))
                    th.start()
                    rep = d.flush("b", b_keys)
                    th.join()
                    covered = d.shard("a")["flushing"]
                    d.request("pause a")
                    pa.communicate(timeout=60)
                    env.reaped(pa)
                    syncs = d.shard("a")["archive_syncs_total"]
                    d.stop()
                    shutil.rmtree(d.dir)
                    res = dict(round=rnd, disk=mode, status_p99_ms=out["lat"][0], status_p50_ms=out["lat"][1],
                               b_entries_per_s=rep["flushed"] / rep["seconds"], a_syncs=syncs,
                               a_flushing_throughout=covered)
                    raw["results"].append(res)
                    log("s11: round %d, %s disk: status p99 %.2f ms (p50 %.2f), b %.0f entries/s, a %d syncs%s" % (
                        rnd, mode, res["status_p99_ms"], res["status_p50_ms"], res["b_entries_per_s"], syncs,
                        "" if covered else " (a's flush ended early)"))

        def med(mode, k):
            return statistics.median(r[k] for r in raw["results"] if r["disk"] == mode)
        fp, sp = med("fast", "status_p99_ms"), med("slow", "status_p99_ms")
        fr, sr = med("fast", "b_entries_per_s"), med("slow", "b_entries_per_s")
        self.row("11 slow disk", "status p99, a's fdatasync +20 ms", sp, "ms", "fast disk", fp, sp / fp, "<= 2",
                 sp / fp <= 2)
        self.row("11 slow disk", "shard b flush rate, a's fdatasync +20 ms", sr, "entries/s", "fast disk", fr,
                 sr / fr, ">= 0.9", sr / fr >= 0.9)
        self.raw["11_slowdisk"] = raw

    # ------------------------------------------------------------------
    def run(self):
        scenarios = [("1", self.s1_throughput), ("2", self.s2_latency), ("3", self.s3_tracking),
                     ("4", self.s4_memory), ("5", self.s5_ordering), ("6", self.s6_steady), ("7", self.s7_shards),
                     ("8", self.s8_cluster), ("9", self.s9_tls), ("10", self.s10_hold),
                     ("11", self.s11_slowdisk)]
        only = set(self.args.only.split(",")) if self.args.only else None
        failed = []
        t_all = time.monotonic()
        for key, fn in scenarios:
            if only and key not in only:
                continue
            t0 = time.monotonic()
            log("scenario %s: %s" % (key, fn.__doc__.strip()))
            try:
                fn()
            except Failed as e:
                log("scenario %s FAILED: %s" % (key, e))
                failed.append(key)
                self.row("%s" % key, "FAILED: %s" % e, None, "")
            self.timings[key] = round(time.monotonic() - t0, 1)
        self.timings["total"] = round(time.monotonic() - t_all, 1)
        self.report()
        return 1 if failed else 0

    def machine(self):
        def sh(cmd):
            try:
                return subprocess.run(cmd, shell=True, capture_output=True, timeout=10).stdout.decode().strip()
            except Exception:
                return None
        return {"cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"), "cores": os.cpu_count(),
                "mem": sh("grep MemTotal /proc/meminfo"), "kernel": os.uname().release,
                "os": sh(". /etc/os-release && echo $PRETTY_NAME"), "redis": sh("redis-server --version"),
                "commit": sh("git -C '%s' rev-parse --short HEAD" % TOP),
                "dirty": bool(sh("git -C '%s' status --porcelain -- src tools" % TOP)),
                "tmp_fs": sh("df -T '%s' | tail -1" % self.args.tmp),
                "load_before": open("/proc/loadavg").read().split()[:3]}

    def report(self):
        def fmt(v):
            if v is None:
                return "-"
            if isinstance(v, bool):
                return "yes" if v else "NO"
            if isinstance(v, str):
                return v
            if abs(v) >= 1000:
                return "%.0f" % v
            if abs(v) >= 10:
                return "%.1f" % v
            return "%.3g" % v
        head = ["scenario", "figure", "value", "unit", "baseline", "baseline value", "ratio", "target", "holds"]
        keys = ["scenario", "figure", "value", "unit", "baseline", "baseline_value", "ratio", "target", "holds"]
        table = [head] + [[fmt(r[k]) for k in keys] for r in self.rows]
        for r, row in zip(self.rows, table[1:]):
            if r["ratio"] is not None:
                row[6] = "%.2f" % r["ratio"]
        widths = [max(len(t[i]) for t in table) for i in range(len(head))]
        lines = []
        for j, t in enumerate(table):
            lines.append("  ".join(c.ljust(w) if i in (0, 1, 3, 4, 7) else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(t, widths))).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        text = "\n".join(lines)
        mode = "quick" if self.quick else "full"
        print("\ngcs-flushd benchmarks (%s run; %s)\n" % (mode, ", ".join(("%s %ss" if k == "total" else "s%s %ss") % (k, v) for k, v in self.timings.items())))
        print(text)
        with open(os.path.join(self.out, "table.txt"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(self.out, "results.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump({"mode": mode, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": self.mach,
                       "timings_s": self.timings, "table": self.rows, "raw": self.raw}, f, indent=1)
        print("\nbench: raw numbers in %s/results.{csv,json}, steady state in %s/steady_state_archive_{off,on}.csv and "
              "steady_state.png, other clients' p99 over a flush in s2_timeline_*.csv and s2_timeline.png, hold mode in "
              "hold_*.csv, hold_steady.png and hold_changing.png" % (self.out, self.out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="comma-separated scenario numbers (for development)")
    ap.add_argument("--compare-build", help="another build directory whose daemon scenario 8 runs too (before/after)")
    ap.add_argument("--s2-budgets", help="scenario 2 with each of these flush_server_budget values (e.g. 5%%,10%%,25%%)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def term(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, term)
    suite = Suite(args)
    suite.mach = suite.machine()
    try:
        rc = suite.run()
    finally:
        suite.env.stop_all()
    sys.exit(rc)


if __name__ == "__main__":
    main()
