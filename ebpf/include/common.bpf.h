/* Maps and helpers every tracejob program shares: cgroup scoping, the config
 * entry, the event ring buffer with batched wake-ups, and lost-event counting. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tracejob.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tracejob_config);
} job_config SEC(".maps");

/* Cgroup v2 ids of the targets; a task is traced when it or one of its ancestor
 * cgroups is in here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} target_cgroups SEC(".maps");

/* Events the ring buffer had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

static __always_inline struct tracejob_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&job_config, &zero);
}

/* 1: the kernel does not let tracing programs call bpf_get_current_ancestor_cgroup_id
 * (5.10 and older): the current task's ancestry is read with CO-RE instead. Set by the
 * loader from a probe of the running kernel; 0 keeps the helper's faster path, and the
 * verifier drops the branch not taken. */
const volatile __u32 cgroup_walk = 0;

/* struct cgroup before 6.0 kept its ancestors' ids inline; newer kernels keep pointers. */
struct cgroup___ancestor_ids {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/* The id of cgrp's ancestor at `level` (level <= cgrp's depth), or 0. */
static __always_inline __u64 cgroup_ancestor_id(struct cgroup *cgrp, int level)
{
	__u64 id = 0;
	if (bpf_core_field_exists(struct cgroup___ancestor_ids, ancestor_ids)) {
		struct cgroup___ancestor_ids *old = (void *)cgrp;
		bpf_core_read(&id, sizeof(id), &old->ancestor_ids[level]);
		return id;
	}
	struct cgroup *ancestor = NULL;
	bpf_core_read(&ancestor, sizeof(ancestor), &cgrp->ancestors[level]);
	if (ancestor)
		id = BPF_CORE_READ(ancestor, kn, id);
	return id;
}

/* The same check for a cgroup other than the current task's (a woken task, a
 * socket's owner): walks its ancestors at the levels that hold targets. */
static __always_inline bool cgroup_is_target(struct cgroup *cgrp)
{
	struct tracejob_config *cfg = get_config();
	if (!cfg)
		return false;
	if (cfg->trace_all)
		return true;
	if (!cgrp)
		return false;
	int depth = BPF_CORE_READ(cgrp, level);
	__u32 mask = cfg->level_mask;
	for (int level = 0; level < MAX_CGROUP_LEVELS; level++) {
		if (!(mask & (1u << level)) || level > depth)
			continue;
		__u64 id = cgroup_ancestor_id(cgrp, level);
		if (id && bpf_map_lookup_elem(&target_cgroups, &id))
			return true;
	}
	return false;
}

/* The cgroup a socket belongs to: a pointer since 5.15; before, a word that holds the
 * pointer unless one of its low bits is set (then, and when 0, the root cgroup: NULL). */
struct sock_cgroup_data___val {
	__u64 val;
} __attribute__((preserve_access_index));
struct sock___val {
	struct sock_cgroup_data___val sk_cgrp_data;
} __attribute__((preserve_access_index));

static __always_inline struct cgroup *sock_cgroup(const struct sock *sk)
{
	if (bpf_core_field_exists(struct sock_cgroup_data, cgroup))
		return BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	__u64 val = BPF_CORE_READ((struct sock___val *)sk, sk_cgrp_data.val);
	return val & 3 ? NULL : (struct cgroup *)val;
}

static __always_inline bool task_is_target(struct task_struct *task)
{
	return cgroup_is_target(BPF_CORE_READ(task, cgroups, dfl_cgrp));
}

static __always_inline bool is_target(void)
{
	if (cgroup_walk)
		return task_is_target((struct task_struct *)bpf_get_current_task());
	struct tracejob_config *cfg = get_config();
	if (!cfg)
		return false;
	if (cfg->trace_all)
		return true;
	__u32 mask = cfg->level_mask;
	for (int level = 0; level < MAX_CGROUP_LEVELS; level++) {
		if (!(mask & (1u << level)))
			continue;
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (bpf_map_lookup_elem(&target_cgroups, &id))
			return true;
	}
	return false;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&lost_events, &zero);
	if (lost)
		*lost += 1;
}

