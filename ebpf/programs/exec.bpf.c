/* exec: every execve(2) and execveat(2) of the targets: pid, parent, uid, filename,
 * the first arguments and the result (BCC execsnoop). The filename and arguments are
 * read at entry, before a successful exec replaces the memory they live in. */
#include "common.bpf.h"
#include "syscall_nr.h"

/* Too large for the 512-byte BPF stack: built in a per-CPU scratch slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_start SEC(".maps");

static __always_inline int on_sys_enter(long id, struct pt_regs *regs, const unsigned long *tp_args)
{
	const char *filename;
	const char *const *argv;
	if (id == NR_execve) {
		filename = (const char *)syscall_arg(regs, tp_args, 0);
		argv = (const char *const *)syscall_arg(regs, tp_args, 1);
	} else if (id == NR_execveat) {
		filename = (const char *)syscall_arg(regs, tp_args, 1);
		argv = (const char *const *)syscall_arg(regs, tp_args, 2);
	} else {
		return 0;
	}
	if (!is_target())
		return 0;
	__u32 zero = 0;
	struct exec_event *event = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!event)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	event->cgroup_id = bpf_get_current_cgroup_id();
	event->pid = pid_tgid >> 32;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->uid = (__u32)bpf_get_current_uid_gid();
	event->ret = 0;
	event->argc = 0;
	event->args_truncated = 0;
	if (bpf_probe_read_user_str(event->filename, sizeof(event->filename), filename) < 0)
		event->filename[0] = '\0';
	for (int i = 0; i < EXEC_MAX_ARGS; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) < 0 || !arg)
			goto stored;
		if (bpf_probe_read_user_str(event->args[i], EXEC_ARG_LEN, arg) < 0)
			event->args[i][0] = '\0';
		event->argc = i + 1;
	}
	{
		const char *more = NULL;
		bpf_probe_read_user(&more, sizeof(more), &argv[EXEC_MAX_ARGS]);
		event->args_truncated = more != NULL;
	}
stored:;
	__u32 tid = (__u32)pid_tgid;
	bpf_map_update_elem(&exec_start, &tid, event, BPF_ANY);
	return 0;
}

static __always_inline int on_sys_exit(long id, long ret)
{
	if (id != NR_execve && id != NR_execveat)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_event *start = bpf_map_lookup_elem(&exec_start, &tid);
	if (!start)
		return 0;
	struct exec_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost();
		goto done;
	}
	bpf_probe_read_kernel(event, sizeof(*event), start);
	event->ret = ret;
	event->timestamp_ns = bpf_ktime_get_ns();
	/* after a successful exec, comm names the new program */
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	submit_event(event);
done:
	bpf_map_delete_elem(&exec_start, &tid);
	return 0;
}

TRACEJOB_SYSCALL_HOOKS
