#!/usr/bin/env python3
"""A real DNP3 master and outstation (opendnp3, through the yadnp3 wheel) for jobwatch's
live-capture test.

    dnp3_peer.py outstation --host 10.78.1.1 [--port 20000] [--quiet]
        A TCP server outstation, link address 1024, answering master 1. Three points of every
        type (DatabaseConfig(3)); known static values (see OUTSTATION_* below); every 150 ms
        analog 0 and binary 1 change (class 1 events), unless --quiet (no changes, hence no
        events, so the master never scans for events by itself). Unsolicited responses are
        allowed.
        A CROB on output 0 succeeds and sets binary output status 0 (another class 1 event).
        Prints "READY" on stdout once it listens.

    dnp3_peer.py master --host 10.78.1.1 [--port 20000] --log FILE [--duration 4.0]
        A TCP client master, link address 1. Once its startup integrity poll is done it polls
        every 200 ms for DURATION seconds, cycling integrity (class 0123), class 1, class 2,
        class 3; at 2.0 s it sends one direct operate (CROB latch on, output 0) and at 2.5 s it
        disables unsolicited responses (so later events go to polls). Then it waits
        for every task to finish, shuts down, and writes a JSON log of everything it did (see
        `master` below) to FILE.

    dnp3_peer.py master --host 10.78.1.1 [--port 20000] --log FILE --scan-period 0.5
                        [--duration 12]
        As above up to the end of the startup sequence; then, instead of the schedule above,
        one job: opendnp3's own periodic class 1/2/3 event scan (IMaster.AddClassScan) every
        SCAN_PERIOD seconds for DURATION seconds, then it shuts down (closing the connection)
        and writes the same log, the scan's tasks with kind "scan".

Used by sensor/tests/live_dnp3.rs.
"""

import argparse
import json
import re
import sys
import threading
import time

MASTER_ADDRESS = 1
OUTSTATION_ADDRESS = 1024
POINTS_PER_TYPE = 3
# Static values set before the master connects (no events for them).
OUTSTATION_BINARY = {0: True, 1: False, 2: True}
OUTSTATION_ANALOG = {0: 100.0, 1: -5.0, 2: 12345.0}
OUTSTATION_COUNTER = {0: 7, 1: 0, 2: 42}
# The master's polls, in turn.
POLL_KINDS = ["integrity", "class1", "class2", "class3"]


def _gv(gv):
    """(group, variation) of an opendnp3 GroupVariation such as Group30Var1."""
    m = re.fullmatch(r"Group(\d+)Var(\d+)", gv.name)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def _plain(value):
    """A measurement's value as JSON: numbers and booleans; None for anything else."""
    v = getattr(value, "value", None)
    if isinstance(v, (bool, int, float)):
        return v
    return None


