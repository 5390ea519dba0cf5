#!/usr/bin/python3
"""fake-redis.py: a small RESP server that answers like Redis until told
to answer wrongly, for tests of replies gcs-flushd does not expect.

usage: fake-redis.py SOCKET_PATH

It listens on a UNIX socket and speaks enough RESP2 for gcs-flushd: the
handshake (PING, AUTH, SELECT, CONFIG GET/SET), SUBSCRIBE (keyspace
events), SCAN, OBJECT IDLETIME, INFO, HGETALL, and the flush (UNLINK, and
DUMP, PTTL, and EVAL/EVALSHA of the compare-and-delete script: EVALSHA
always answers NOSCRIPT, so the body shows which script it is).  Keys live
in a dict; the payloads it "DUMPs" are the values themselves.

Commands for the test (any client, e.g. redis-cli -s SOCKET):
  FAKE.MODE CMD NAME   answer CMD (INFO, HGETALL, CONFIG, SCAN, UNLINK,
                       DUMP, PTTL, CAD, OBJECT, PING) with the wrong reply NAME
                       from WRONG below; NAME "normal" undoes it
  FAKE.SET KEY...      creates keys and sends "new" events to subscribers
  FAKE.SETQUIET KEY... creates keys without events
  FAKE.PUSH NAME       sends the odd pub/sub message NAME (see PUSH) to
                       every subscriber
  FAKE.EXTRA N         sends N replies to no command on every connection
                       that is not subscribed
  FAKE.COUNT CMD       how many times CMD arrived
  FAKE.KEYS            how many keys exist
  FAKE.USED N          the used_memory INFO reports

Every wait is bounded: a connection idle for 120 s is closed, and the
server exits when its parent (the bats test) is gone.
"""
import asyncio
import os
import sys

IDLE_SECS = 120
HUGE_INFO_BYTES = 4 << 20


