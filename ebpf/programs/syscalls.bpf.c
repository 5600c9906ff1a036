/* syscalls: per-syscall count, errors and latency histogram, aggregated in the
 * kernel (what strace -c and perf trace -s report, without ptrace). */
#include "common.bpf.h"
#include "syscall_nr.h"
#include "task_storage.bpf.h"

/* 1: count only the syscalls marked in syscall_filter. */
const volatile __u32 filter_syscalls = 0;
/* 1: no latency: only the exit hook is attached, and counts there. */
const volatile __u32 count_only = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u8);
} syscall_filter SEC(".maps");

/* Entry time of the syscall a thread has in flight (0: none). */
#ifdef TRACEJOB_TASK_STORAGE
TASK_STORAGE_MAP(syscall_start, __u64);

static __always_inline void save_start(__u64 now)
{
	__u64 *start = current_task_value(&syscall_start, true);
	if (start)
		*start = now;
}

static __always_inline __u64 *saved_start(void)
{
	return current_task_value(&syscall_start, false);
}
#else
/* By thread id. Entries are reused rather than inserted and deleted on every syscall;
 * the LRU evicts the entries of threads that are gone. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} syscall_start SEC(".maps");

static __always_inline void save_start(__u64 now)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *start = bpf_map_lookup_elem(&syscall_start, &tid);
	if (start)
		*start = now;
	else
		bpf_map_update_elem(&syscall_start, &tid, &now, BPF_ANY);
}

static __always_inline __u64 *saved_start(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&syscall_start, &tid);
}
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct latency_stats);
} syscall_stats SEC(".maps");

static __always_inline bool selected(__u32 nr)
{
	if (!filter_syscalls)
		return true;
	__u8 *on = bpf_map_lookup_elem(&syscall_filter, &nr);
	return on && *on;
}

static __always_inline int on_sys_enter(long id, struct pt_regs *regs, const unsigned long *tp_args)
{
	__u32 nr = id;
	if (id < 0 || nr >= MAX_SYSCALLS || !selected(nr) || !is_target())
		return 0;
	/* these never return: counted here, as there is no exit to count them at */
	if (nr == NR_exit || nr == NR_exit_group) {
		struct latency_stats *stats = bpf_map_lookup_elem(&syscall_stats, &nr);
		if (stats)
			stats->count += 1;
		return 0;
	}
	save_start(bpf_ktime_get_ns());
	return 0;
}

static __always_inline int count_at_exit(long id, long ret)
{
	__u32 nr = id;
	if (id < 0 || nr >= MAX_SYSCALLS || !selected(nr) || !is_target())
		return 0;
	struct latency_stats *stats = bpf_map_lookup_elem(&syscall_stats, &nr);
	if (!stats)
		return 0;
	stats->count += 1;
	if (ret < 0 && ret >= -4095)
		stats->errors += 1;
	return 0;
}

static __always_inline int on_sys_exit(long id, long ret)
{
	if (count_only)
		return count_at_exit(id, ret);
	__u64 *start = saved_start();
	if (!start || !*start)
		return 0;
	__u64 latency = bpf_ktime_get_ns() - *start;
	*start = 0;
	__u32 nr = id;
	if (id < 0 || nr >= MAX_SYSCALLS)
		return 0;
	struct latency_stats *stats = bpf_map_lookup_elem(&syscall_stats, &nr);
	if (!stats)
		return 0;
	stats->count += 1;
	if (ret < 0 && ret >= -4095)
		stats->errors += 1;
	record_latency(stats, latency);
	return 0;
}

TRACEJOB_SYSCALL_HOOKS
