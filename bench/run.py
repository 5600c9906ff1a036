#!/usr/bin/env python3
"""tracejob side by side with strace, perf trace, bpftrace and BCC (issue 6).

Run by `make bench` as root, after the binaries are built. Every workload times its own
loop (bench-workload), so a tracer's start and stop never count; configurations are
interleaved (A B C ... A B C ...) with the order rotated each round, the workload is
pinned to one CPU at a time, and every ratio is traced time / untraced time of the same
round on the same CPU. Writes bench/results/results.json and bench/results/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MANIFESTS = BENCH / "manifests"


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def default_signals():
    """Children start with SIGINT and SIGTERM at their defaults, so they can be stopped
    (a tool started from a script can otherwise inherit "ignore SIGINT")."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop(proc, sig):
    """Sends `sig`, then kills the process if it has not exited 20 s later."""
    proc.send_signal(sig)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_rusage(proc):
    """Waits for a child; returns (exit status, peak RSS KiB, CPU seconds), where the
    peak and CPU cover the child and the descendants it waited for."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def wait_for_line(stream, pattern, timeout):
    """Reads lines until one contains `pattern`; returns (line, lines read) or raises.
    The rest of the stream is drained by a thread so the child never blocks on it."""
    lines = []
    result = {}
    done = threading.Event()

    def reader():
        for raw in stream:
            line = raw.decode(errors="replace")
            if not done.is_set():
                lines.append(line)
                if pattern in line:
                    result["line"] = line
                    done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        done.set()
        raise RuntimeError(f"no line with {pattern!r} within {timeout}s: {''.join(lines)[-2000:]}")
    return result["line"], lines


def last_line(path):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read().decode(errors="replace").strip().splitlines()
    return tail[-1] if tail else ""


def count_lines(path):
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mapped_bpf_kib(pid):
    """Resident KiB of BPF maps mapped into a process (ring buffers: the data area is
    mapped twice). Kernel memory of the maps, counted in the resident set too."""
    total, in_map = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 1)[0]
                if "-" in head and not head.endswith(":"):
                    in_map = line.rstrip().endswith("anon_inode:bpf-map")
                elif in_map and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = Path(args.bin_dir).resolve()
        self.tracejob = self.bin / "tracejob"
        self.workload = self.bin / "bench-workload"
        self.floor = self.bin / "floor"
        self.agent = self.bin / "tracejob-agent"
        self.agent_load = self.bin / "agent-load"
        self.tmp = Path(tempfile.mkdtemp(prefix="tracejob-bench-"))
        self.cg_mount = self.find_cgroup2()
        self.cgroups = []
        self.cg = self.make_cgroup("target")
        self.empty_cg = self.make_cgroup("empty")
        self.open_path = self.tmp / "opened-by-the-workload"
        self.open_path.write_text("x")
        self.bcc_env = self.bcc_environment()

    # --- set-up -----------------------------------------------------------------------

    @staticmethod
    def find_cgroup2():
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[0] == "cgroup2":
                    return Path(left.split()[4])
        raise RuntimeError("no cgroup v2 hierarchy mounted (run `make deps`)")

    def make_cgroup(self, name):
        path = self.cg_mount / f"tracejob-bench-{os.getpid()}-{name}"
        path.mkdir()
        self.cgroups.append(path)
        return path

    def make_pod_cgroup(self):
        """A container's cgroup where kubelet (cgroupfs driver) puts one: the agent only
        accepts targets below kubepods/<qos>/pod<uid>/."""
        pod = self.cg_mount / "kubepods" / "besteffort" / f"pod{uuid.uuid4()}"
        container = pod / f"{os.getpid():064x}"
        for path in (pod.parent.parent, pod.parent, pod, container):
            if not path.exists():
                path.mkdir()
                self.cgroups.append(path)
        return container

    def cleanup(self):
        for path in reversed(self.cgroups):
            try:
                path.rmdir()
            except OSError as error:
                log(f"could not remove {path}: {error}")
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

    def bcc_environment(self):
        """BCC compiles its programs against kernel headers, which this kernel may not
        ship: the newest Debian linux-headers (common + arch halves merged into one
        directory) stand in for them through BCC_KERNEL_SOURCE."""
        if not shutil_which("syscount-bpfcc"):
            return None
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if Path(f"/lib/modules/{os.uname().release}/build").exists():
            return env
        source = Path(self.args.bcc_headers)
        if not (source / "include/linux/kconfig.h").exists():
            arch = sorted(Path("/usr/src").glob("linux-headers-*-amd64"))
            arch = [p for p in arch if "cloud" not in p.name and "-rt-" not in p.name]
            if not arch:
                log("BCC: no kernel headers (apt-get install linux-headers-amd64); BCC is skipped")
                return None
            common = Path(str(arch[-1]).removesuffix("-amd64") + "-common")
            source.mkdir(parents=True, exist_ok=True)
            for half in (common, arch[-1]):
                subprocess.run(["cp", "-a", f"{half}/.", str(source)], check=True)
        env["BCC_KERNEL_SOURCE"] = str(source)
        return env

    # --- one traced run ---------------------------------------------------------------

    def workload_cmd(self, cpu, wl_args, report, cgroup=None, go=None, extra=()):
        # absolute: bpftrace -c refuses a name that matches two binaries (/bin and /usr/bin)
        cmd = [] if cpu is None else [TASKSET, "-c", str(cpu)]
        cmd += [str(self.workload), *map(str, wl_args), "--report", str(report)]
        if cgroup:
            cmd += ["--cgroup", str(cgroup)]
        if go:
            cmd += ["--go", str(go)]
        return cmd + list(extra)

    def run(self, config, wl_args, cpu, extra=()):
        """Runs one configuration once; returns a dict of what was measured."""
        report = self.tmp / "report.json"
        report.unlink(missing_ok=True)
        out = self.tmp / "stdout"
        err = self.tmp / "stderr"
        kind = config["kind"]
        cgroup = self.cg if config.get("in_cgroup") else None
        result = {"config": config["name"], "cpu": cpu}
        started = time.monotonic()
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            if kind == "wrap":
                wl = self.workload_cmd(cpu, wl_args, report, cgroup, extra=extra)
                proc = subprocess.Popen(config["argv"](self, wl), stdout=stdout, stderr=stderr,
                                        env=config.get("env", lambda b: None)(self),
                                        preexec_fn=default_signals)
                code, rss, cpu_s = wait_rusage(proc)
            elif kind == "attach":
                # The tracer watches a scope; the workload runs once it is attached.
                proc = subprocess.Popen(config["argv"](self, None), stdout=stdout,
                                        stderr=subprocess.PIPE, preexec_fn=default_signals)
                wait_for_line(proc.stderr, config["ready"], 60)
                wl = self.workload_cmd(cpu, wl_args, report, cgroup, extra=extra)
                subprocess.run(wl, check=True, stderr=stderr)
                proc.send_signal(signal.SIGINT)
                code, rss, cpu_s = wait_rusage(proc)
            elif kind == "pid":
                # The workload waits on a FIFO while the tracer attaches to its pid.
                fifo = self.tmp / "go"
                fifo.unlink(missing_ok=True)
                os.mkfifo(fifo)
                wl = subprocess.Popen(self.workload_cmd(cpu, wl_args, report, cgroup, go=fifo, extra=extra),
                                      stderr=stderr)
                proc = subprocess.Popen(config["argv"](self, wl.pid), stdout=subprocess.PIPE,
                                        stderr=stderr, env=config.get("env", lambda b: None)(self),
                                        preexec_fn=default_signals)
                try:
                    wait_for_line(proc.stdout, config["ready"], 120)
                finally:
                    with open(fifo, "w") as go:
                        go.write("g")
                if wl.wait() != 0:
                    raise RuntimeError("the workload failed")
                proc.send_signal(signal.SIGINT)
                code, rss, cpu_s = wait_rusage(proc)
        result["wall_seconds"] = time.monotonic() - started
        if not report.exists():
            raise RuntimeError(f"{config['name']}: no workload report; stderr: {err.read_text()[-2000:]}")
        measured = json.loads(report.read_text())
        result.update({k: measured[k] for k in ("ops", "seconds", "ns_per_op", "ops_per_second")})
        result["ran_on_cpu"] = measured["cpu"]
        result["tracer_exit"] = code
        if kind != "wrap" or config["name"] != "untraced":
            result["tracer_peak_rss_kib"] = rss
            workload_cpu = measured["user_seconds"] + measured["system_seconds"]
            # wrap: the tracer's rusage includes the workload it waited for
            result["tracer_cpu_seconds"] = round(cpu_s - (workload_cpu if kind == "wrap" else 0), 4)
        if config.get("summary"):
            line = last_line(out)
            try:
                summary = json.loads(line)
                result["summary"] = {k: summary.get(k) for k in
                                     ("events", "lost", "lost_kernel", "lost_user", "probe", "events_not_kept")}
                rows = summary.get("syscalls") or summary.get("opens") or summary.get("execs") or []
                # what the tool counted of the workload's own operations (rows are not kept:
                # they hold this machine's paths)
                mode = wl_args[0]
                result["counted_ops"] = sum(
                    row["count"] for row in rows
                    if (mode == "getppid" and row.get("name") == "getppid")
                    or (mode == "open" and row.get("path") == str(wl_args[1]))
                    or (mode == "open" and row.get("name") == "openat")
                    or (mode == "exec" and row.get("filename") == str(wl_args[1]))
                    or (mode == "exec" and row.get("name") == "execve"))
                if config.get("keep_rows"):
                    result["summary"]["rows"] = rows
                if config.get("events_file"):
                    result["event_lines"] = count_lines(out) - 1
            except json.JSONDecodeError:
                raise RuntimeError(f"{config['name']}: no JSON summary: {line[:500]} {err.read_text()[-1000:]}")
        return result


class FakeBench:
    """Enough of a Bench to list the workloads when re-summarising saved results."""
    open_path = "PATH"


def shutil_which(name):
    return shutil.which(name) is not None


TASKSET = shutil.which("taskset") or "taskset"


# --- configurations ------------------------------------------------------------------


def tj(manifest, *extra):
    return lambda b, wl: [str(b.tracejob), "run", str(MANIFESTS / manifest), "--format", "json", *extra, "--", *wl]


def bpftrace(program):
    return lambda b, wl: ["bpftrace", "-c", " ".join(wl), "-e", program.replace("CGROUP", str(b.cg))]


CG_FILTER = '/cgroup == cgroupid("CGROUP")/'

CONFIGS = {
    "untraced": {"kind": "wrap", "argv": lambda b, wl: wl},
    "floor (empty tp_btf programs)": {"kind": "wrap", "argv": lambda b, wl: [str(b.floor), "--", *wl]},
    # one hook, as BCC syscount (sys_exit only) uses
    "floor, sys_exit only": {"kind": "wrap", "argv": lambda b, wl: [str(b.floor), "--exit-only", "--", *wl]},
    "tracejob syscalls": {"kind": "wrap", "argv": tj("syscalls.yaml"), "summary": True},
    # The hash build forced (--thread-map hash): what kernels without task storage run,
    # side by side with the task storage build the plain configurations get here.
    "tracejob syscalls, hash build": {"kind": "wrap", "argv": tj("syscalls.yaml", "--thread-map", "hash"),
                                      "summary": True},
    "tracejob syscalls countOnly": {"kind": "wrap", "argv": tj("syscalls-count-only.yaml"), "summary": True},
    "tracejob syscalls, workload outside its scope": {
        "kind": "attach", "ready": "tracejob: tracing",
        "argv": lambda b, _: [str(b.tracejob), "run", str(MANIFESTS / "syscalls.yaml"), "--cgroup",
                              str(b.empty_cg), "--format", "json"]},
    "tracejob open, summary only": {"kind": "wrap", "argv": tj("open-summary.yaml"), "summary": True},
    "tracejob open, events to a file": {"kind": "wrap", "argv": tj("open-events.yaml"), "summary": True,
                                        "events_file": True},
    "tracejob open, summary only, hash build": {"kind": "wrap", "summary": True,
                                                "argv": tj("open-summary.yaml", "--thread-map", "hash")},
    "tracejob open, events to a file, hash build": {"kind": "wrap", "summary": True, "events_file": True,
                                                    "argv": tj("open-events.yaml", "--thread-map", "hash")},
    "tracejob exec, events to a file": {"kind": "wrap", "argv": tj("exec-events.yaml"), "summary": True,
                                        "events_file": True},
    "bpftrace count by syscall": {
        "kind": "wrap", "in_cgroup": True,
        "argv": bpftrace("tracepoint:raw_syscalls:sys_enter " + CG_FILTER + " { @[args->id] = count(); }")},
    "bpftrace count + latency histogram": {
        "kind": "wrap", "in_cgroup": True,
        "argv": bpftrace("tracepoint:raw_syscalls:sys_enter " + CG_FILTER + " { @start[tid] = nsecs; } "
                         "tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @n[args->id] = count(); "
                         "@lat[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]); }")},
    "bpftrace one line per open": {
        "kind": "wrap", "in_cgroup": True,
        "argv": bpftrace("tracepoint:syscalls:sys_enter_openat " + CG_FILTER
                         + ' { printf("%d %s %s\\n", pid, comm, str(args->filename)); }')},
    "bpftrace one line per exec": {
        "kind": "wrap", "in_cgroup": True,
        "argv": bpftrace("tracepoint:syscalls:sys_enter_execve " + CG_FILTER
                         + ' { printf("%d %s %s\\n", pid, comm, str(args->filename)); }')},
    "BCC syscount -p": {
        "kind": "pid", "ready": "Tracing syscalls",
        "argv": lambda b, pid: ["syscount-bpfcc", "-p", str(pid)], "env": lambda b: b.bcc_env},
    "BCC syscount -L -p (with latency)": {
        "kind": "pid", "ready": "Tracing syscalls",
        "argv": lambda b, pid: ["syscount-bpfcc", "-L", "-p", str(pid)], "env": lambda b: b.bcc_env},
    "strace -f -c": {"kind": "wrap", "argv": lambda b, wl: ["strace", "-f", "-c", "-o", str(b.tmp / "strace.out"), "--", *wl]},
    "perf trace -s": {"kind": "wrap", "argv": lambda b, wl: ["perf", "trace", "-s", "-o", str(b.tmp / "perf.out"), "--", *wl]},
}

# Tracers that cost hundreds of times the syscall run a smaller count (per-op times compare).
SLOW = {"strace -f -c", "perf trace -s"}


def workloads(args, bench):
    return [
        {"name": "getppid", "syscalls_per_op": 1,
         "args": ["getppid", args.getppid], "slow_args": ["getppid", args.getppid // 100],
         "configs": ["untraced", "floor (empty tp_btf programs)", "floor, sys_exit only", "tracejob syscalls",
                     "tracejob syscalls, hash build", "tracejob syscalls countOnly", "tracejob syscalls, workload outside its scope", "bpftrace count by syscall",
                     "bpftrace count + latency histogram", "BCC syscount -p", "BCC syscount -L -p (with latency)",
                     "strace -f -c", "perf trace -s"]},
        {"name": "open/close", "syscalls_per_op": 2,
         "args": ["open", bench.open_path, args.opens], "slow_args": ["open", bench.open_path, args.opens // 20],
         "configs": ["untraced", "floor (empty tp_btf programs)", "tracejob open, summary only",
                     "tracejob open, summary only, hash build", "tracejob open, events to a file",
                     "tracejob open, events to a file, hash build", "tracejob syscalls", "bpftrace one line per open",
                     "strace -f -c", "perf trace -s"]},
        {"name": "fork+exec /bin/true", "syscalls_per_op": None,
         "args": ["exec", "/bin/true", args.execs], "slow_args": ["exec", "/bin/true", max(1, args.execs // 10)],
         "configs": ["untraced", "floor (empty tp_btf programs)", "tracejob exec, events to a file",
                     "tracejob syscalls", "bpftrace one line per exec", "strace -f -c", "perf trace -s"]},
    ]


# --- sections ------------------------------------------------------------------------


def slowdown(bench, args):
    runs = []
    for wl in workloads(args, bench):
        configs = [c for c in wl["configs"] if not c.startswith("BCC") or bench.bcc_env]
        for round_index in range(args.rounds):
            order = configs[round_index % len(configs):] + configs[:round_index % len(configs)]
            for cpu in args.cpus:
                for name in order:
                    wl_args = wl["slow_args"] if name in SLOW else wl["args"]
                    try:
                        result = bench.run(dict(CONFIGS[name], name=name), wl_args, cpu)
                    except Exception as error:  # recorded, the bench goes on
                        log(f"{wl['name']} / {name} failed: {error}")
                        result = {"config": name, "cpu": cpu, "error": str(error)}
                    result.update(workload=wl["name"], round=round_index)
                    runs.append(result)
                    if "ns_per_op" in result:
                        log(f"{wl['name']:>20} cpu{cpu} r{round_index} {name:<46} {result['ns_per_op']:>12.1f} ns/op")
    return runs


def summarise_slowdown(runs, args, bench):
    """Per workload, configuration and CPU: median and range of the ratio to the
    untraced run of the same round and CPU."""
    table = []
    for wl in workloads(args, bench):
        base = {(r["round"], r["cpu"]): r["ns_per_op"] for r in runs
                if r["workload"] == wl["name"] and r["config"] == "untraced" and "ns_per_op" in r}
        floor = {(r["round"], r["cpu"]): r["ns_per_op"] for r in runs
                 if r["workload"] == wl["name"] and r["config"] == "floor (empty tp_btf programs)" and "ns_per_op" in r}
        for name in wl["configs"]:
            for cpu in args.cpus:
                rows = [r for r in runs if r["workload"] == wl["name"] and r["config"] == name
                        and r["cpu"] == cpu and "ns_per_op" in r and (r["round"], cpu) in base]
                if not rows:
                    continue
                ratios = [r["ns_per_op"] / base[(r["round"], cpu)] for r in rows]
                entry = {"workload": wl["name"], "config": name, "cpu": cpu, "rounds": len(rows),
                         "ns_per_op_median": statistics.median(r["ns_per_op"] for r in rows),
                         "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios)}
                if wl["syscalls_per_op"]:
                    extra = [(r["ns_per_op"] - base[(r["round"], cpu)]) / wl["syscalls_per_op"] for r in rows]
                    entry["added_ns_per_syscall_median"] = statistics.median(extra)
                vs_floor = [(r["ns_per_op"] / base[(r["round"], cpu)]) / (floor[(r["round"], cpu)] / base[(r["round"], cpu)])
                            for r in rows if (r["round"], cpu) in floor]
                if vs_floor:
                    entry["slowdown_vs_floor_median"] = statistics.median(vs_floor)
                    entry["slowdown_vs_floor_min"] = min(vs_floor)
                    entry["slowdown_vs_floor_max"] = max(vs_floor)
                rss = [r["tracer_peak_rss_kib"] for r in rows if r.get("tracer_peak_rss_kib")]
                if rss and name != "untraced":
                    entry["tracer_peak_rss_mib_max"] = round(max(rss) / 1024, 1)
                cpu_s = [r["tracer_cpu_seconds"] for r in rows if "tracer_cpu_seconds" in r]
                if cpu_s and name != "untraced":
                    entry["tracer_cpu_seconds_median"] = statistics.median(cpu_s)
                losses = [r["summary"]["lost"] for r in rows if "summary" in r]
                if losses:
                    entry["lost_max"] = max(losses)
                table.append(entry)
    return table


def accounted(counted, others, lost_kernel, lost_user, delivered, ops):
    """Every open of the workload is counted or reported lost in the kernel, and every
    counted event is delivered or reported lost on its way to the writer (`lost_user`
    events still count in the rows)."""
    ok = counted + lost_kernel >= ops and counted <= ops
    if delivered is not None:
        ok = ok and delivered + lost_user == counted + others
    return ok


def throughput(bench, args):
    """Open events delivered at increasing paced rates: the highest rate with zero loss,
    and the loss reported above it, checked against the workload's own count."""
    results = []
    seconds = args.throughput_seconds
    steps = [(rate, 1, 0) for rate in args.rates] + [(0, 1, 0), (0, 2, None)]
    for repeat in range(args.throughput_repeats):
        for manifest, label in (("open-events.yaml", "events to a file"), ("open-summary.yaml", "summary only")):
            for rate, threads, cpu in steps:
                count = int(rate * seconds) if rate else int(args.max_rate_ops)
                extra = ["--threads", str(threads)] + (["--rate", str(rate)] if rate else [])
                config = {"name": f"tracejob open, {label}", "kind": "wrap", "argv": tj(manifest), "summary": True,
                          "events_file": manifest == "open-events.yaml", "keep_rows": True}
                try:
                    r = bench.run(config, ["open", bench.open_path, count], cpu, extra)
                except Exception as error:
                    log(f"throughput {label} {rate}: {error}")
                    continue
                rows = r["summary"].pop("rows") or []
                ours = sum(row["count"] for row in rows if row["path"] == str(bench.open_path))
                others = sum(row["count"] for row in rows if row["path"] != str(bench.open_path))
                s = r["summary"]
                entry = {"output": label, "target_rate": rate or "unpaced", "threads": threads,
                         "repeat": repeat, "opens": r["ops"], "achieved_rate": round(r["ops_per_second"]),
                         "counted": ours, "other_opens": others, "lost": s["lost"],
                         "lost_kernel": s["lost_kernel"], "lost_user": s["lost_user"],
                         "delivered": r.get("event_lines", s["events"]) if label == "events to a file" else None,
                         "accounted": accounted(ours, others, s["lost_kernel"], s["lost_user"],
                                                r.get("event_lines"), r["ops"]),
                         "tracer_peak_rss_mib": round(r["tracer_peak_rss_kib"] / 1024, 1),
                         "tracer_cpu_seconds": r["tracer_cpu_seconds"], "ns_per_open_close": r["ns_per_op"]}
                results.append(entry)
                log(f"throughput {label:<16} target {entry['target_rate']!s:>8} x{threads}: "
                    f"{entry['achieved_rate']:>9}/s lost {s['lost']} (kernel {s['lost_kernel']}, user {s['lost_user']})")
    return results


