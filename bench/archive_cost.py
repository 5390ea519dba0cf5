#!/usr/bin/python3
"""bench/archive_cost.py: what each way of archiving-then-deleting costs the
server, as redis-server's own CPU time per key (issue 13, part 2).

usage: bench/archive_cost.py [N] [ROUNDS]     (default 200000 keys, 2 rounds)

Starts its own redis-server on a UNIX socket in a temporary directory (port
0, never the system's), with keyspace notifications on (Egxen) and one
`redis-cli subscribe` reading the events, as the daemon has.  For each
variant it DEBUG POPULATEs N keys (20-byte strings), sends pre-built
commands through `redis-cli --pipe`, and reads the server's utime+stime
from /proc: the smallest of ROUNDS rounds, in microseconds per key.  In the
"lagged" variants a chunk's delete goes 16 chunks after its DUMPs, as the
daemon's chunks wait for the group commit; the WATCH variants send MULTI/
UNLINK/EXEC right after the DUMPs (their best case).  Stops what it started
by PID, and removes the directory.  Needs /usr/bin/python3 with redis-py.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import redis

DUMP_SCRIPT = """local r = {}
for i, k in ipairs(KEYS) do
  r[2 * i - 1] = redis.call('DUMP', k)
  r[2 * i] = redis.call('PTTL', k)
end
return r
"""
CAD_OLD = """local r = {}
for i, k in ipairs(KEYS) do
  local d = redis.call('DUMP', k)
  local a = ARGV[i]
  if not d then
    r[i] = 0
  elseif d == a or (#a == 40 and redis.sha1hex(d) == a) then
    redis.call('UNLINK', k)
    r[i] = 1
  else
    r[i] = -1
  end
end
return r
"""
CAD_NEW = """local r, del, seen = {}, {}, {}
for i, k in ipairs(KEYS) do
  local d = not seen[k] and redis.call('DUMP', k)
  local a = ARGV[i]
  seen[k] = true
  if not d then
    r[i] = 0
  elseif d == a or (#a == 40 and redis.sha1hex(d) == a) then
    del[#del + 1] = k
    r[i] = 1
  else
    r[i] = -1
  end
end
if #del > 0 then redis.call('UNLINK', unpack(del)) end
return r
"""
LAG = 16


def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    tmp = tempfile.mkdtemp(prefix="archive-cost.")
    sock = os.path.join(tmp, "redis.sock")
    procs = []
    try:
        srv = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                                "--appendonly", "no", "--dir", tmp, "--enable-debug-command", "local"],
                               stdout=subprocess.DEVNULL)
        procs.append(srv)
        r = redis.Redis(unix_socket_path=sock, socket_timeout=120)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        r.config_set("notify-keyspace-events", "Egxen")
        procs.append(subprocess.Popen(["redis-cli", "-s", sock, "subscribe"] +
                                      ["__keyevent@0__:" + e for e in ("new", "del", "expired", "evicted")],
                                      stdout=subprocess.DEVNULL))
        time.sleep(0.3)
        sha = {s: r.script_load(s) for s in (DUMP_SCRIPT, CAD_OLD, CAD_NEW)}
        keys = [b"key:%d" % i for i in range(n)]
        r.execute_command("DEBUG", "POPULATE", n, "key", 20)
        p = r.pipeline(transaction=False)
        for k in keys:
            p.dump(k)
        payload = dict(zip(keys, p.execute()))

        def cpu():
            f = open("/proc/%d/stat" % srv.pid).read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        def dumps(ks, script):
            if script:
                return cmd("EVALSHA", sha[DUMP_SCRIPT], str(len(ks)), *ks)
            return b"".join(cmd("DUMP", k) + cmd("PTTL", k) for k in ks)

        def delete(ks, how):
            if how == "unlink":
                return cmd("UNLINK", *ks)
            return cmd("EVALSHA", sha[how], str(len(ks)), *ks, *[payload[k] for k in ks])

        def lagged(script, how, c):
            chunks = [keys[s:s + c] for s in range(0, n, c)]
            out = []
            for i in range(len(chunks) + LAG):
                if i < len(chunks):
                    out.append(dumps(chunks[i], script))
                if 0 <= i - LAG < len(chunks):
                    out.append(delete(chunks[i - LAG], how))
            return b"".join(out)

        def watched(c):
            out = []
            for s in range(0, n, c):
                ks = keys[s:s + c]
                out.append(cmd("WATCH", *ks) + dumps(ks, False) + cmd("MULTI") + cmd("UNLINK", *ks) + cmd("EXEC"))
            return b"".join(out)

        variants = [
            ("baseline: DUMP, PTTL, UNLINK a key", lambda: b"".join(
                cmd("DUMP", k) + cmd("PTTL", k) + cmd("UNLINK", k) for k in keys)),
            ("lagged: plain DUMP+PTTL, plain UNLINK (no check)", lambda: lagged(False, "unlink", 200)),
            ("lagged: DUMP script, former compare-and-delete", lambda: lagged(True, CAD_OLD, 200)),
            ("lagged: plain DUMP+PTTL, former compare-and-delete", lambda: lagged(False, CAD_OLD, 200)),
            ("lagged: plain DUMP+PTTL, compare-and-delete, one UNLINK", lambda: lagged(False, CAD_NEW, 200)),
            ("WATCH 50, DUMP+PTTL, MULTI/UNLINK/EXEC at once", lambda: watched(50)),
            ("WATCH 100, DUMP+PTTL, MULTI/UNLINK/EXEC at once", lambda: watched(100)),
            ("WATCH 200, DUMP+PTTL, MULTI/UNLINK/EXEC at once", lambda: watched(200)),
        ]
        path = os.path.join(tmp, "cmds.resp")
        for name, build in variants:
            with open(path, "wb") as f:
                f.write(build())
            best = None
            for _ in range(rounds):
                r.flushall()
                r.execute_command("DEBUG", "POPULATE", n, "key", 20)
                c0 = cpu()
                with open(path, "rb") as f:
                    out = subprocess.run(["redis-cli", "-s", sock, "--pipe"], stdin=f, capture_output=True,
                                         timeout=300).stdout.decode()
                used = cpu() - c0
                if "errors: 0" not in out or r.dbsize() != 0:
                    sys.exit("%s: %s (%d keys left)" % (name, out.strip(), r.dbsize()))
                best = used if best is None else min(best, used)
            print("%-58s %5.2f us/key" % (name, best / n * 1e6), flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
