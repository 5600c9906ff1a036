"""Turns bench/results/results.json into the Markdown page bench/results/README.md.

    python3 bench/report.py bench/results/results.json > bench/results/README.md
"""

import json
import statistics
import sys


def fmt_ratio(value):
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def fmt_ns(value):
    if value is None:
        return "–"
    if value >= 100_000:
        return f"{value / 1000:,.0f} µs"
    if value >= 10_000:
        return f"{value / 1000:.1f} µs"
    return f"{value:,.0f} ns"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def targets(r):
    """Issue 6's targets, checked against this run: (target, measured, met)."""
    rows = []
    slow = r.get("slowdown", [])

    def entry(workload, config, cpu):
        return next((e for e in slow if e["workload"] == workload and e["config"] == config and e["cpu"] == cpu), None)

    def hash_build(workload, config, cpu, key):
        """The same figure for the hash build (`--thread-map hash`), when this run has it."""
        e = entry(workload, f"{config}, hash build", cpu)
        return f" (hash build: {fmt_ratio(e[key])})" if e and key in e else ""

    floor = "floor (empty tp_btf programs)"
    for cpu in r["settings"]["cpus"]:
        # Counting is countOnly (counts and errors at sys_exit, as BCC syscount and the
        # bpftrace count one-liner); the default adds a latency histogram, compared with the
        # peers that measure latency too.
        for config, label, peers in (
                ("tracejob syscalls countOnly", "counting syscalls (countOnly)",
                 ("BCC syscount -p", "bpftrace count by syscall")),
                ("tracejob syscalls", "counting syscalls with latency (the default)",
                 ("BCC syscount -L -p (with latency)", "bpftrace count + latency histogram"))):
            tj = entry("getppid", config, cpu)
            if not tj or "slowdown_vs_floor_median" not in tj:
                continue
            rows.append((f"{label} ≤ 1.1x the floor's slowdown (CPU {cpu})",
                         f"{tj['slowdown_vs_floor_median']:.2f}x the floor's ({fmt_ratio(tj['ratio_median'])} vs "
                         f"{fmt_ratio(entry('getppid', floor, cpu)['ratio_median'])})",
                         tj["slowdown_vs_floor_median"] <= 1.1))
            for peer in peers:
                other = entry("getppid", peer, cpu)
                if other:
                    rows.append((f"{label} cheaper than {peer} (CPU {cpu})",
                                 f"{fmt_ratio(tj['ratio_median'])} vs {fmt_ratio(other['ratio_median'])}",
                                 tj["ratio_median"] < other["ratio_median"]))
    if "throughput" in r:
        clean = [e["achieved_rate"] for e in r["throughput"] if e["output"] == "events to a file" and e["lost"] == 0]
        best = max(clean, default=0)
        rows.append(("open events streamed with zero loss ≥ 1,000,000/s", f"{best:,}/s (the most this machine's "
                     "traced loop produced)" if all(e["lost"] == 0 for e in r["throughput"]) else f"{best:,}/s",
                     best >= 1_000_000))
    for cpu in r["settings"]["cpus"]:
        e = entry("open/close", "tracejob open, events to a file", cpu)
        if e:
            rows.append((f"open events to a file ≤ 1.5x on the open/close loop (CPU {cpu})",
                         fmt_ratio(e["ratio_median"]) + hash_build("open/close", "tracejob open, events to a file",
                                                                   cpu, "ratio_median"),
                         e["ratio_median"] <= 1.5))
    # Issue 19's goal for the default syscalls tool, with task storage where the kernel has it.
    for cpu in r["settings"]["cpus"]:
        tj = entry("getppid", "tracejob syscalls", cpu)
        if tj and "slowdown_vs_floor_median" in tj:
            rows.append((f"counting syscalls with latency (the default) ≤ 1.3x the floor's slowdown (#19) (CPU {cpu})",
                         f"{tj['slowdown_vs_floor_median']:.2f}x the floor's"
                         + hash_build("getppid", "tracejob syscalls", cpu, "slowdown_vs_floor_median"),
                         tj["slowdown_vs_floor_median"] <= 1.3))
    lat = [e["attached_ms"] for e in r.get("start_latency", []) if e["tool"].startswith("tracejob") and "attached_ms" in e]
    if lat:
        rows.append(("launch to programs attached < 30 ms: `tracejob run`", f"median {median(lat):.0f} ms (min {min(lat):.0f})",
                     median(lat) < 30))
    agent_starts = [ms for p in r.get("agent", []) if p["phase"] == "start latency" for ms in p["runs_ms"][1:]]
    if agent_starts:
        rows.append(("launch to programs attached < 30 ms: the agent's StartJob (after its first job)",
                     f"median {median(agent_starts):.0f} ms (min {min(agent_starts):.0f}, max {max(agent_starts):.0f})",
                     median(agent_starts) < 30))
    rss = [e["rss_mib_while_tracing"] for e in r.get("start_latency", [])
           if e["tool"].startswith("tracejob") and e.get("rss_mib_while_tracing")]
    if rss:
        rows.append(("the CLI < 30 MiB resident while tracing", f"up to {max(rss):.1f} MiB", max(rss) < 30))
    if r.get("agent"):
        idle = r["agent"][0]["memory"]["rss_kib"] / 1024
        again = next((p["memory"]["rss_kib"] / 1024 for p in r["agent"] if p["phase"] == "idle again"), None)
        worst = max(idle, again or 0)
        rows.append(("an idle agent < 20 MiB", f"{idle:.1f} MiB at start" + (
            f", {again:.1f} MiB idle again after 10 jobs" if again is not None else ""), worst < 20))
    return rows


