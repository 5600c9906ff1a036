/* uprobe: calls of one function in a user binary or library: count and latency in
 * the kernel, and each call with its first arguments and return value as an event
 * (perf probe -x, BCC trace / funclatency on user functions). String arguments are
 * read at entry, before the function can change what they point to. */
#include "common.bpf.h"

const volatile __u32 arg0_type = VALUE_NONE;
const volatile __u32 arg1_type = VALUE_NONE;
const volatile __u32 arg2_type = VALUE_NONE;
const volatile __u32 arg3_type = VALUE_NONE;
const volatile __u32 return_type = VALUE_INT;

struct call_start {
	__u64 entered_ns;
	__u64 args[UPROBE_ARGS];
	char arg_strings[UPROBE_ARGS][UPROBE_STRING_LEN];
};

/* Too large for the BPF stack: built here, then stored per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_start);
} call_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct call_start);
} calls_in_flight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latency_stats);
} call_latency SEC(".maps");

static __always_inline void read_arg(struct call_start *start, int i, __u32 type)
{
	start->arg_strings[i][0] = '\0';
	if (type == VALUE_STRING && start->args[i])
		bpf_probe_read_user_str(start->arg_strings[i], UPROBE_STRING_LEN, (void *)start->args[i]);
}

SEC("uprobe")
int BPF_KPROBE(call_entry, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3)
{
	if (!is_target())
		return 0;
	__u32 zero = 0;
	struct call_start *start = bpf_map_lookup_elem(&call_scratch, &zero);
	if (!start)
		return 0;
	start->entered_ns = bpf_ktime_get_ns();
	start->args[0] = a0;
	start->args[1] = a1;
	start->args[2] = a2;
	start->args[3] = a3;
	read_arg(start, 0, arg0_type);
	read_arg(start, 1, arg1_type);
	read_arg(start, 2, arg2_type);
	read_arg(start, 3, arg3_type);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&calls_in_flight, &tid, start, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(call_return, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct call_start *start = bpf_map_lookup_elem(&calls_in_flight, &tid);
	if (!start)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 latency = now - start->entered_ns;
	__u32 zero = 0;
	struct latency_stats *stats = bpf_map_lookup_elem(&call_latency, &zero);
	if (stats) {
		stats->count += 1;
		record_latency(stats, latency);
	}
	struct call_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost();
		goto done;
	}
	event->cgroup_id = bpf_get_current_cgroup_id();
	event->timestamp_ns = now;
	event->latency_ns = latency;
	event->ret = ret;
	event->pid = pid_tgid >> 32;
	event->tid = tid;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_probe_read_kernel(event->args, sizeof(event->args), start->args);
	bpf_probe_read_kernel(event->arg_strings, sizeof(event->arg_strings), start->arg_strings);
	event->ret_string[0] = '\0';
	if (return_type == VALUE_STRING && ret)
		bpf_probe_read_user_str(event->ret_string, sizeof(event->ret_string), (void *)ret);
	submit_event(event);
done:
	bpf_map_delete_elem(&calls_in_flight, &tid);
	return 0;
}
