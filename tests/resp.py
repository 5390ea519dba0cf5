"""resp.py: RESP, the Redis protocol, parsed from bytes, for the test helpers.

Standard library only: it runs under /usr/bin/python3 as the suites do.

  parse(data, pos)          one value (a reply, or a command as an array)
  parse_command(data, pos)  one command, as redis-server reads it
  commands(data)            all the commands of a file (archive export)

Each returns what it parsed with the offset just past it, raises Incomplete
when data ends inside the value (a stream: read more and try again) and
ValueError when the bytes are not RESP.
"""


class Incomplete(Exception):
    """data ends before the value does."""


class Error(bytes):
    """An error reply (-ERR ...): bytes, told apart from a simple string."""


def _line(data, pos):
    """The line at data[pos], without its CRLF, and the offset past it."""
    e = data.find(b"\r\n", pos)
    if e < 0:
        raise Incomplete()
    return data[pos:e], e + 2


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a RESP length or integer: %r" % text[:40]) from None


def parse(data, pos=0):
    """The value at data[pos] and the offset past it: bytes for a simple or
    bulk string, Error for an error, int, list for an array, None for a nil
    bulk string or array."""
    head, end = _line(data, pos)
    kind, rest = head[:1], head[1:]
    if kind == b"+":
        return bytes(rest), end
    if kind == b"-":
        return Error(rest), end
    if kind == b":":
        return _int(rest), end
    if kind == b"$":
        n = _int(rest)
        if n < 0:
            return None, end
        if len(data) < end + n + 2:
            raise Incomplete()
        if data[end + n:end + n + 2] != b"\r\n":
            raise ValueError("a bulk string is not followed by CRLF")
        return bytes(data[end:end + n]), end + n + 2
    if kind == b"*":
        n = _int(rest)
        if n < 0:
            return None, end
        items = []
        for _ in range(n):
            v, end = parse(data, end)
            items.append(v)
        return items, end
    raise ValueError("not a RESP type byte: %r" % kind)


def parse_command(data, pos=0):
    """The command at data[pos], as a list of its words (bytes), and the
    offset past it: an array of bulk strings, or an inline command (a line
    of words, as redis-cli and telnet send)."""
    if data[pos:pos + 1] != b"*":
        if pos == len(data):
            raise Incomplete()
        line, end = _line(data, pos)
        return line.split(), end
    head, end = _line(data, pos)
    args = []
    for _ in range(_int(head[1:])):
        if data[end:end + 1] not in (b"$", b""):
            raise ValueError("a command is an array of bulk strings")
        a, end = parse(data, end)
        if a is None:
            raise ValueError("a command holds no nil")
        args.append(a)
    return args, end


def commands(data):
    """Every command of data, which must hold nothing else, in order."""
    pos, out = 0, []
    while pos < len(data):
        try:
            args, pos = parse_command(data, pos)
        except Incomplete:
            raise ValueError("the last command is cut short") from None
        out.append(args)
    return out
