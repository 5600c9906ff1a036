/* Event and map value layouts shared by the eBPF programs and user space.
 * Every struct here is mirrored by a #[repr(C)] Rust struct in ebpf/src/layout.rs,
 * and a test compares both layouts through the BTF of the compiled objects. */
#pragma once

#define TASK_COMM_LEN 16
#define PATH_LEN 256
#define EXEC_MAX_ARGS 16
#define EXEC_ARG_LEN 64
#define HIST_BUCKETS 32
#define MAX_SYSCALLS 512
#define MAX_CGROUP_LEVELS 16

/* One entry of the `job_config` array map, written by user space while a job runs. */
struct tracejob_config {
	__u32 trace_all;   /* 1: ignore target_cgroups (host-wide job) */
	__u32 level_mask;  /* bit i set: some target cgroup sits at hierarchy level i */
	__u64 wakeup_bytes; /* wake the reader once this much data is waiting */
};

struct exec_event {
	__u64 cgroup_id;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 ret;
	__u32 argc;          /* arguments captured in args */
	__u32 args_truncated; /* 1: there were more than EXEC_MAX_ARGS */
	char comm[TASK_COMM_LEN];
	char filename[PATH_LEN];
	char args[EXEC_MAX_ARGS][EXEC_ARG_LEN];
};

struct open_event {
	__u64 cgroup_id;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;   /* fd, or -errno */
	__s32 flags;
	__u32 mode;
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

/* A count with a log2 latency histogram: per syscall, per device, per function, or
 * the run queue. */
struct latency_stats {
	__u64 count;
	__u64 errors;
	__u64 total_ns;
	__u64 max_ns;
	__u64 hist[HIST_BUCKETS]; /* bucket i: latency in [2^(i-1), 2^i) ns; bucket 0: 0 ns */
};

/* One block I/O request, from issue to completion (blockio with perRequest). */
struct block_event {
	__u64 cgroup_id;
	__u64 timestamp_ns;
	__u64 latency_ns;
	__u64 sector;
	__u32 dev;    /* MKDEV(major, minor): major << 20 | minor */
	__u32 bytes;
	__u32 pid;    /* the process that submitted it */
	__u32 op;     /* REQ_OP_*: 0 read, 1 write, 2 flush, 3 discard, ... */
	__s32 error;  /* blk_status_t, 0 on success */
	__u32 pad;
	char comm[TASK_COMM_LEN];
};

/* One TCP connection, emitted when it closes (tcp). */
struct tcp_event {
	__u64 cgroup_id;    /* the socket's cgroup */
	__u64 timestamp_ns;
	__u64 duration_ns;  /* from the first state change seen to close */
	__u64 rx_bytes;     /* payload received */
	__u64 tx_bytes;     /* payload sent and acknowledged */
	__u32 pid;          /* connect: the connecting process; accept: the one that closed */
	__u16 family;       /* AF_INET or AF_INET6 */
	__u16 local_port;
	__u16 remote_port;
	__u8 direction;     /* 1 connect (active open), 2 accept (passive open) */
	__u8 established;   /* 1: it reached ESTABLISHED; 0: the handshake failed */
	__u32 pad;
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	char comm[TASK_COMM_LEN];
};

#define PROFILE_STACK_DEPTH 127 /* PERF_MAX_STACK_DEPTH */

/* Key of the `profile_counts` hash map: one on-CPU stack of one thread. Stack ids
 * index `profile_stacks`; a negative id means no stack (-EFAULT: a kernel thread has
 * no user stack; a user-mode sample may have no kernel stack). */
struct profile_key {
	__u32 pid;  /* thread id */
	__u32 tgid; /* process id */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[TASK_COMM_LEN];
};

/* Ring-buffer record: a process was sampled for the first time (or after an exec),
 * so user space reads its memory maps while it still exists. */
struct profile_process {
	__u32 tgid;
	__u32 reserved;
};

#define UPROBE_ARGS 4
#define UPROBE_STRING_LEN 128

/* Value types of uprobe arguments and return values (ValueType in the API). */
#define VALUE_NONE 0
#define VALUE_INT 1
#define VALUE_POINTER 2
#define VALUE_STRING 3
#define VALUE_LONG 4

/* One call of a user-space function, emitted when it returns (uprobe). */
struct call_event {
	__u64 cgroup_id;
	__u64 timestamp_ns;
	__u64 latency_ns;
	__u64 args[UPROBE_ARGS];
	__s64 ret;
	__u32 pid;
	__u32 tid;
	char comm[TASK_COMM_LEN];
	char arg_strings[UPROBE_ARGS][UPROBE_STRING_LEN]; /* for VALUE_STRING arguments */
	char ret_string[UPROBE_STRING_LEN];               /* for a VALUE_STRING return value */
};
