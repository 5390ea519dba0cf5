#!/usr/bin/python3
"""match_live.py: our glob (src/match.c, through tests/match-select) against
a live redis-server's SCAN MATCH, for tests/match.bats.

usage: match_live.py SOCK MATCH_SELECT SEED NPATTERNS

Loads a set of keys into the (empty) redis at the UNIX socket SOCK: the empty
key, every one-byte key, keys of 2 to 5 bytes from a small alphabet of glob
characters and binary bytes (so that patterns select many of them), and long
runs of "a" for the nested-star cap.  Then for the hand-picked tricky
patterns and NPATTERNS random ones made from the same alphabet (seeded with
SEED), compares the keys SCAN 0 MATCH pat COUNT 100000 returns with the keys
our matcher selects.  Prints each disagreement (the pattern, the keys only
Redis selects and the keys only we select) and exits 1 when there is one.
"""
import os
import random
import subprocess
import sys
import tempfile
import time

import redis

# Bytes that collide often: letters, the glob characters, a range's '-',
# and bytes whose sign differs between signed and unsigned char.
ALPHABET = [b"a", b"b", b"c", b"-", b"]", b"[", b"^", b"\\", b"*", b"?",
            b"_", b"`", b"\x00", b"\x7f", b"\x80", b"\xff"]
LETTERS = [b"a", b"b", b"c"]

TRICKY = [
    b"*", b"**", b"***", b"", b"?", b"??", b"*?", b"?*", b"a*", b"*a", b"*a*",
    b"k[a-]*", b"[a-]", b"[a-]*", b"[a-]]", b"[a-]b]", b"[c-a]", b"[c-a]*", b"[-a]", b"[a-",
    b"[", b"a[", b"[^", b"a[^", b"[^a", b"[]", b"[]a]", b"[^]", b"[^]a]", b"[]-a]",
    b"\\", b"a\\", b"\\\\", b"\\a", b"\\*", b"a\\*", b"*\\", b"[\\]", b"[\\]]", b"[\\-a]",
    b"[a-\\]", b"[a-\\]]", b"[\\", b"[a\\", b"[a-b-c]", b"[--a]", b"[^-]", b"[*]", b"[?]",
    b"[a-\xff]", b"[\x80-a]", b"[\x00-\xff]", b"[\x7f-\x80]", b"[\xff-\x00]", b"[^\x80-\xff]",
    b"\x00", b"*\x00*", b"[\x00]", b"\xff*", b"*\x80",
    b"*a" * 999, b"*a" * 1000, b"*a" * 1001, b"*a" * 1000 + b"*", b"*a" * 1001 + b"*",
    b"a*" * 1000, b"a*" * 1001, b"a*" * 1002, b"**a" * 1000, b"**a" * 1001,
    b"a" + b"*" * 3000, b"[a]" * 1000 + b"*",
]


def random_key(rnd):
    return b"".join(rnd.choice(ALPHABET if rnd.random() < 0.5 else LETTERS)
                    for _ in range(rnd.randint(2, 5)))


def random_class(rnd):
    parts = [b"["]
    if rnd.random() < 0.3:
        parts.append(b"^")
    for _ in range(rnd.randint(0, 3)):
        r = rnd.random()
        if r < 0.4:
            parts.append(rnd.choice(ALPHABET))
        elif r < 0.8:
            parts += [rnd.choice(ALPHABET), b"-", rnd.choice(ALPHABET)]
        else:
            parts += [b"\\", rnd.choice(ALPHABET)]
    if rnd.random() < 0.75:
        parts.append(b"]")
    return b"".join(parts)


def random_pattern(rnd):
    out = []
    for _ in range(rnd.randint(1, 5)):
        r = rnd.random()
        if r < 0.3:
            out.append(rnd.choice(LETTERS + [b"-", b"]", b"^", b"_", b"\x00", b"\xff"]))
        elif r < 0.45:
            out.append(rnd.choice([b"*", b"**"]))
        elif r < 0.55:
            out.append(b"?")
        elif r < 0.65:
            out.append(b"\\" + rnd.choice(ALPHABET))
        else:
            out.append(random_class(rnd))
    if rnd.random() < 0.1:
        out.append(rnd.choice([b"\\", b"[", b"[^", b"[a-"]))
    return b"".join(out)


def make_keys(rnd):
    keys = {b""}
    keys.update(bytes([b]) for b in range(256))
    while len(keys) < 257 + 400:
        keys.add(random_key(rnd))
    keys.update(b"a" * n for n in (999, 1000, 1001, 1002))
    keys.update(b"a" * n + b"b" for n in (1000, 1001))
    return sorted(keys)


def make_patterns(rnd, n):
    pats = list(TRICKY)
    seen = set(pats)
    tries = 0
    while len(pats) < len(TRICKY) + n and tries < 100 * n:
        tries += 1
        p = random_pattern(rnd)
        if p not in seen:
            seen.add(p)
            pats.append(p)
    return pats


def scan_all(r, pat):
    found, cursor = set(), 0
    for _ in range(1000):
        cursor, keys = r.scan(cursor, match=pat, count=100000)
        found.update(keys)
        if cursor == 0:
            return found
    raise RuntimeError("SCAN did not finish in 1000 steps for %r" % pat)


def ours(select, keys, pats):
    with tempfile.NamedTemporaryFile("w", delete=False) as kf:
        kf.write("".join(k.hex() + "\n" for k in keys))
    try:
        run = subprocess.run([select, kf.name], input="".join(p.hex() + "\n" for p in pats),
                             capture_output=True, text=True, check=False, timeout=60)
    finally:
        os.unlink(kf.name)
    if run.returncode != 0:
        raise RuntimeError("match-select exited with %d: %s" % (run.returncode, run.stderr))
    out = run.stdout
    rows = out.split("\n")[:-1]
    if len(rows) != len(pats) or any(len(row) != len(keys) for row in rows):
        raise RuntimeError("match-select printed %d rows for %d patterns" % (len(rows), len(pats)))
    return [{k for k, bit in zip(keys, row) if bit == "1"} for row in rows]


def show(keys, limit=12):
    shown = [repr(k) if len(k) <= 40 else "%r...(%d bytes)" % (k[:20], len(k))
             for k in sorted(keys)[:limit]]
    return " ".join(shown) + (" ..." if len(keys) > limit else "")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sock, select, seed, npats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(seed)
    start = time.monotonic()
    keys = make_keys(rnd)
    pats = make_patterns(rnd, npats)
    r = redis.Redis(unix_socket_path=sock, socket_timeout=30)
    if r.dbsize() != 0:
        sys.exit("the redis at %s is not empty" % sock)
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, b"v")
    pipe.execute()
    if r.dbsize() != len(keys):
        sys.exit("loaded %d keys, redis holds %d" % (len(keys), r.dbsize()))
    mine = ours(select, keys, pats)
    bad = 0
    selected = 0
    for pat, we in zip(pats, mine):
        theirs = scan_all(r, pat)
        selected += len(theirs)
        if theirs != we:
            bad += 1
            print("pattern %s (hex %s): SCAN MATCH selects %d keys, match_glob %d"
                  % (show([pat]), pat.hex() if len(pat) <= 40 else pat[:40].hex() + "...",
                     len(theirs), len(we)))
            if theirs - we:
                print("  only SCAN MATCH: " + show(theirs - we))
            if we - theirs:
                print("  only match_glob: " + show(we - theirs))
    print("# seed %d: %d patterns (%d hand-picked) x %d keys, %d selections, %d disagreements, %.1f s"
          % (seed, len(pats), len(TRICKY), len(keys), selected, bad, time.monotonic() - start))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
