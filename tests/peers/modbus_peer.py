#!/usr/bin/env python3
"""A real Modbus/TCP peer (pymodbus) for jobwatch's live-capture test.

    modbus_peer.py server --host 10.77.1.1 [--port 502]
        Serves unit 1 with a known datastore; prints "READY" on stdout once listening.
        Holding registers 0..19 hold 1000 + address; coils 0..31 hold COILS below. Nothing
        exists at or above address 100, so a read there is answered with exception 2.

    modbus_peer.py client --host 10.77.1.1 [--port 502] --log FILE [--duration 3.0]
        Polls on a fixed schedule over one TCP connection and writes a JSON log of exactly what
        it did (see `client` below) to FILE.

    modbus_peer.py poll --host 10.77.1.1 [--port 502] --log FILE [--period 0.5] [--duration 12]
        One job: FC3 (unit 1, holding registers 0..9) every PERIOD seconds for DURATION seconds
        over one TCP connection, then closes it and writes the same JSON log as `client`. Each
        poll is due one period after the previous one's due time (not after its answer), so the
        period on the wire is exact however long an answer takes.

    modbus_peer.py write --host 10.77.1.1 [--port 502] [--source 10.77.1.3] --address A
                         --values V[,V...] --log FILE
        One write over a new TCP connection (from SOURCE when given, any port): FC6 for one
        value, FC16 for several; then closes it and writes the same JSON log as `client`.

Used by sensor/tests/live_modbus.rs and live_rules_reload.rs; the test reads the same constants from the client's log.
"""

import argparse
import asyncio
import json
import sys
import time

UNIT = 1
HOLDING = [1000 + a for a in range(20)]
COILS = [a % 3 == 0 for a in range(32)]
MISSING_ADDRESS = 100


