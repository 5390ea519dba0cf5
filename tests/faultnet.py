#!/usr/bin/python3
"""faultnet.py: network faults on 127.0.0.1 for faults.bats.

  faultnet.py proxy PORTFILE UPSTREAM_SOCKET CTLDIR SECS
      A TCP proxy on 127.0.0.1 (its port written to PORTFILE) in front of
      a redis on a UNIX socket.  It parses the client's RESP commands, and
      reads what to do from files in CTLDIR, each time it needs to:
        delay       seconds by which every reply is held back (slow redis)
        cut         "after N" or "before N": cut the connection that carries
                    the compare-and-delete script (an EVAL/EVALSHA with one
                    40-hex argument per key), on every Nth such command:
                    after forwarding it (the delete runs, its reply is lost)
                    or before (it never reaches redis)
        cuts_max    how many cuts at most (default 3)
        rewrite     if present, right after a cut, SET the chunk's first key
                    to a new value, as an application writing meanwhile
      and appends to CTLDIR/log one line per event: "cad N", "cut N KEY",
      "rewrite KEY HEXDUMP".
  faultnet.py dns PORTFILE MODEFILE SECS
      A DNS server on 127.0.0.1/udp.  MODEFILE, read at every query, says
      how it answers: "nxdomain" (the name does not exist), "silent" (no
      answer at all) or "resolve" (A 127.0.0.1, and no AAAA).
  faultnet.py blackhole PORTFILE SECS
      A TCP listener whose accept queue is full: a connect to it never
      completes (the kernel drops the SYNs).

Each stops by itself after SECS seconds; faults.bats also kills it by PID.
"""
import asyncio
import os
import socket
import sys
import time

import resp


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def read_ctl(ctldir, name, default=None):
    try:
        with open(os.path.join(ctldir, name)) as f:
            return f.read().strip()
    except OSError:
        return default


def log(ctldir, line):
    with open(os.path.join(ctldir, "log"), "a") as f:
        f.write(line + "\n")


