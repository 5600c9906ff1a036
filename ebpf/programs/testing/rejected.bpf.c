/* A program the verifier must refuse (it dereferences a map value without the NULL
 * check), so tests can see that a refusal reports the verifier's reason. Never loaded
 * by a tool. */
#include "common.bpf.h"

static __always_inline int on_sys_enter(long id, struct pt_regs *regs, const unsigned long *tp_args)
{
	__u64 cgroup = bpf_get_current_cgroup_id();
	__u8 *targeted = bpf_map_lookup_elem(&target_cgroups, &cgroup);
	return *targeted; /* no NULL check: rejected */
}

static __always_inline int on_sys_exit(long id, long ret)
{
	return 0;
}

TRACEJOB_SYSCALL_HOOKS