def start_latency(bench, args):
    """Launch to attached (tracejob's "tracing" line) and launch to the first event,
    with a workload in the target cgroup opening a file 2,000 times a second."""
    cg = bench.make_cgroup("latency")
    report = bench.tmp / "latency-report.json"
    workload = subprocess.Popen(bench.workload_cmd(1, ["open", bench.open_path, 0], report, cg,
                                                   extra=["--rate", "2000"]))
    bpf_prog = ("tracepoint:syscalls:sys_exit_openat " + f'/cgroup == cgroupid("{cg}")/'
                + ' { printf("%d %d\\n", pid, args->ret); }')
    tools = {
        "tracejob open": {"argv": [str(bench.tracejob), "run", str(MANIFESTS / "open-events.yaml"), "--cgroup",
                                   str(cg), "--format", "json"],
                          "attached": ("stderr", "tracejob: tracing"), "first": '"type":"event"'},
        "tracejob syscalls": {"argv": [str(bench.tracejob), "run", str(MANIFESTS / "syscalls.yaml"), "--cgroup",
                                       str(cg), "--format", "json"],
                              "attached": ("stderr", "tracejob: tracing")},
        # bpftrace prints "Attaching 1 probe..." before attaching: only its first event is timed.
        "bpftrace": {"argv": ["bpftrace", "-B", "line", "-e", bpf_prog], "first": " "},
    }
    if bench.bcc_env:
        # BCC's opensnoop needs kprobes (absent here); syscount attaches tracepoints and
        # prints its banner once they are attached.
        tools["BCC syscount"] = {"argv": ["syscount-bpfcc", "-p", str(workload.pid)], "env": bench.bcc_env,
                                 "attached": ("stdout", "Tracing syscalls")}
    results = []
    try:
        for repeat in range(args.latency_repeats):
            for name, tool in tools.items():
                started = time.monotonic()
                proc = subprocess.Popen(tool["argv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=tool.get("env"), preexec_fn=default_signals)
                streams = {"stdout": proc.stdout, "stderr": proc.stderr}
                entry = {"tool": name, "repeat": repeat}
                try:
                    if "attached" in tool:
                        stream, pattern = tool["attached"]
                        wait_for_line(streams.pop(stream), pattern, 120)
                        entry["attached_ms"] = round((time.monotonic() - started) * 1000, 1)
                    if "first" in tool:
                        wait_for_line(streams.pop("stdout"), tool["first"], 60)
                        entry["first_event_ms"] = round((time.monotonic() - started) * 1000, 1)
                    for stream in streams.values():
                        threading.Thread(target=stream.read, daemon=True).start()
                    time.sleep(0.3)
                    entry["rss_mib_while_tracing"] = round((proc_status(proc.pid, "VmRSS") or 0) / 1024, 1)
                    entry["of_which_mapped_bpf_maps_mib"] = round((mapped_bpf_kib(proc.pid) or 0) / 1024, 1)
                except RuntimeError as error:
                    entry["error"] = str(error)[:300]
                stop(proc, signal.SIGINT)
                results.append(entry)
                log(f"start latency {name:<18} {entry}")
    finally:
        workload.kill()
        workload.wait()
    return results


def prog_stats(pid):
    """(run_time_ns, run_cnt) summed over the BPF programs a process holds (fdinfo)."""
    time_ns = count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            info = dict(line.split(":", 1) for line in open(f"/proc/{pid}/fdinfo/{fd}") if ":" in line)
        except OSError:
            continue
        if "prog_id" in info and "run_cnt" in info:
            time_ns += int(info["run_time_ns"])
            count += int(info["run_cnt"])
    return time_ns, count


def program_cost(bench, args):
    """Time spent inside the programs per syscall, from the kernel's own BPF statistics
    (kernel.bpf_stats_enabled, on only for this section): free of the wall-clock noise of
    the slowdown runs. The floor's empty programs give what the statistics themselves
    cost; "above empty" is the tool's own work. Target: the workload in the job's cgroup;
    outside: the same workload with the job aimed at an empty cgroup. Every syscall runs
    both programs (enter and exit), opens and closes included."""
    sysctl = Path("/proc/sys/kernel/bpf_stats_enabled")
    previous = sysctl.read_text().strip()
    cg = bench.make_cgroup("cost")
    report = bench.tmp / "cost-report.json"
    def tj_cost(manifest, *extra):
        return lambda target: [str(bench.tracejob), "run", str(MANIFESTS / manifest), "--cgroup", str(target),
                               "--format", "json", *extra]

    hash_build = ("--thread-map", "hash")

    getppid = ["getppid", args.cost_syscalls]
    opens = ["open", bench.open_path, args.cost_syscalls // 4]
    tools = [
        ("floor (empty programs)", lambda target: [str(bench.floor)], getppid),
        ("tracejob syscalls", tj_cost("syscalls.yaml"), getppid),
        ("tracejob syscalls, hash build", tj_cost("syscalls.yaml", *hash_build), getppid),
        ("tracejob open", tj_cost("open-summary.yaml"), getppid),
        ("tracejob open", tj_cost("open-summary.yaml"), opens),
        ("tracejob open, hash build", tj_cost("open-summary.yaml", *hash_build), opens),
        ("tracejob exec", tj_cost("exec-events.yaml"), getppid),
    ]
    results = []
    sysctl.write_text("1")
    try:
        for repeat in range(args.cost_repeats):
            for name, argv, wl_args in tools:
                for scope in ("target", "outside"):
                    if name.startswith("floor") and scope == "outside":
                        continue
                    proc = subprocess.Popen(argv(cg if scope == "target" else bench.empty_cg),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            preexec_fn=default_signals)
                    wait_for_line(proc.stderr, "attached" if name.startswith("floor") else "tracejob: tracing", 60)
                    before = prog_stats(proc.pid)
                    subprocess.run(bench.workload_cmd(1, wl_args, report, cg), check=True)
                    after = prog_stats(proc.pid)
                    proc.send_signal(signal.SIGINT)
                    proc.wait()
                    runs = after[1] - before[1]
                    # two program runs (enter and exit) per syscall
                    per_syscall = (after[0] - before[0]) / max(1, runs / 2)
                    workload = "getppid" if wl_args[0] == "getppid" else "open/close"
                    results.append({"tool": name, "workload": workload, "scope": scope, "repeat": repeat,
                                    "program_runs": runs, "ns_per_syscall": round(per_syscall, 1)})
                    log(f"program cost {name:<24} {workload:<10} {scope:<8} {per_syscall:6.1f} ns/syscall ({runs} runs)")
    finally:
        sysctl.write_text(previous)
    return results


def startup_breakdown(bench, args):
    """Where the start-up time goes, step by step (src/bin/start-breakdown.rs)."""
    results = []
    for tool in ("syscalls", "open", "exec"):
        out = subprocess.run([str(bench.bin / "start-breakdown"), tool, str(args.latency_repeats)],
                             capture_output=True, text=True, check=True)
        results += [json.loads(line) for line in out.stdout.splitlines()]
    return results


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent(bench, args):
    """The node agent as the operator drives it (src/bin/agent-load.rs, over gRPC): its
    memory idle and with 10 jobs, and StartJob → attached for each tool."""
    cg = bench.make_pod_cgroup()
    port = free_port()
    server = subprocess.Popen([str(bench.agent), "--insecure", "--listen", f"127.0.0.1:{port}",
                               "--node-name", "bench", "--keep-warm-seconds", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              preexec_fn=default_signals)
    try:
        wait_for_line(server.stdout, "listening on", 30)
        proc = subprocess.Popen([str(bench.agent_load), f"http://127.0.0.1:{port}", str(server.pid),
                                 str(cg.relative_to(bench.cg_mount)), str(args.jobs), str(args.latency_repeats), "4"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=default_signals)
        phases = [json.loads(proc.stdout.readline()) for _ in range(1 + 3 + 1)]
        report = bench.tmp / "agent-report.json"
        for wl_args in (["open", bench.open_path, 200000], ["getppid", 1000000], ["exec", "/bin/true", 200]):
            subprocess.run(bench.workload_cmd(None, wl_args, report, cg), check=True)
        proc.stdin.write("\n")
        proc.stdin.flush()
        phases += [json.loads(line) for line in proc.stdout]
        if proc.wait() != 0:
            raise RuntimeError(f"agent-load exited with {proc.returncode}")
    finally:
        stop(server, signal.SIGTERM)
    for phase in phases:
        log(f"agent {phase}")
    return phases


# --- the machine ---------------------------------------------------------------------


def machine():
    def first(path, key):
        try:
            for line in open(path):
                if line.startswith(key):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
        except OSError:
            return None

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    return {
        "cpu": first("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "os": first("/etc/os-release", "PRETTY_NAME"),
        "memory": first("/proc/meminfo", "MemTotal"),
        "tools": {
            "strace": version(["strace", "-V"]),
            "perf": version(["perf", "version"]),
            "bpftrace": version(["bpftrace", "--version"]),
            "bcc": version(["dpkg-query", "-W", "-f", "${Version}", "bpfcc-tools"]),
        },
    }


def bpf_programs():
    """BPF programs loaded on the host by others, by type: each one on a syscall hook
    makes every syscall dearer, ours included."""
    try:
        out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=20)
        counts = {}
        for prog in json.loads(out.stdout or "[]"):
            counts[prog.get("type", "?")] = counts.get(prog.get("type", "?"), 0) + 1
        return counts
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def cpu_stat():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields  # user nice system idle iowait irq softirq steal ...


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True, help="where tracejob, tracejob-agent, bench-workload, floor, agent-load are")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpus", type=lambda s: [int(c) for c in s.split(",")], default=[0, 1])
    parser.add_argument("--getppid", type=int, default=2_000_000)
    parser.add_argument("--opens", type=int, default=200_000)
    parser.add_argument("--execs", type=int, default=2_000)
    parser.add_argument("--rates", type=lambda s: [int(float(r)) for r in s.split(",")],
                        default=[100_000, 250_000, 500_000, 750_000, 1_000_000, 1_250_000])
    parser.add_argument("--throughput-seconds", type=float, default=1.0)
    parser.add_argument("--throughput-repeats", type=int, default=2)
    parser.add_argument("--max-rate-ops", type=float, default=1_000_000)
    parser.add_argument("--latency-repeats", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--cost-repeats", type=int, default=3)
    parser.add_argument("--cost-syscalls", type=int, default=1_000_000)
    parser.add_argument("--sections", default="slowdown,throughput,latency,agent,cost")
    parser.add_argument("--bcc-headers", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "tracejob-bench", "kernel-headers"))
    parser.add_argument("--results", default=str(BENCH / "results"))
    parser.add_argument("--from-results", help="recompute the summaries and the page from a results.json")
    args = parser.parse_args()
    if args.from_results:
        results = json.loads(Path(args.from_results).read_text())
        saved = argparse.Namespace(**dict(vars(args), **results["settings"]))
        if "slowdown_runs" in results:
            results["slowdown"] = summarise_slowdown(results["slowdown_runs"], saved, FakeBench())
        for e in results.get("throughput", []):
            e["accounted"] = accounted(e["counted"], e["other_opens"], e["lost_kernel"], e["lost_user"],
                                       e["delivered"], e["opens"])
        out = Path(args.results)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
        import report  # noqa: E402
        (out / "README.md").write_text(report.markdown(results))
        return
    if os.geteuid() != 0:
        sys.exit("bench: loads BPF programs: run as root")

    bench = Bench(args)
    sections = args.sections.split(",")
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True).stdout.strip(),
               "machine": machine(), "settings": {k: v for k, v in vars(args).items()
                                                  if k not in ("bin_dir", "bcc_headers", "results")},
               "bcc": "works (kernel headers from Debian's linux-headers via BCC_KERNEL_SOURCE)"
               if bench.bcc_env else "not available"}
    results["load_at_start"] = open("/proc/loadavg").read().split()[:3]
    results["bpf_programs_at_start"] = bpf_programs()
    stat_start, clock_start = cpu_stat(), time.monotonic()
    try:
        if "slowdown" in sections:
            results["slowdown_runs"] = slowdown(bench, args)
            results["slowdown"] = summarise_slowdown(results["slowdown_runs"], args, bench)
        if "throughput" in sections:
            results["throughput"] = throughput(bench, args)
        if "latency" in sections:
            results["start_latency"] = start_latency(bench, args)
            results["startup_breakdown"] = startup_breakdown(bench, args)
        if "agent" in sections:
            results["agent"] = agent(bench, args)
        if "cost" in sections:
            results["program_cost"] = program_cost(bench, args)
    finally:
        bench.cleanup()
    stat_end = cpu_stat()
    delta = [b - a for a, b in zip(stat_start, stat_end)]
    results["load_at_end"] = open("/proc/loadavg").read().split()[:3]
    results["bpf_programs_at_end"] = bpf_programs()
    results["seconds"] = round(time.monotonic() - clock_start)
    results["steal_percent"] = round(100 * delta[7] / max(1, sum(delta)), 2) if len(delta) > 7 else None

    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    import report  # noqa: E402  (bench/report.py, next to this file)
    (out / "README.md").write_text(report.markdown(results))
    log(f"wrote {out / 'results.json'} and {out / 'README.md'} in {results['seconds']} s")


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(BENCH))
    main()
