#!/usr/bin/python3
"""oddkeys.py: keys with odd bytes in their names, for tests/oddkeys.bats.

Key lists are files of one hex-encoded key a line (hex keeps NUL bytes and
newlines intact through the shell).

usage:
  oddkeys.py list OUT                     the odd keys, in creation order
  oddkeys.py create SOCK KEYS             SET each key, in order
  oddkeys.py dump SOCK KEYS OUT           KEYHEX TAB DUMPHEX ("-": missing)
  oddkeys.py exist SOCK KEYS              one line a key: 1 exists, 0 not
  oddkeys.py escape KEYS                  each key as gcs-flushctl prints it
  oddkeys.py restore CTL CONF SHARD KEYS  gcs-flushctl restore of the keys
                                          without a NUL byte (one command
                                          line), checking its output line
                                          by line
  oddkeys.py ls-check LSOUT KEYS          archive ls lists exactly KEYS, in
                                          order, in printable ASCII
  oddkeys.py export-check RESP KEYS DUMPS archive export holds each key once
                                          with the payload DUMPS recorded
  oddkeys.py json-check FILE              FILE is one strict JSON document
"""
import json
import subprocess
import sys

import redis

import resp


def odd_keys():
    keys = [
        b"",                                    # the empty key
        b"nul\x00byte",
        b"\xff\xfe invalid utf-8 \xc3(",
        b"line\nfeed",
        b"carriage\rreturn",
        b"\r\n",
        b"$5\r\nhello",                         # looks like RESP
        b'double"quote',
        b"single'quote",
        b"back\\slash\\x41\\",                  # a literal \x41, not "A"
        b"  spaces  in key ",
        b"glob*star",
        b"glob?mark",
        b"glob[ab]",
        b"[",
        b"]",
        b"*",
        b"\t tab \x1b[31m escape \x7f del",
        "ключ ✓ 🙂".encode(),
        b"%s%n%x",
        b"-looks-like-an-option",
        b"mid:" + b"y" * 2000,                   # 2 KiB: its event may span two reads
        b"long:" + b"x" * 65536,                # 64 KiB: beyond the subscriber's framing, hiredis's
    ]
    return keys


def read_keys_exact(path):
    out = []
    with open(path) as f:
        for l in f:
            out.append(bytes.fromhex(l.rstrip("\n")))
    return out


def escape(k):
    """A key as gcs-flushctl prints it (restore.c put_key)."""
    return "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else "\\x%02x" % c for c in k)


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\":
            assert s[i + 1] == "x", "bad escape in %r" % s
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


def conn(sock):
    return redis.Redis(unix_socket_path=sock, socket_timeout=30)


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main(argv):
    cmd = argv[1]
    if cmd == "list":
        with open(argv[2], "w") as f:
            for k in odd_keys():
                f.write(k.hex() + "\n")
    elif cmd == "create":
        r = conn(argv[2])
        for k in read_keys_exact(argv[3]):
            r.set(k, b"value of " + k[:100])
    elif cmd == "dump":
        r = conn(argv[2])
        with open(argv[4], "w") as out:
            for k in read_keys_exact(argv[3]):
                d = r.dump(k)
                out.write("%s\t%s\n" % (k.hex(), d.hex() if d is not None else "-"))
    elif cmd == "exist":
        r = conn(argv[2])
        for k in read_keys_exact(argv[3]):
            print(r.exists(k))
    elif cmd == "escape":
        for k in read_keys_exact(argv[2]):
            print(escape(k))
    elif cmd == "restore":
        ctl, conf, shard = argv[2], argv[3], argv[4]
        # A command line cannot hold a NUL byte: those keys are left out.
        keys = [k for k in read_keys_exact(argv[5]) if b"\0" not in k]
        p = subprocess.run([ctl.encode(), b"-c", conf.encode(), b"restore", shard.encode()] + keys,
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            die("restore exited %d: %r %r" % (p.returncode, p.stdout[:2000], p.stderr[:2000]))
        lines = p.stdout.decode("ascii").split("\n")
        if lines[-1] != "" or len(lines) != len(keys) + 1:
            die("restore: %d lines for %d keys: %r" % (len(lines) - 1, len(keys), p.stdout[:2000]))
        for k, l in zip(keys, lines):
            want = escape(k) + ": restored the version flushed at "
            if not l.startswith(want):
                die("restore: %r does not start with %r" % (l[:200], want[:200]))
    elif cmd == "ls-check":
        raw = open(argv[2], "rb").read()
        keys = read_keys_exact(argv[3])
        bad = [c for c in raw if not (0x20 <= c < 0x7f or c == 0x0a)]
        if bad:
            die("archive ls printed bytes that are not printable ASCII: %r" % bytes(bad[:20]))
        lines = raw.decode("ascii").split("\n")
        if not lines[0].startswith("FLUSHED (UTC)") or lines[-1] != "":
            die("archive ls: no header or no final newline")
        # The key is the last column; it starts where the header's KEY does.
        col = lines[0].index("KEY")
        got = [unescape(l[col:]) for l in lines[1:-1]]
        if got != keys:
            die("archive ls lists %d keys, expected %d; first difference at %s" % (
                len(got), len(keys), next((i for i, (a, b) in enumerate(zip(got, keys)) if a != b), "the end")))
    elif cmd == "export-check":
        data = open(argv[2], "rb").read()
        keys = read_keys_exact(argv[3])
        dumps = {}
        for l in open(argv[4]):
            k, d = l.rstrip("\n").split("\t")
            dumps[bytes.fromhex(k)] = d
        seen = []
        try:
            cmds = resp.commands(data)
        except ValueError as e:
            die("export: %s" % e)
        for args in cmds:
            if args[0] == b"SELECT":
                continue
            if args[0] != b"RESTORE":
                die("export: unexpected command %r" % args[0])
            if args[3].hex() != dumps.get(args[1]):
                die("export: payload of %r differs from its DUMP" % args[1][:80])
            seen.append(args[1])
        if seen != keys:
            die("export holds %d records, expected %d keys in order" % (len(seen), len(keys)))
    elif cmd == "json-check":
        raw = open(argv[2], "rb").read()
        try:
            json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            die("not strict UTF-8 JSON (%s): %r" % (e, raw[:300]))
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