def outstation(args):
    import opendnp3 as o

    class Commands(o.ICommandHandler):
        def __init__(self):
            super().__init__()

        def Begin(self):
            pass

        def End(self):
            pass

        def Select(self, command, index):
            return o.CommandStatus.SUCCESS if index < POINTS_PER_TYPE else o.CommandStatus.NOT_SUPPORTED

        def Operate(self, command, index, handler, op_type):
            if index >= POINTS_PER_TYPE:
                return o.CommandStatus.NOT_SUPPORTED
            if isinstance(command, o.ControlRelayOutputBlock):
                on = command.opType in (o.OperationType.LATCH_ON, o.OperationType.PULSE_ON)
                handler.Update(o.BinaryOutputStatus(on), index)
            return o.CommandStatus.SUCCESS

    class App(o.IOutstationApplication):
        def __init__(self):
            super().__init__()

        def SupportsWriteAbsoluteTime(self):
            return False

        def WriteAbsoluteTime(self, timestamp):
            return False

        def SupportsAssignClass(self):
            return False

        def GetApplicationIIN(self):
            return o.ApplicationIIN()

        def ColdRestartSupport(self):
            return o.RestartMode.UNSUPPORTED

        def WarmRestartSupport(self):
            return o.RestartMode.UNSUPPORTED

        def ColdRestart(self):
            return 0

        def WarmRestart(self):
            return 0

        def Now(self):
            return o.DNPTime(int(time.time() * 1000), o.TimestampQuality.SYNCHRONIZED)

    manager = o.DNP3Manager(1)
    channel = manager.AddTCPServer(
        "outstation-channel",
        o.levels.NOTHING,
        o.ServerAcceptMode.CloseExisting,
        o.IPEndpoint(args.host, args.port),
        None,
    )
    config = o.OutstationStackConfig(o.DatabaseConfig(POINTS_PER_TYPE))
    config.outstation.eventBufferConfig = o.EventBufferConfig.AllTypes(50)
    config.outstation.params.allowUnsolicited = True
    config.link.LocalAddr = OUTSTATION_ADDRESS
    config.link.RemoteAddr = MASTER_ADDRESS
    commands, app = Commands(), App()
    station = channel.AddOutstation("outstation", commands, app, config)

    b = o.UpdateBuilder()
    for i, v in OUTSTATION_BINARY.items():
        b.Update(o.Binary(v, o.Flags(0x01)), i, o.EventMode.Suppress)
    for i, v in OUTSTATION_ANALOG.items():
        b.Update(o.Analog(v, o.Flags(0x01)), i, o.EventMode.Suppress)
    for i, v in OUTSTATION_COUNTER.items():
        b.Update(o.Counter(v, o.Flags(0x01)), i, o.EventMode.Suppress)
    station.Apply(b.Build())
    station.Enable()

    # Ready once the socket listens (this namespace's /proc/net/tcp; state 0A is LISTEN).
    wanted = f":{args.port:04X} "
    deadline = time.monotonic() + 5.0
    while True:
        with open("/proc/net/tcp", encoding="ascii") as f:
            if any(wanted in line and line.split()[3] == "0A" for line in f.readlines()[1:]):
                break
        if time.monotonic() > deadline:
            sys.exit(f"dnp3_peer outstation: not listening on {args.host}:{args.port}")
        time.sleep(0.05)
    print("READY", flush=True)

    # Changes every 150 ms: class 1 events, reported unsolicited while the master has that
    # enabled, to the next integrity or class 1 poll after it disabled it.
    step = 0
    try:
        while args.quiet:
            time.sleep(1)
        while True:
            time.sleep(0.15)
            step += 1
            b = o.UpdateBuilder()
            b.Update(o.Analog(OUTSTATION_ANALOG[0] + step, o.Flags(0x01)), 0)
            b.Update(o.Binary(step % 2 == 1, o.Flags(0x01)), 1)
            station.Apply(b.Build())
    except KeyboardInterrupt:
        pass
    finally:
        manager.Shutdown()


