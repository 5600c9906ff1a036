/* open: every open(2), openat(2) and openat2(2) of the targets, with path, flags
 * and result (BCC opensnoop). */
#include "common.bpf.h"
#include "syscall_nr.h"
#include "task_storage.bpf.h"

/* 1: report only opens that failed. */
const volatile __u32 failed_only = 0;

struct open_start {
	const char *path;
	__s32 flags;
	__u32 mode;
	/* 1 from entry to exit: task storage keeps the value between opens */
	__u32 in_flight;
};

#ifdef TRACEJOB_TASK_STORAGE
TASK_STORAGE_MAP(open_start, struct open_start);

static __always_inline void save_start(const struct open_start *start)
{
	struct open_start *slot = current_task_value(&open_start, true);
	if (slot)
		*slot = *start;
}

static __always_inline struct open_start *saved_start(void)
{
	struct open_start *slot = current_task_value(&open_start, false);
	return slot && slot->in_flight ? slot : NULL;
}

static __always_inline void forget_start(struct open_start *start)
{
	start->in_flight = 0;
}
#else
/* The open in flight, by thread id: inserted at entry, deleted at exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct open_start);
} open_start SEC(".maps");

static __always_inline void save_start(const struct open_start *start)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&open_start, &tid, start, BPF_ANY);
}

static __always_inline struct open_start *saved_start(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&open_start, &tid);
}

static __always_inline void forget_start(struct open_start *start)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&open_start, &tid);
}
#endif

static __always_inline int on_sys_enter(long id, struct pt_regs *regs, const unsigned long *tp_args)
{
	struct open_start start = {.in_flight = 1};
	if (id == NR_openat) {
		start.path = (const char *)syscall_arg(regs, tp_args, 1);
		start.flags = syscall_arg(regs, tp_args, 2);
		start.mode = syscall_arg(regs, tp_args, 3);
	} else if (id == NR_open) {
		start.path = (const char *)syscall_arg(regs, tp_args, 0);
		start.flags = syscall_arg(regs, tp_args, 1);
		start.mode = syscall_arg(regs, tp_args, 2);
	} else if (id == NR_openat2) {
		struct open_how how = {};
		start.path = (const char *)syscall_arg(regs, tp_args, 1);
		bpf_probe_read_user(&how, sizeof(how), (void *)syscall_arg(regs, tp_args, 2));
		start.flags = how.flags;
		start.mode = how.mode;
	} else {
		return 0;
	}
	if (!is_target())
		return 0;
	save_start(&start);
	return 0;
}

static __always_inline int on_sys_exit(long id, long ret)
{
	if (id != NR_openat && id != NR_open && id != NR_openat2)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct open_start *start = saved_start();
	if (!start)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	struct open_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost();
		goto done;
	}
	event->cgroup_id = bpf_get_current_cgroup_id();
	event->timestamp_ns = bpf_ktime_get_ns();
	event->pid = pid_tgid >> 32;
	event->tid = tid;
	event->uid = (__u32)bpf_get_current_uid_gid();
	event->ret = ret;
	event->flags = start->flags;
	event->mode = start->mode;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	if (bpf_probe_read_user_str(event->path, sizeof(event->path), start->path) < 0)
		event->path[0] = '\0';
	submit_event(event);
done:
	forget_start(start);
	return 0;
}

TRACEJOB_SYSCALL_HOOKS