/* bucket = number of significant bits of v, capped at the last bucket:
 * bucket i holds [2^(i-1), 2^i) */
static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 bucket = 0;
	if (v >> 32) { v >>= 32; bucket += 32; }
	if (v >> 16) { v >>= 16; bucket += 16; }
	if (v >> 8) { v >>= 8; bucket += 8; }
	if (v >> 4) { v >>= 4; bucket += 4; }
	if (v >> 2) { v >>= 2; bucket += 2; }
	if (v >> 1) { v >>= 1; bucket += 1; }
	bucket += v;
	return bucket < HIST_BUCKETS ? bucket : HIST_BUCKETS - 1;
}

/* Adds one timed sample to a per-CPU latency_stats entry (the count is the caller's). */
static __always_inline void record_latency(struct latency_stats *stats, __u64 ns)
{
	stats->total_ns += ns;
	if (ns > stats->max_ns)
		stats->max_ns = ns;
	stats->hist[log2_bucket(ns)] += 1;
}

/* Waking user space per event costs 2-3x on syscall-heavy workloads: wake it only
 * when enough data waits; a short timer in the reader drains the rest. */
static __always_inline void submit_event(void *event)
{
	struct tracejob_config *cfg = get_config();
	__u64 threshold = cfg ? cfg->wakeup_bytes : 0;
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(event, waiting >= threshold ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Syscall arguments come from pt_regs (tp_btf, raw tracepoint) or from the classic
 * tracepoint's record; `tp_args` is NULL in the first case. Always inlined, so each
 * attach flavour compiles to straight-line code. */
static __always_inline unsigned long syscall_arg(struct pt_regs *regs, const unsigned long *tp_args, int n)
{
	if (tp_args)
		return tp_args[n];
	switch (n) {
	case 0: return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 1: return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 2: return PT_REGS_PARM3_CORE_SYSCALL(regs);
	default: return PT_REGS_PARM4_CORE_SYSCALL(regs);
	}
}

static __always_inline long syscall_nr_at_exit(struct pt_regs *regs)
{
	return BPF_CORE_READ(regs, orig_ax);
}

/* Each tool defines on_sys_enter(id, regs, tp_args) and on_sys_exit(id, ret); this
 * emits one entry point per attach flavour, in the order user space tries them. */
#define TRACEJOB_SYSCALL_HOOKS                                                      \
	SEC("tp_btf/sys_enter")                                                    \
	int BPF_PROG(enter_tp_btf, struct pt_regs *regs, long id)                  \
	{                                                                          \
		return on_sys_enter(id, regs, NULL);                               \
	}                                                                          \
	SEC("tp_btf/sys_exit")                                                     \
	int BPF_PROG(exit_tp_btf, struct pt_regs *regs, long ret)                  \
	{                                                                          \
		return on_sys_exit(syscall_nr_at_exit(regs), ret);                 \
	}                                                                          \
	SEC("raw_tracepoint/sys_enter")                                            \
	int BPF_PROG(enter_raw_tp, struct pt_regs *regs, long id)                  \
	{                                                                          \
		return on_sys_enter(id, regs, NULL);                               \
	}                                                                          \
	SEC("raw_tracepoint/sys_exit")                                             \
	int BPF_PROG(exit_raw_tp, struct pt_regs *regs, long ret)                  \
	{                                                                          \
		return on_sys_exit(syscall_nr_at_exit(regs), ret);                 \
	}                                                                          \
	SEC("tracepoint/raw_syscalls/sys_enter")                                   \
	int enter_tracepoint(struct trace_event_raw_sys_enter *ctx)                \
	{                                                                          \
		return on_sys_enter(ctx->id, NULL, ctx->args);                     \
	}                                                                          \
	SEC("tracepoint/raw_syscalls/sys_exit")                                    \
	int exit_tracepoint(struct trace_event_raw_sys_exit *ctx)                  \
	{                                                                          \
		return on_sys_exit(ctx->id, ctx->ret);                             \
	}