def master(args):
    import opendnp3 as o

    lock = threading.Lock()
    changed = threading.Condition(lock)
    tasks = []  # every task the master ran, in start order
    unsolicited = []  # unsolicited fragments received
    state = {"open": False, "running": None}

    def now():
        return time.time()

    class Soe(o.ISOEHandler):
        """Collects the measurements of the running task (or of an unsolicited fragment)."""

        def __init__(self):
            super().__init__()
            self.target = None

        def BeginFragment(self, info):
            with lock:
                if info.unsolicited:
                    self.target = {"time": now(), "fir": info.fir, "fin": info.fin, "points": []}
                    unsolicited.append(self.target)
                else:
                    self.target = state["running"]
                    if self.target is not None:
                        self.target["fragments"] += 1

        def EndFragment(self, info):
            with lock:
                self.target = None

        def Process(self, info, values):
            group, variation = _gv(info.gv)
            with lock:
                if self.target is None:
                    return
                for iv in values:
                    point = {"group": group, "variation": variation, "index": iv.index, "value": _plain(iv.value)}
                    if isinstance(iv.value, o.OctetString):
                        # opendnp3 names these Group110Var0; on the wire the variation is the
                        # string's length.
                        point["variation"] = iv.value.Size()
                        point["value"] = iv.value.ToBytes().hex()
                    self.target["points"].append(point)

    class App(o.IMasterApplication):
        def __init__(self):
            super().__init__()

        def OnReceiveIIN(self, iin):
            pass

        def OnTaskStart(self, task_type, task_id):
            with changed:
                entry = {
                    "type": task_type.name,
                    "id": task_id.GetId(),
                    "time_start": now(),
                    "time_end": None,
                    "result": None,
                    "fragments": 0,
                    "points": [],
                }
                tasks.append(entry)
                state["running"] = entry
                changed.notify_all()

        def OnTaskComplete(self, info):
            with changed:
                entry = state["running"]
                if entry is None or entry["type"] != info.type.name:
                    entry = {"type": info.type.name, "time_start": None, "fragments": 0, "points": []}
                    tasks.append(entry)
                entry["time_end"] = now()
                entry["result"] = info.result.name
                state["running"] = None
                changed.notify_all()

        def OnOpen(self):
            with changed:
                state["open"] = True
                changed.notify_all()

        def OnClose(self):
            with changed:
                state["open"] = False
                changed.notify_all()

        def AssignClassDuringStartup(self):
            return False

        def Now(self):
            return o.UTCTimestamp(int(time.time() * 1000))

    manager = o.DNP3Manager(1)
    channel = manager.AddTCPClient(
        "master-channel",
        o.levels.NOTHING,
        o.ChannelRetry(o.TimeDuration.Milliseconds(100), o.TimeDuration.Milliseconds(500)),
        [o.IPEndpoint(args.host, args.port)],
        "0.0.0.0",
        None,
    )
    config = o.MasterStackConfig()
    config.master.disableUnsolOnStartup = True
    config.master.responseTimeout = o.TimeDuration.Seconds(2)
    config.link.LocalAddr = MASTER_ADDRESS
    config.link.RemoteAddr = OUTSTATION_ADDRESS
    soe, app = Soe(), App()
    m = channel.AddMaster("master", soe, app, config)
    m.Enable()

    def wait_until(pred, limit, what):
        deadline = time.monotonic() + limit
        with changed:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    manager.Shutdown()
                    sys.exit(f"dnp3_peer master: {what} within {limit} s; tasks so far: {tasks}")
                changed.wait(left)

    def finished(entry):
        return lambda: entry["time_end"] is not None

    # The startup sequence (disable unsolicited, integrity poll, enable unsolicited, clear
    # restart) runs by itself; polling starts once the startup integrity poll is done.
    wait_until(
        lambda: any(t["type"] == "STARTUP_INTEGRITY_POLL" and t["result"] == "SUCCESS" for t in tasks),
        5.0,
        "no successful startup integrity poll",
    )

    if args.scan_period is not None:
        periodic_scan(o, m, soe, manager, args, lock, tasks, unsolicited, state, wait_until)
        return

    fields = {
        "integrity": o.ClassField.AllClasses(),
        "class1": o.ClassField(False, True, False, False),
        "class2": o.ClassField(False, False, True, False),
        "class3": o.ClassField(False, False, False, True),
    }
    keep = []  # Python objects the C++ side refers to

    def submit(kind, start_call):
        """Runs one user task and waits for it to finish; returns its log entry."""
        with lock:
            before = len(tasks)
        start_call()
        # The task is the first USER_TASK started after the call.
        found = {}

        def started():
            for t in tasks[before:]:
                if t["type"] == "USER_TASK" and not t.get("kind"):
                    found["t"] = t
                    return True
            return False

        wait_until(started, 5.0, f"the {kind} task did not start")
        entry = found["t"]
        entry["kind"] = kind
        wait_until(finished(entry), 5.0, f"the {kind} task did not finish")
        return entry

    operate = {}

    def direct_operate():
        done = threading.Event()

        def on_result(result):
            # The result is only valid inside the callback: copy it out.
            operate["summary"] = result.summary.name
            operate["points"] = [
                {"index": p.index, "state": p.state.name, "status": p.status.name} for p in result.to_list()
            ]
            done.set()

        keep.append(on_result)
        crob = o.ControlRelayOutputBlock(o.OperationType.LATCH_ON)
        entry = submit("operate", lambda: m.DirectOperate(crob, 0, on_result))
        if not done.wait(5.0):
            sys.exit("dnp3_peer master: no result for the direct operate")
        entry["operate"] = dict(operate)

    def disable_unsolicited():
        headers = [o.Header.From(c) for c in (o.PointClass.Class1, o.PointClass.Class2, o.PointClass.Class3)]
        submit(
            "disable_unsolicited",
            lambda: m.PerformFunction("disable unsolicited", o.FunctionCode.DISABLE_UNSOLICITED, headers),
        )

    # The schedule in seconds from the start of polling: a poll every 200 ms, cycling the kinds;
    # the operate at 2.0 s (just before that slot's poll) and the disable at 2.5 s.
    schedule = []
    n = 0
    while n * 0.2 < args.duration - 1e-9:
        kind = POLL_KINDS[n % len(POLL_KINDS)]
        schedule.append((round(n * 0.2, 3), 1, kind, lambda kind=kind: submit(kind, lambda: m.ScanClasses(fields[kind], soe))))
        n += 1
    schedule.append((2.0, 0, "operate", direct_operate))
    schedule.append((2.5, 0, "disable_unsolicited", disable_unsolicited))
    schedule.sort(key=lambda s: (s[0], s[1]))
    start = time.monotonic()
    for at, _, _, run in schedule:
        if at >= args.duration:
            continue
        wait = start + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        run()

    # Let anything the master does by itself (event scans, confirms) finish, then stop.
    time.sleep(0.3)
    wait_until(lambda: state["running"] is None, 2.0, "a task did not finish at the end")
    m.Disable()
    time.sleep(0.1)
    manager.Shutdown()

    with lock:
        log = {
            "client": "opendnp3 (yadnp3)",
            "master_address": MASTER_ADDRESS,
            "outstation_address": OUTSTATION_ADDRESS,
            "tasks": tasks,
            "unsolicited": unsolicited,
            "operate": operate,
        }
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)


