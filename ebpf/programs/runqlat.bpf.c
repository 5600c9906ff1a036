/* runqlat: how long runnable tasks of the targets wait for a CPU, from wake-up (or
 * preemption) to running, as a log2 histogram (BCC runqlat). */
#include "common.bpf.h"

#define TASK_RUNNING 0

/* When each waiting thread of a target became runnable, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} runnable_since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latency_stats);
} runq_latency SEC(".maps");

/* task_struct's state was `state` before 5.14. */
struct task_struct___state {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___state *)task, state);
}

static __always_inline void mark_runnable(struct task_struct *task)
{
	if (!task_is_target(task))
		return;
	__u32 tid = BPF_CORE_READ(task, pid);
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&runnable_since, &tid, &now, BPF_ANY);
}

static __always_inline int on_wakeup(struct task_struct *task)
{
	mark_runnable(task);
	return 0;
}

static __always_inline int on_switch(struct task_struct *prev, struct task_struct *next)
{
	/* a task preempted while runnable waits again from now */
	if (task_state(prev) == TASK_RUNNING)
		mark_runnable(prev);
	__u32 tid = BPF_CORE_READ(next, pid);
	__u64 *since = bpf_map_lookup_elem(&runnable_since, &tid);
	if (!since)
		return 0;
	__u64 waited = bpf_ktime_get_ns() - *since;
	bpf_map_delete_elem(&runnable_since, &tid);
	__u32 zero = 0;
	struct latency_stats *stats = bpf_map_lookup_elem(&runq_latency, &zero);
	if (!stats)
		return 0;
	stats->count += 1;
	record_latency(stats, waited);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup_tp_btf, struct task_struct *task)
{
	return on_wakeup(task);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new_tp_btf, struct task_struct *task)
{
	return on_wakeup(task);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev, next);
}

SEC("raw_tracepoint/sched_wakeup")
int BPF_PROG(wakeup_raw_tp, struct task_struct *task)
{
	return on_wakeup(task);
}

SEC("raw_tracepoint/sched_wakeup_new")
int BPF_PROG(wakeup_new_raw_tp, struct task_struct *task)
{
	return on_wakeup(task);
}

SEC("raw_tracepoint/sched_switch")
int BPF_PROG(switch_raw_tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev, next);
}