class RespParser:
    """Splits a client's byte stream into commands (lists of bulk strings)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            got = self._one()
            if got is None:
                return out
            out.append(got)

    def _one(self):
        """The next whole command and its bytes, or None for now."""
        try:
            args, end = resp.parse_command(self.buf)
        except resp.Incomplete:
            return None
        raw, self.buf = self.buf[:end], self.buf[end:]
        return (args, raw)


def is_cad(args):
    """The compare-and-delete: numkeys keys, then one value per key (the
    archived payload or its SHA-1); the DUMP script has keys only."""
    if len(args) < 5 or args[0].upper() not in (b"EVAL", b"EVALSHA"):
        return False
    try:
        n = int(args[2])
    except ValueError:
        return False
    return n > 0 and len(args) == 3 + 2 * n


class Proxy:
    def __init__(self, upstream, ctldir):
        self.upstream = upstream
        self.ctldir = ctldir
        self.cads = 0
        self.cuts = 0

    async def rewrite(self, key):
        r, w = await asyncio.open_unix_connection(self.upstream)
        val = b"rewritten-after-cut-%d" % time.time_ns()
        cmds = [[b"SET", key, val], [b"DUMP", key]]
        for c in cmds:
            w.write(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c))
        await w.drain()
        await r.readline()			# +OK
        hdr = await r.readline()		# $len
        dump = await r.readexactly(int(hdr[1:]) + 2)
        w.close()
        log(self.ctldir, "rewrite %s %s" % (key.decode(), dump[:-2].hex()))

    async def handle(self, cr, cw):
        try:
            ur, uw = await asyncio.open_unix_connection(self.upstream)
        except OSError:
            cw.close()
            return
        state = {"frozen": False, "closed": False}

        def close():
            state["closed"] = True
            cw.close()
            uw.close()

        async def replies():
            # Upstream to client, each piece held back by the current delay.
            q = asyncio.Queue()

            async def sender():
                while True:
                    due, data = await q.get()
                    if data is None:
                        return
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if state["frozen"] or state["closed"]:
                        continue
                    cw.write(data)
                    try:
                        await cw.drain()
                    except OSError:
                        return

            task = asyncio.ensure_future(sender())
            try:
                while True:
                    data = await ur.read(65536)
                    if not data:
                        break
                    delay = float(read_ctl(self.ctldir, "delay", "0") or 0)
                    await q.put((time.monotonic() + delay, data))
            except OSError:
                pass
            await q.put((0, None))
            await task
            if not state["frozen"]:
                close()

        rtask = asyncio.ensure_future(replies())
        parser = RespParser()
        try:
            while not state["closed"]:
                data = await cr.read(65536)
                if not data:
                    break
                for args, raw in parser.feed(data):
                    cut = self.cut_now(args)
                    if cut == "before":
                        await self.do_cut(state, close, args)
                        break
                    uw.write(raw)
                    await uw.drain()
                    if cut == "after":
                        await self.do_cut(state, close, args)
                        break
                if state["closed"]:
                    break
        except OSError:
            pass
        close()
        await rtask

    def cut_now(self, args):
        if not is_cad(args):
            return None
        self.cads += 1
        log(self.ctldir, "cad %d" % self.cads)
        spec = (read_ctl(self.ctldir, "cut", "") or "").split()
        cuts_max = int(read_ctl(self.ctldir, "cuts_max", "3") or 3)
        if len(spec) != 2 or self.cuts >= cuts_max or self.cads % int(spec[1]) != 0:
            return None
        return spec[0]

    async def do_cut(self, state, close, args):
        # The partition: nothing more reaches the client, whatever redis
        # answers; give the forwarded command time to run, then drop both.
        state["frozen"] = True
        self.cuts += 1
        key = args[3]
        await asyncio.sleep(0.3)
        close()
        log(self.ctldir, "cut %d %s" % (self.cads, key.decode(errors="replace")))
        if read_ctl(self.ctldir, "rewrite") is not None:
            await self.rewrite(key)


async def run_proxy(portfile, upstream, ctldir, secs):
    p = Proxy(upstream, ctldir)
    srv = await asyncio.start_server(p.handle, "127.0.0.1", 0)
    write_port(portfile, srv.sockets[0].getsockname()[1])
    await asyncio.sleep(secs)


def dns_answer(query, mode):
    """The reply to a one-question query: same id and question, QR, RD as
    asked, RA; NXDOMAIN, or an A record for 127.0.0.1 (AAAA: no data)."""
    if len(query) < 12:
        return None
    qend = 12
    while qend < len(query) and query[qend] != 0:
        qend += 1 + query[qend]
    qend += 5				# the root label, QTYPE, QCLASS
    if qend > len(query):
        return None
    qtype = int.from_bytes(query[qend - 4:qend - 2], "big")
    rcode = 3 if mode == "nxdomain" else 0
    answer = b""
    if mode == "resolve" and qtype == 1:
        # A name pointer to the question, A, IN, a TTL of 1 s, 127.0.0.1.
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x7f\x00\x00\x01"
    flags = 0x8000 | (query[2] & 0x01) << 8 | 0x0080 | rcode
    return (query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + (b"\x00\x01" if answer else b"\x00\x00")
            + b"\0\0\0\0" + query[12:qend] + answer)


def run_dns(portfile, modefile, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    write_port(portfile, s.getsockname()[1])
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            q, peer = s.recvfrom(4096)
        except socket.timeout:
            break
        try:
            with open(modefile) as f:
                mode = f.read().strip()
        except OSError:
            mode = "silent"
        a = dns_answer(q, mode)
        if mode != "silent" and a is not None:
            s.sendto(a, peer)


def run_blackhole(portfile, secs):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    # Fill the accept queue: connects complete until it is full; the first
    # one that does not is the proof.
    held = []
    for _ in range(16):
        c = socket.socket()
        c.settimeout(0.3)
        try:
            c.connect(("127.0.0.1", port))
            held.append(c)
        except socket.timeout:
            c.close()
            break
    else:
        sys.exit("blackhole: the accept queue never filled")
    write_port(portfile, port)
    time.sleep(secs)


def main():
    cmd = sys.argv[1]
    if cmd == "proxy":
        asyncio.run(run_proxy(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
    elif cmd == "dns":
        run_dns(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "blackhole":
        run_blackhole(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
