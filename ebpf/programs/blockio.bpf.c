/* blockio: block I/O latency from issue to completion, per device, as log2
 * histograms (BCC biolatency -D), and every request as an event on demand (biosnoop).
 * A request belongs to a target when the task submitting it does: its cgroup is read
 * at insertion into the I/O scheduler (or at issue when the request bypasses it). */
#include "common.bpf.h"

#define REQ_OP_MASK 0xff

/* 1: also emit a block_event per request. */
const volatile __u32 per_request = 0;

struct request_start {
	__u64 issued_ns; /* 0 until issued to the device */
	__u64 cgroup_id;
	__u32 pid;
	__u32 pad;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct request_start);
} requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct latency_stats);
} device_latency SEC(".maps");

/* Lookups of a device's entry create it on first use from this zeroed value. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latency_stats);
} zero_stats SEC(".maps");

static __always_inline void remember(struct request *rq, __u64 issued_ns)
{
	struct request_start start = { .issued_ns = issued_ns };
	start.cgroup_id = bpf_get_current_cgroup_id();
	start.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(start.comm, sizeof(start.comm));
	__u64 key = (__u64)rq;
	bpf_map_update_elem(&requests, &key, &start, BPF_ANY);
}

static __always_inline int on_insert(struct request *rq)
{
	if (is_target())
		remember(rq, 0);
	return 0;
}

static __always_inline int on_issue(struct request *rq)
{
	__u64 key = (__u64)rq;
	struct request_start *start = bpf_map_lookup_elem(&requests, &key);
	if (start)
		start->issued_ns = bpf_ktime_get_ns();
	else if (is_target())
		remember(rq, bpf_ktime_get_ns());
	return 0;
}

static __always_inline struct latency_stats *device_stats(__u32 dev)
{
	struct latency_stats *stats = bpf_map_lookup_elem(&device_latency, &dev);
	if (stats)
		return stats;
	__u32 zero = 0;
	struct latency_stats *empty = bpf_map_lookup_elem(&zero_stats, &zero);
	if (!empty)
		return NULL;
	bpf_map_update_elem(&device_latency, &dev, empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&device_latency, &dev);
}


/* A request's disk: rq->rq_disk before 5.17, rq->q->disk since. */
struct request___rq_disk {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *request_disk(struct request *rq)
{
	if (bpf_core_field_exists(struct request___rq_disk, rq_disk))
		return BPF_CORE_READ((struct request___rq_disk *)rq, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}
static __always_inline int on_complete(struct request *rq, int error, unsigned int bytes)
{
	__u64 key = (__u64)rq;
	struct request_start *start = bpf_map_lookup_elem(&requests, &key);
	if (!start)
		return 0;
	if (!start->issued_ns)
		goto done;
	__u64 now = bpf_ktime_get_ns();
	__u64 latency = now - start->issued_ns;
	struct gendisk *disk = request_disk(rq);
	__u32 dev = ((__u32)BPF_CORE_READ(disk, major) << 20) | (__u32)BPF_CORE_READ(disk, first_minor);
	struct latency_stats *stats = device_stats(dev);
	if (stats) {
		stats->count += 1;
		stats->errors += error != 0;
		record_latency(stats, latency);
	} else {
		count_lost();
	}
	if (per_request) {
		struct block_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
		if (!event) {
			count_lost();
			goto done;
		}
		event->cgroup_id = start->cgroup_id;
		event->timestamp_ns = now;
		event->latency_ns = latency;
		event->sector = BPF_CORE_READ(rq, __sector);
		event->dev = dev;
		event->bytes = bytes;
		event->pid = start->pid;
		event->op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
		event->error = error;
		event->pad = 0;
		__builtin_memcpy(event->comm, start->comm, sizeof(event->comm));
		submit_event(event);
	}
done:
	bpf_map_delete_elem(&requests, &key);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(insert_tp_btf, struct request *rq)
{
	return on_insert(rq);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(issue_tp_btf, struct request *rq)
{
	return on_issue(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(complete_tp_btf, struct request *rq, int error, unsigned int bytes)
{
	return on_complete(rq, error, bytes);
}

SEC("raw_tracepoint/block_rq_insert")
int BPF_PROG(insert_raw_tp, struct request *rq)
{
	return on_insert(rq);
}

SEC("raw_tracepoint/block_rq_issue")
int BPF_PROG(issue_raw_tp, struct request *rq)
{
	return on_issue(rq);
}

SEC("raw_tracepoint/block_rq_complete")
int BPF_PROG(complete_raw_tp, struct request *rq, int error, unsigned int bytes)
{
	return on_complete(rq, error, bytes);
}
