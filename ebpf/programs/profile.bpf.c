/* profile: on-CPU stack sampling of the targets (perf record -g, BCC profile). Attached
 * to a software cpu-clock perf event on every CPU; each sample of a target task counts
 * its (thread, comm, user stack, kernel stack) in the kernel. Samples that cannot be
 * stored (stack map or count map full) are counted as lost, never silently dropped. */
#include "common.bpf.h"

#define EFAULT 14
#define EEXIST 17

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_STACK_DEPTH * sizeof(__u64));
} profile_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 40960);
	__type(key, struct profile_key);
	__type(value, __u64);
} profile_counts SEC(".maps");

/* The address space each sampled process had when user space was last told about it
 * (low bit: told by a sample taken in user mode): a new process or an exec (a new mm)
 * sends a profile_process record, and so does its first user-mode sample. A sample in
 * the kernel can land inside execve after the new mm is in place but before the binary
 * is mapped: maps read then lack it, and a short-lived process's frames stayed hex. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} profile_seen SEC(".maps");

static __always_inline void announce_process(__u32 tgid, bool in_user_mode)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 mm = (__u64)BPF_CORE_READ(task, mm);
	if (!mm)
		return; /* kernel thread: nothing to symbolise in user space */
	__u64 *seen = bpf_map_lookup_elem(&profile_seen, &tgid);
	if (seen && (*seen == (mm | 1) || (*seen == mm && !in_user_mode)))
		return;
	__u64 told = mm | in_user_mode;
	bpf_map_update_elem(&profile_seen, &tgid, &told, BPF_ANY);
	struct profile_process *record = bpf_ringbuf_reserve(&events, sizeof(*record), 0);
	if (!record) {
		count_lost();
		return;
	}
	record->tgid = tgid;
	record->reserved = 0;
	/* rare: wake the reader at once, it must read /proc before the process exits */
	bpf_ringbuf_submit(record, BPF_RB_FORCE_WAKEUP);
}

/* A stack id, or -1 for "no stack"; false when the stack was there but not stored. */
static __always_inline bool stack_id(void *ctx, __u64 flags, __s32 *id)
{
	long ret = bpf_get_stackid(ctx, &profile_stacks, flags);
	if (ret >= 0) {
		*id = ret;
		return true;
	}
	*id = -1;
	return ret == -EFAULT;
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	if (!is_target())
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct profile_key key = {};
	key.pid = (__u32)pid_tgid;
	key.tgid = pid_tgid >> 32;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	if (!stack_id(ctx, 0, &key.kernel_stack_id) ||
	    !stack_id(ctx, BPF_F_USER_STACK, &key.user_stack_id)) {
		count_lost();
		return 0;
	}
	/* no kernel stack: the sample was taken in user mode */
	if (key.tgid)
		announce_process(key.tgid, key.kernel_stack_id < 0);
	__u64 *count = bpf_map_lookup_elem(&profile_counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(&profile_counts, &key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* another CPU inserted the same key meanwhile */
		count = bpf_map_lookup_elem(&profile_counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
	} else if (err) {
		count_lost(); /* -E2BIG: the map is full */
	}
	return 0;
}