def server(args):
    # The datastore classes below are the ones pymodbus 3.16 still documents; they warn that
    # they are deprecated for v4. Quiet that warning so stderr stays readable.
    import logging

    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    from pymodbus.datastore import (
        ModbusDeviceContext,
        ModbusSequentialDataBlock,
        ModbusServerContext,
    )
    from pymodbus.server import ModbusTcpServer

    # ModbusSequentialDataBlock's address is 1-based (it stores at address - 1): protocol
    # address 0 holds the first value.
    device = ModbusDeviceContext(
        co=ModbusSequentialDataBlock(1, list(COILS)),
        di=ModbusSequentialDataBlock(1, [False] * 16),
        hr=ModbusSequentialDataBlock(1, list(HOLDING)),
        ir=ModbusSequentialDataBlock(1, [0] * 16),
    )
    context = ModbusServerContext(devices={UNIT: device}, single=False)

    async def run():
        srv = ModbusTcpServer(context, address=(args.host, args.port))
        await srv.serve_forever(background=True)
        print("READY", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def connect(args):
    """A connected pymodbus client (retried for up to 5 s while the server starts)."""
    from pymodbus.client import ModbusTcpClient

    source = getattr(args, "source", None)
    c = ModbusTcpClient(
        args.host, port=args.port, timeout=2, retries=0, source_address=(source, 0) if source else None
    )
    deadline = time.monotonic() + 5.0
    while not c.connect():
        if time.monotonic() > deadline:
            sys.exit(f"modbus_peer {args.role}: cannot connect to {args.host}:{args.port}")
        time.sleep(0.1)
    return c


def requester(c, log):
    """do(fc, address, count, values): sends one request on `c` and appends what happened to `log`."""

    def do(fc, address, count=None, values=None):
        entry = {"function_code": fc, "unit_id": UNIT, "address": address}
        sent = time.time()
        if fc == 3:
            r = c.read_holding_registers(address, count=count, device_id=UNIT)
        elif fc == 1:
            r = c.read_coils(address, count=count, device_id=UNIT)
        elif fc == 6:
            r = c.write_register(address, values[0], device_id=UNIT)
        elif fc == 16:
            r = c.write_registers(address, values, device_id=UNIT)
        elif fc == 15:
            r = c.write_coils(address, values, device_id=UNIT)
        else:
            raise ValueError(fc)
        received = time.time()
        entry["quantity"] = count if count is not None else len(values)
        if values is not None:
            entry["written"] = values
        entry["transaction_id"] = r.transaction_id
        entry["time_sent"] = sent
        entry["time_received"] = received
        entry["exception"] = r.isError()
        if r.isError():
            entry["exception_code"] = r.exception_code
        elif fc == 3:
            entry["registers"] = list(r.registers)
        elif fc == 1:
            # pymodbus pads the bits to a whole byte; keep the ones asked for.
            entry["coils"] = list(r.bits[:count])
        log.append(entry)

    return do


def client(args):
    c = connect(args)
    log = []
    do = requester(c, log)

    # The schedule, in milliseconds from the start: [next, period, request]. One-shot requests
    # have period None. Everything runs in order on one connection; with the default 3 s that is
    # 15 FC3, 6 FC1, one FC6, one FC16, one FC15 and one FC3 answered with exception 2.
    schedule = [
        [0, 200, (3, 0, 10, None)],
        [0, 500, (1, 0, 16, None)],
        [1000, None, (6, 5, None, [1234])],
        [1500, None, (16, 10, None, [11, 22, 33])],
        [2000, None, (15, 4, None, [True, True, False, True, False, False, True, True])],
        [2500, None, (3, MISSING_ADDRESS, 10, None)],
    ]
    duration_ms = round(args.duration * 1000)
    start = time.monotonic()
    while True:
        pending = [s for s in schedule if s[0] is not None and s[0] < duration_ms]
        if not pending:
            break
        nxt = min(pending, key=lambda s: s[0])
        wait = nxt[0] / 1000 - (time.monotonic() - start)
        if wait > 0:
            time.sleep(wait)
        fc, address, count, values = nxt[2]
        do(fc, address, count, values)
        nxt[0] = nxt[0] + nxt[1] if nxt[1] is not None else None

    c.close()
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump({"client": "pymodbus", "requests": log}, f, indent=1)


def poll(args):
    c = connect(args)
    log = []
    do = requester(c, log)
    # Due times from the start, each one period after the previous due time.
    start = time.monotonic()
    n = 0
    while n * args.period < args.duration - 1e-9:
        wait = start + n * args.period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        do(3, 0, 10)
        n += 1
    c.close()
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump({"client": "pymodbus", "period": args.period, "requests": log}, f, indent=1)


def write(args):
    c = connect(args)
    log = []
    do = requester(c, log)
    values = [int(v) for v in args.values.split(",")]
    if len(values) == 1:
        do(6, args.address, None, values)
    else:
        do(16, args.address, None, values)
    c.close()
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump({"client": "pymodbus", "source": args.source, "requests": log}, f, indent=1)
    if log[-1]["exception"]:
        sys.exit(f"modbus_peer write: exception {log[-1].get('exception_code')}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, default=502)
    k = sub.add_parser("client")
    k.add_argument("--host", required=True)
    k.add_argument("--port", type=int, default=502)
    k.add_argument("--log", required=True)
    k.add_argument("--duration", type=float, default=3.0)
    q = sub.add_parser("poll")
    q.add_argument("--host", required=True)
    q.add_argument("--port", type=int, default=502)
    q.add_argument("--log", required=True)
    q.add_argument("--period", type=float, default=0.5)
    q.add_argument("--duration", type=float, default=12.0)
    w = sub.add_parser("write")
    w.add_argument("--host", required=True)
    w.add_argument("--port", type=int, default=502)
    w.add_argument("--source", default=None)
    w.add_argument("--address", type=int, required=True)
    w.add_argument("--values", required=True)
    w.add_argument("--log", required=True)
    args = p.parse_args()
    if args.role == "server":
        server(args)
    elif args.role == "client":
        client(args)
    elif args.role == "write":
        write(args)
    else:
        poll(args)


if __name__ == "__main__":
    main()