def periodic_scan(o, m, soe, manager, args, lock, tasks, unsolicited, state, wait_until):
    """The master's periodic class 1/2/3 scan for args.duration seconds, then shutdown and log."""
    events = o.ClassField(False, True, True, True)
    period = o.TimeDuration.Milliseconds(round(args.scan_period * 1000))
    with lock:
        first = len(tasks)
    # opendnp3 runs the scan at once, then one period after each scan completes.
    scan = m.AddClassScan(events, period, soe)
    time.sleep(args.duration)
    # Stop scanning between two scans: the task running now (if any) finishes first.
    wait_until(lambda: state["running"] is None, 2.0, "a task did not finish at the end")
    m.Disable()
    time.sleep(0.1)
    manager.Shutdown()
    del scan
    with lock:
        for t in tasks[first:]:
            if t["type"] == "USER_TASK":
                t["kind"] = "scan"
        log = {
            "client": "opendnp3 (yadnp3)",
            "master_address": MASTER_ADDRESS,
            "outstation_address": OUTSTATION_ADDRESS,
            "scan_period": args.scan_period,
            "tasks": tasks,
            "unsolicited": unsolicited,
        }
    with open(args.log, "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("outstation")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, default=20000)
    s.add_argument("--quiet", action="store_true")
    k = sub.add_parser("master")
    k.add_argument("--host", required=True)
    k.add_argument("--port", type=int, default=20000)
    k.add_argument("--log", required=True)
    k.add_argument("--duration", type=float, default=4.0)
    k.add_argument("--scan-period", type=float, default=None)
    args = p.parse_args()
    if args.role == "outstation":
        outstation(args)
    else:
        master(args)


if __name__ == "__main__":
    main()
