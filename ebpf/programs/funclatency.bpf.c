/* funclatency / funccount: count and latency of one kernel function (BCC funclatency,
 * funccount, ftrace's function profiler). The same bodies come in two attach flavours:
 * fentry/fexit (BTF trampolines: cheapest) and kprobe/kretprobe. The function itself is
 * chosen when user space loads or attaches the programs. */
#include "common.bpf.h"

/* 1: funccount: count calls at entry and attach no exit program. */
const volatile __u32 count_only = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} entered_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latency_stats);
} func_latency SEC(".maps");

static __always_inline struct latency_stats *stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&func_latency, &zero);
}

static __always_inline int on_entry(void)
{
	if (!is_target())
		return 0;
	if (count_only) {
		struct latency_stats *s = stats();
		if (s)
			s->count += 1;
		return 0;
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&entered_at, &tid, &now, BPF_ANY);
	return 0;
}

static __always_inline int on_return(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *entered = bpf_map_lookup_elem(&entered_at, &tid);
	if (!entered)
		return 0;
	__u64 latency = bpf_ktime_get_ns() - *entered;
	bpf_map_delete_elem(&entered_at, &tid);
	struct latency_stats *s = stats();
	if (s) {
		s->count += 1;
		record_latency(s, latency);
	}
	return 0;
}

SEC("fentry")
int BPF_PROG(entry_fentry)
{
	return on_entry();
}

SEC("fexit")
int BPF_PROG(return_fexit)
{
	return on_return();
}

SEC("kprobe")
int BPF_KPROBE(entry_kprobe)
{
	return on_entry();
}

SEC("kretprobe")
int BPF_KRETPROBE(return_kretprobe)
{
	return on_return();
}