def markdown(r):
    m = r["machine"]
    s = r["settings"]
    out = []
    w = out.append
    w("# tracejob benchmarks: results\n")
    w(f"Measured {r['date']} at commit `{r['commit']}` by `make bench` ([harness](../run.py), "
      f"[what is measured and how](../README.md)).\n")
    w("| machine | |\n| --- | --- |")
    w(f"| CPU | {m['cpu']}, {m['cpus']} vCPUs |")
    w(f"| kernel | {m['kernel']} |")
    w(f"| OS | {m['os']}, {m['memory']} |")
    tools = ", ".join(f"{k} {v}" for k, v in m["tools"].items() if v)
    w(f"| peers | {tools} |")
    w(f"| BCC | {r['bcc']} |")
    w(f"| load average (1, 5, 15 min) | {' '.join(r['load_at_start'])} at start, "
      f"{' '.join(r['load_at_end'])} at the end; steal {r.get('steal_percent')} % |")
    w(f"| run | {s['rounds']} interleaved rounds per CPU {s['cpus']}, {r['seconds']} s in all |")
    w("")

    checks = targets(r)
    if checks:
        w("## Issue 6's (and #19's) targets on this run\n")
        w("| target | measured | met |")
        w("| --- | --- | :---: |")
        for target, measured, met in checks:
            w(f"| {target} | {measured} | {'not measurable yet' if met is None else 'yes' if met else '**no**'} |")
        w("")

    if "slowdown" in r:
        w("## Slowdown of the traced program\n")
        w("Traced time / untraced time of the same workload in the same round on the same CPU "
          "(the workload is pinned with `taskset` and times its own loop). Median, and the range "
          f"over {s['rounds']} rounds in brackets. *Added* is the extra time per syscall over "
          "the untraced run. *vs floor* divides the slowdown by that of empty programs on the "
          "same hooks in the same round: 1.00x means costing no more than being attached at all. "
          f"strace and perf trace run 1/100 (getppid), 1/20 (open) or 1/10 (exec) of the count; "
          "per-operation times compare.\n")
        cpus = s["cpus"]
        for workload in dict.fromkeys(e["workload"] for e in r["slowdown"]):
            entries = [e for e in r["slowdown"] if e["workload"] == workload]
            counts = {"getppid": s["getppid"], "open/close": s["opens"], "fork+exec /bin/true": s["execs"]}
            w(f"### {workload} × {counts.get(workload, ''):,}\n")
            head = "| tracer |" + "".join(f" CPU {c} slowdown | CPU {c} added/syscall | CPU {c} vs floor |" for c in cpus)
            head += " tracer peak RSS | tracer CPU s |"
            w(head)
            w("| --- |" + " ---: | ---: | ---: |" * len(cpus) + " ---: | ---: |")
            for config in dict.fromkeys(e["config"] for e in entries):
                row = f"| {config} |"
                rss, tcpu = [], []
                for c in cpus:
                    e = next((e for e in entries if e["config"] == config and e["cpu"] == c), None)
                    if not e:
                        row += " – | – | – |"
                        continue
                    if config == "untraced":
                        row += f" {fmt_ns(e['ns_per_op_median'])}/op | | |"
                        continue
                    row += (f" **{fmt_ratio(e['ratio_median'])}** ({fmt_ratio(e['ratio_min'])}–"
                            f"{fmt_ratio(e['ratio_max'])}) |")
                    row += f" {fmt_ns(e.get('added_ns_per_syscall_median'))} |"
                    row += (f" {fmt_ratio(e.get('slowdown_vs_floor_median'))} |"
                            if "slowdown_vs_floor_median" in e and not config.startswith("floor (") else " |")
                    rss.append(e.get("tracer_peak_rss_mib_max"))
                    tcpu.append(e.get("tracer_cpu_seconds_median"))
                rss_v = max((v for v in rss if v is not None), default=None)
                tcpu_v = median(tcpu)
                row += f" {rss_v} MiB |" if rss_v is not None else " |"
                # perf trace's own rusage misses part of its child's: no figure rather than a negative one
                row += f" {tcpu_v:.2f} |" if tcpu_v is not None and tcpu_v >= 0 else " – |"
                w(row)
            w("")
        checked = [x for x in r.get("slowdown_runs", []) if "counted_ops" in x]
        wrong = [x for x in checked if x["counted_ops"] < x["ops"] or x["summary"]["lost"]]
        if checked:
            w(f"Every tracejob run is checked against the workload's own count: {len(checked) - len(wrong)} of "
              f"{len(checked)} counted every operation with nothing lost"
              + (": " + "; ".join(sorted({f'{x["workload"]} / {x["config"]}' for x in wrong})) if wrong else ".")
              + " (The syscalls tool counts the openat/execve of the loader too, hence ≥.)\n")
        errors = [x for x in r.get("slowdown_runs", []) if "error" in x]
        if errors:
            w(f"{len(errors)} run(s) failed and are left out: "
              + "; ".join(sorted({f'{x["workload"]} / {x["config"]}' for x in errors})) + ".\n")

    if "throughput" in r:
        w("## Open events: throughput and loss\n")
        w("`tracejob run` with the open tool on a paced open/close loop (one thread pinned to CPU 0, "
          f"or two unpinned threads), {s['throughput_seconds']} s per step. *Delivered* are event "
          "lines written to the file; *lost* is what tracejob reported (kernel ring buffer full + "
          "user-space queue full); *accounted* checks that every open of the workload was counted or reported lost in the kernel, "
          "and every counted event delivered or reported lost on the way to the writer (delivered "
          "includes the 35 opens of the loader and taskset). *Tracer CPU per event* is the tracer's user + system time over "
          "the events: what the reader, the decoding and the JSON writer cost.\n")
        w("| output | target rate | threads | achieved opens/s | delivered | lost (kernel + user) | accounted | workload ns per open+close | tracer CPU per event | tracer peak RSS |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: |")
        for e in r["throughput"]:
            target = e["target_rate"] if isinstance(e["target_rate"], str) else f"{e['target_rate']:,}/s"
            delivered = f"{e['delivered']:,}" if e["delivered"] is not None else "(counted only)"
            w(f"| {e['output']} | {target} | {e['threads']} | {e['achieved_rate']:,} | {delivered} | "
              f"{e['lost']:,} ({e['lost_kernel']:,} + {e['lost_user']:,}) | {'yes' if e['accounted'] else '**no**'} | "
              f"{e['ns_per_open_close']:,.0f} | {1e6 * e['tracer_cpu_seconds'] / max(1, e['opens']):.2f} µs | "
              f"{e['tracer_peak_rss_mib']} MiB |")
        w("")
        for label in ("events to a file", "summary only"):
            clean = [e["achieved_rate"] for e in r["throughput"] if e["output"] == label and e["lost"] == 0]
            lossy = [e for e in r["throughput"] if e["output"] == label and e["lost"] > 0]
            steps = [e for e in r["throughput"] if e["output"] == label]
            line = f"- {label}: highest rate with zero loss {max(clean, default=0):,} opens/s"
            if lossy:
                worst = max(lossy, key=lambda e: e["lost"] / max(1, e["opens"]))
                line += (f"; loss in {len(lossy)} of {len(steps)} steps, the worst {worst['lost']:,} of "
                         f"{worst['opens']:,} ({100 * worst['lost'] / worst['opens']:.1f} %, kernel "
                         f"{worst['lost_kernel']:,} + user {worst['lost_user']:,}) at {worst['achieved_rate']:,}/s")
            else:
                line += "; no loss at any rate tried"
            w(line)
        w("")

    if "start_latency" in r:
        w("## Start latency\n")
        w("From launching the tracer to its programs being attached (tracejob prints a line then) and "
          "to the first event printed, while a workload in the target cgroup opens a file 2,000 "
          "times a second. Median (min–max) over the repeats. bpftrace and BCC print nothing "
          "at attach time that can be trusted, so only their first event is timed.\n")
        w("| tracer | launch → attached | launch → first event | resident while tracing | of which BPF maps mapped in |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for tool in dict.fromkeys(e["tool"] for e in r["start_latency"]):
            es = [e for e in r["start_latency"] if e["tool"] == tool]

            def cell(key):
                v = [e[key] for e in es if key in e]
                return f"{median(v):.1f} ms ({min(v):.1f}–{max(v):.1f})" if v else "–"

            rss = [e["rss_mib_while_tracing"] for e in es if e.get("rss_mib_while_tracing")]
            mapped = [e.get("of_which_mapped_bpf_maps_mib") for e in es if e.get("rss_mib_while_tracing")]
            w(f"| {tool} | {cell('attached_ms')} | {cell('first_event_ms')} | "
              f"{f'{median(rss):.1f} MiB' if rss else '–'} | {f'{median(mapped):.1f} MiB' if median(mapped) is not None else '–'} |")
        w("")

    if "program_cost" in r:
        w("## Time inside the programs per syscall (kernel BPF statistics)\n")
        w("`kernel.bpf_stats_enabled` makes the kernel time every program run; this section turns it "
          "on, runs getppid on CPU 1 and divides the programs' run time by the syscalls. Unlike "
          "wall-clock ratios it is not disturbed by the rest of the machine. The statistics add "
          "their own clock reads to each run, which the floor's empty programs show; *above "
          "empty* is the tool's own work. *Outside* is the cost a job puts on processes it does "
          "not trace (the job aimed at an empty cgroup). The attach trampoline itself is not "
          "included: that is the floor's wall-clock slowdown above.\n")
        w("| programs | workload | scope | ns per syscall | above empty |")
        w("| --- | --- | --- | ---: | ---: |")
        costs = r["program_cost"]
        empty = median([c["ns_per_syscall"] for c in costs if c["tool"].startswith("floor")])
        for tool, workload in dict.fromkeys((c["tool"], c["workload"]) for c in costs):
            for scope in ("target", "outside"):
                v = median([c["ns_per_syscall"] for c in costs
                            if c["tool"] == tool and c["workload"] == workload and c["scope"] == scope])
                if v is None:
                    continue
                above = "" if tool.startswith("floor") or empty is None else f"{v - empty:.1f} ns"
                w(f"| {tool} | {workload} | {scope} | {v:.1f} ns | {above} |")
        w("")

    if r.get("startup_breakdown"):
        w("Where tracejob's start-up goes (`start-breakdown`, the engine's steps timed one by one; "
          "median over the repeats):\n")
        w("| tool | loader (BTF parse, maps, CO-RE) | second BTF parse, for attaching | tp_btf program loads (verifier) | attach | whole job start, loader and BTF reused (a long-lived agent) |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        for tool in dict.fromkeys(e["tool"] for e in r["startup_breakdown"]):
            es = [e for e in r["startup_breakdown"] if e["tool"] == tool]

            def ms(key):
                return f"{median([e[key] for e in es]):.1f} ms"

            w(f"| {tool} | {ms('loader_with_its_own_btf_parse_ms')} | {ms('btf_parse_ms')} | "
              f"{ms('tp_btf_program_loads_ms')} | {ms('attach_ms')} | {ms('job_start_with_reused_loader_and_btf_ms')} |")
        w("")

    if r.get("agent"):
        w("## The node agent, driven over gRPC as the operator drives it\n")
        w("`tracejob-agent --insecure` on loopback, driven by `agent-load` (the TLS handshake happens "
          "once per connection, so it is left out). *StartJob → attached*: the agent replies once "
          "the job's programs are attached; the first job of the process also parses the kernel's "
          "BTF, later ones reuse it.\n")
        w("| tool | first StartJob | later StartJobs, median (min–max) |")
        w("| --- | ---: | ---: |")
        for p in r["agent"]:
            if p["phase"] == "start latency":
                runs = p["runs_ms"]
                later = runs[1:] or runs
                w(f"| {p['tool']} | {runs[0]:.1f} ms | {median(later):.1f} ms ({min(later):.1f}–{max(later):.1f}) |")
        w("")
        w("Memory: idle, then with 10 jobs (syscalls, open and exec in turn) on one cgroup with the "
          "event tools' streams drained, under a workload, stopped, forgotten, and idle again after the agent "
          "gave back the kernel BTF it keeps for fast starts (`--keep-warm-seconds 2` here, 60 by default). BPF map memory is "
          "kernel memory (charged to the memory cgroup); the ring buffers are also mapped into the "
          "process (their data area twice), so that part shows in the resident set too, in its own column.\n")
        w("| phase | jobs | resident | of which BPF maps mapped in | resident without them | peak resident | BPF maps | BPF map kernel memory | events delivered |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for p in r["agent"]:
            if p["phase"] == "start latency":
                continue
            mem = p["memory"]
            mapped = mem.get("rss_of_mapped_bpf_maps_kib", 0)
            w(f"| {p['phase']} | {p.get('jobs', '')} | {mem['rss_kib'] / 1024:.1f} MiB | {mapped / 1024:.1f} MiB | "
              f"{(mem['rss_kib'] - mapped) / 1024:.1f} MiB | "
              f"{mem['peak_rss_kib'] / 1024:.1f} MiB | {mem['bpf_maps']} | {mem['bpf_map_kib'] / 1024:.1f} MiB | "
              f"{p.get('events_delivered', '')} |")
        w("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(json.load(open(sys.argv[1]))))
