#!/usr/bin/env python3
"""A real S7comm peer (snap7, through the python-snap7 wheel) for jobwatch's live-capture test.

    s7_peer.py server --host 10.79.1.1 [--port 102]
        A snap7 server with DB1 (100 bytes, byte i = (7 * i + 3) % 256) and DB2 (16 bytes,
        byte i = 0xA0 + i) registered; prints "READY" on stdout once it listens.

    s7_peer.py client --host 10.79.1.1 [--port 102] [--rack 0] [--slot 2] --log FILE
                      [--duration 3.0]
        Connects (COTP connect to TSAP 0x0100 + 32 * rack + slot, then setup communication),
        reads DB1.DBB0..9 and DB2.DBB4..7 alternately every 100 ms, writes DB1.DBB20..23 once at
        half time and reads them back right after, then writes a JSON log of exactly what it did
        (see `client` below) to FILE.

    s7_peer.py poll --host 10.79.1.1 [--port 102] [--rack 0] [--slot 2] --log FILE
                    [--period 0.5] [--duration 12]
        One job: connects as `client` does, then reads DB1.DBB0..9 (one read_var) every PERIOD
        seconds for DURATION seconds, each read due one period after the previous one's due
        time, then disconnects and writes the same JSON log as `client`.

Used by sensor/tests/live_s7comm.rs, which compares jobwatch's transactions with the log.
"""

import argparse
import json
import sys
import time

DB1 = bytes((7 * i + 3) % 256 for i in range(100))
DB2 = bytes(0xA0 + i for i in range(16))
WRITE = (1, 20, bytes([0xDE, 0xAD, 0xBE, 0xEF]))
AREA_DB = 0x84


def server(args):
    import ctypes

    import snap7
    from snap7.type import SrvArea

    # log=False: no event callback (it would log every request on stderr through `logging`).
    srv = snap7.server.Server(log=False)
    # snap7 keeps pointers to these buffers: they must outlive the server.
    areas = {n: (ctypes.c_uint8 * len(b)).from_buffer_copy(b) for n, b in ((1, DB1), (2, DB2))}
    for number, buf in areas.items():
        srv.register_area(SrvArea.DB, number, buf)
    try:
        srv.start_to(args.host, args.port)  # raises RuntimeError on failure
    except RuntimeError as e:
        sys.exit(f"s7_peer server: cannot listen on {args.host}:{args.port}: {e}")
    print("READY", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        srv.destroy()


def connect(args):
    """A connected snap7 client and the log entry of its connection."""
    import snap7

    c = snap7.client.Client()
    deadline = time.monotonic() + 5.0
    connect_sent = time.time()
    while True:
        try:
            c.connect(args.host, args.rack, args.slot, args.port)
            break
        except Exception as e:  # snap7 raises RuntimeError on an ISO/TCP failure
            if time.monotonic() > deadline:
                sys.exit(f"s7_peer {args.role}: cannot connect to {args.host}:{args.port}: {e}")
            time.sleep(0.1)
            connect_sent = time.time()
    connected = {
        "rack": args.rack,
        "slot": args.slot,
        "local_tsap": 0x0100,
        "remote_tsap": 0x0100 + 32 * args.rack + args.slot,
        "pdu_length": c.get_pdu_length(),
        "time_sent": connect_sent,
        "time_received": time.time(),
    }
    return c, connected


def operator(c, ops):
    """do(op, db, start, size, data): one read or write on `c`, logged to `ops`."""

    def do(op, db, start, size=None, data=None):
        entry = {"op": op, "area": AREA_DB, "db": db, "start": start}
        sent = time.time()
        try:
            if op == "read":
                value = bytes(c.db_read(db, start, size))
            else:
                c.db_write(db, start, bytearray(data))
                value = bytes(data)
            entry["result"] = "ok"
        except Exception as e:
            value = b""
            entry["result"] = f"error: {e}"
        entry["time_sent"] = sent
        entry["time_received"] = time.time()
        entry["size"] = size if size is not None else len(data)
        entry["value"] = value.hex()
        ops.append(entry)

    return do


def client(args):
    c, connected = connect(args)
    ops = []
    do = operator(c, ops)

    # Reads alternate every 100 ms; the write (and a read of what it wrote) comes at half time.
    period = 0.1
    reads = [(1, 0, 10), (2, 4, 4)]
    start = time.monotonic()
    n = 0
    written = False
    while n * period < args.duration:
        wait = start + n * period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not written and n * period >= args.duration / 2:
            db, at, data = WRITE
            do("write", db, at, data=data)
            do("read", db, at, size=len(data))
            written = True
        db, at, size = reads[n % 2]
        do("read", db, at, size=size)
        n += 1

    c.disconnect()
    c.destroy()
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump({"client": "snap7", "connect": connected, "ops": ops}, f, indent=1)


def poll(args):
    c, connected = connect(args)
    ops = []
    do = operator(c, ops)
    start = time.monotonic()
    n = 0
    while n * args.period < args.duration - 1e-9:
        wait = start + n * args.period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        do("read", 1, 0, size=10)
        n += 1
    c.disconnect()
    c.destroy()
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump({"client": "snap7", "period": args.period, "connect": connected, "ops": ops}, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, default=102)
    k = sub.add_parser("client")
    k.add_argument("--host", required=True)
    k.add_argument("--port", type=int, default=102)
    k.add_argument("--rack", type=int, default=0)
    k.add_argument("--slot", type=int, default=2)
    k.add_argument("--log", required=True)
    k.add_argument("--duration", type=float, default=3.0)
    q = sub.add_parser("poll")
    q.add_argument("--host", required=True)
    q.add_argument("--port", type=int, default=102)
    q.add_argument("--rack", type=int, default=0)
    q.add_argument("--slot", type=int, default=2)
    q.add_argument("--log", required=True)
    q.add_argument("--period", type=float, default=0.5)
    q.add_argument("--duration", type=float, default=12.0)
    args = p.parse_args()
    if args.role == "server":
        server(args)
    elif args.role == "client":
        client(args)
    else:
        poll(args)


if __name__ == "__main__":
    main()