def bulk(b):
    if b is None:
        return b"$-1\r\n"
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def arr(items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(n):
    return b":%d\r\n" % n


def err(msg):
    return b"-" + msg + b"\r\n"


def info_text(used, extra=b""):
    return (b"# Memory\r\n" + extra + b"used_memory:%d\r\nused_memory_human:1M\r\n"
            b"maxmemory:0\r\n" % used)


# Wrong replies, by name: each a function of the server state.
WRONG = {
    "error": lambda st: err(b"ERR fake failure with \"quotes\", a \\backslash\nand a newline"),
    "int": lambda st: integer(42),
    "nil": lambda st: b"$-1\r\n",
    "nilarray": lambda st: b"*-1\r\n",
    "status": lambda st: b"+OK\r\n",
    "string": lambda st: bulk(b"just a string \xff\x00 with bytes"),
    "array": lambda st: arr([bulk(b"a"), integer(1), arr([bulk(b"nested")])]),
    "emptyarray": lambda st: b"*0\r\n",
    "nested": lambda st: arr([arr([bulk(b"x"), bulk(b"y")]), arr([])]),
    # INFO variants.
    "huge": lambda st: bulk(info_text(st.used, b"".join(
        b"filler_%07d:%s\r\n" % (i, b"z" * 100) for i in range(HUGE_INFO_BYTES // 116)))),
    "nofield": lambda st: bulk(b"# Memory\r\nused_memory_rss:123\r\nmaxmemory:0\r\n"),
    "garbage": lambda st: bulk(b"# Memory\r\nused_memory:12abc\r\n"),
    "overflow": lambda st: bulk(b"# Memory\r\nused_memory:99999999999999999999999999\r\n"),
    "nul": lambda st: bulk(b"# Memory\r\n\x00used_memory:7\r\n"),
    "minus": lambda st: bulk(b"# Memory\r\nused_memory:-5\r\n"),
    # HGETALL variants.
    "odd": lambda st: arr([bulk(b"flush_num_entries_each_time"), bulk(b"9"), bulk(b"flush_period_secs")]),
    "intfields": lambda st: arr([integer(1), integer(2), bulk(b"flush_num_entries_each_time"), integer(5)]),
    # SCAN variants.
    "badcursor": lambda st: arr([integer(7), arr([])]),
    "nokeys": lambda st: arr([bulk(b"0"), bulk(b"not an array")]),
    "oddkeys": lambda st: arr([bulk(b"0"), arr([integer(5), b"$-1\r\n", arr([]), bulk(b"scan:odd")])]),
    # Script and UNLINK variants: counts of the wrong length, odd elements.
    "short": lambda st: arr([integer(1)]),
    "negative": lambda st: integer(-5),
    "huge_count": lambda st: integer(1 << 40),
}

# Odd messages for subscribers.
PUSH = {
    "int": integer(7),
    "short": arr([bulk(b"message"), bulk(b"__keyevent@0__:new")]),
    "intkey": arr([bulk(b"message"), bulk(b"__keyevent@0__:new"), integer(5)]),
    "nochannel": arr([bulk(b"message"), bulk(b"nocolon"), bulk(b"k")]),
    "unknown": arr([bulk(b"pmessage"), bulk(b"x"), bulk(b"y"), bulk(b"z")]),
    "intkind": arr([integer(1), bulk(b"x"), bulk(b"y")]),
    "nested": arr([arr([]), arr([]), arr([])]),
    "empty": b"*0\r\n",
    "one": arr([bulk(b"message")]),
    "two": arr([bulk(b"message"), bulk(b"__keyevent@0__:new")]),
    "status": arr([b"+message\r\n", bulk(b"__keyevent@0__:new"), bulk(b"k")]),
    "unsubscribe": arr([bulk(b"unsubscribe"), bulk(b"__keyevent@0__:new")]),
    "unsubscribe_str": arr([bulk(b"unsubscribe"), bulk(b"__keyevent@0__:new"), bulk(b"x")]),
    "deep": arr([arr([arr([arr([integer(1)])]), bulk(b"x")]), arr([bulk(b"y")]), bulk(b"z")]),
    "error": err(b"ERR pushed\nerror"),
}


class State:
    def __init__(self):
        self.keys = {}
        self.modes = {}
        self.counts = {}
        self.used = 1000000
        self.notify = b""
        self.subscribers = set()
        self.conns = set()


async def read_command(reader):
    line = await reader.readuntil(b"\r\n")
    if not line.startswith(b"*"):
        return line.strip().split()
    n = int(line[1:-2])
    args = []
    for _ in range(n):
        hdr = await reader.readuntil(b"\r\n")
        ln = int(hdr[1:-2])
        data = await reader.readexactly(ln + 2)
        args.append(data[:-2])
    return args


def script_reply(st, args, which):
    nkeys = int(args[2])
    keys = args[3:3 + nkeys]
    mode = st.modes.get(which)
    if mode == "oddelems":
        # The right number of elements, none of the right type.
        return arr([bulk(b"1")] * len(keys))
    if mode is not None:
        return WRONG[mode](st)
    out = []
    for k in keys:
        if k in st.keys:
            del st.keys[k]
            out.append(integer(1))
        else:
            out.append(integer(0))
    return arr(out)


def publish(st, kind, key):
    msg = arr([bulk(b"message"), bulk(b"__keyevent@0__:" + kind), bulk(key)])
    for w in list(st.subscribers):
        w.write(msg)


def answer(st, args, writer):
    """The reply to one command, or None for none at all."""
    cmd = args[0].upper().decode("latin-1")
    st.counts[cmd] = st.counts.get(cmd, 0) + 1
    if cmd.startswith("FAKE."):
        return fake_command(st, cmd, args, writer)
    name = {"EVAL": "SCRIPT", "EVALSHA": "SCRIPT", "CONFIG": "CONFIG"}.get(cmd, cmd)
    if name == "SCRIPT":
        if cmd == "EVALSHA":
            return err(b"NOSCRIPT No matching script. Please use EVAL.")
        return script_reply(st, args, "CAD")
    mode = st.modes.get(name)
    if mode == "silent":
        return None
    if mode == "close":
        writer.close()
        return None
    if mode is not None:
        return WRONG[mode](st)
    if cmd == "ROLE":
        return arr([bulk("master"), integer(0), arr([])])
    if cmd == "PING":
        return b"+PONG\r\n"
    if cmd in ("AUTH", "SELECT"):
        return b"+OK\r\n"
    if cmd == "CONFIG":
        if args[1].upper() == b"GET":
            return arr([bulk(b"notify-keyspace-events"), bulk(st.notify)])
        st.notify = args[3]
        return b"+OK\r\n"
    if cmd == "SUBSCRIBE":
        st.subscribers.add(writer)
        return b"".join(arr([bulk(b"subscribe"), bulk(ch), integer(i + 1)])
                        for i, ch in enumerate(args[1:]))
    if cmd == "SCAN":
        return arr([bulk(b"0"), arr([bulk(k) for k in st.keys])])
    if cmd == "OBJECT":
        return integer(5)
    if cmd == "INFO":
        return bulk(info_text(st.used))
    if cmd == "HGETALL":
        return b"*0\r\n"
    if cmd == "DUMP":
        return bulk(st.keys.get(args[1]))
    if cmd == "PTTL":
        return integer(-1 if args[1] in st.keys else -2)
    if cmd == "UNLINK":
        n = 0
        for k in args[1:]:
            if st.keys.pop(k, None) is not None:
                n += 1
        return integer(n)
    return err(b"ERR unknown command '" + args[0][:40] + b"'")


def fake_command(st, cmd, args, writer):
    if cmd == "FAKE.MODE":
        which, mode = args[1].upper().decode(), args[2].decode()
        if mode == "normal":
            st.modes.pop(which, None)
        elif mode in WRONG or mode in ("silent", "close", "oddelems"):
            st.modes[which] = mode
        else:
            return err(b"ERR no such mode")
        return b"+OK\r\n"
    if cmd == "FAKE.SET":
        for k in args[1:]:
            st.keys[k] = b"payload of " + k
            publish(st, b"new", k)
        return integer(len(args) - 1)
    if cmd == "FAKE.SETQUIET":
        for k in args[1:]:
            st.keys[k] = b"payload of " + k
        return integer(len(args) - 1)
    if cmd == "FAKE.PUSH":
        for w in list(st.subscribers):
            w.write(PUSH[args[1].decode()])
        return b"+OK\r\n"
    if cmd == "FAKE.EXTRA":
        for w in list(st.conns - st.subscribers):
            if w is not writer:
                w.write(b"+PONG\r\n" * int(args[1]) + arr([bulk(b"x")]))
        return b"+OK\r\n"
    if cmd == "FAKE.COUNT":
        return integer(st.counts.get(args[1].upper().decode(), 0))
    if cmd == "FAKE.KEYS":
        return integer(len(st.keys))
    if cmd == "FAKE.USED":
        st.used = int(args[1])
        return b"+OK\r\n"
    return err(b"ERR unknown fake command")


async def serve(st, reader, writer):
    st.conns.add(writer)
    try:
        while True:
            args = await asyncio.wait_for(read_command(reader), IDLE_SECS)
            if not args:
                continue
            out = answer(st, args, writer)
            if writer.is_closing():
                break
            if out is not None:
                writer.write(out)
                await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ValueError):
        pass
    finally:
        st.subscribers.discard(writer)
        st.conns.discard(writer)
        writer.close()


async def watch_parent(ppid):
    while os.getppid() == ppid:
        await asyncio.sleep(1)


async def main(path):
    st = State()
    ppid = os.getppid()
    server = await asyncio.start_unix_server(lambda r, w: serve(st, r, w), path, limit=1 << 20)
    async with server:
        await watch_parent(ppid)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
