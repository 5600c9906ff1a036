/* tcp: the lifecycle of the targets' TCP connections (BCC tcplife): peers, ports,
 * direction, duration and bytes, emitted when a connection closes. A connection
 * belongs to a target when its socket's cgroup does (sockets accepted by a listener
 * inherit the listener's). */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define DIRECTION_CONNECT 1
#define DIRECTION_ACCEPT 2

struct connection {
	__u64 born_ns;
	__u32 pid;
	__u8 direction;
	__u8 established;
	__u8 fin_sent;
	__u8 fin_received;
	char comm[TASK_COMM_LEN];
	/* endpoints as of establishment: by close the local port may be released */
	__u16 family;
	__u16 local_port;
	__u16 remote_port;
	__u16 pad;
	__u8 local_addr[16];
	__u8 remote_addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct connection);
} connections SEC(".maps");

static __always_inline void read_endpoints(const struct sock *sk, struct connection *conn)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	conn->family = family;
	conn->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	conn->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(conn->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(conn->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)conn->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)conn->remote_addr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline int on_state(const struct sock *sk, int old, int new)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u64 key = (__u64)sk;
	struct connection *conn = bpf_map_lookup_elem(&connections, &key);
	if (!conn) {
		if (new != TCP_SYN_SENT && new != TCP_SYN_RECV && new != TCP_ESTABLISHED)
			return 0;
		if (!cgroup_is_target(sock_cgroup(sk)))
			return 0;
		struct connection fresh = { .born_ns = bpf_ktime_get_ns() };
		fresh.direction = new == TCP_SYN_SENT ? DIRECTION_CONNECT : DIRECTION_ACCEPT;
		if (fresh.direction == DIRECTION_CONNECT) {
			/* connect(2) runs in the connecting process */
			fresh.pid = bpf_get_current_pid_tgid() >> 32;
			bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		}
		bpf_map_update_elem(&connections, &key, &fresh, BPF_ANY);
		conn = bpf_map_lookup_elem(&connections, &key);
		if (!conn)
			return 0;
	}
	if (new == TCP_ESTABLISHED) {
		conn->established = 1;
		read_endpoints(sk, conn);
	}
	/* The sequence space counts SYN and FIN as one byte each; so do bytes_acked and
	 * bytes_received. Follow them to report payload bytes only. */
	if (new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK)
		conn->fin_sent = 1;
	if (new == TCP_CLOSE_WAIT || new == TCP_CLOSING || new == TCP_TIME_WAIT ||
	    (old == TCP_FIN_WAIT2 && new == TCP_CLOSE))
		conn->fin_received = 1;
	if (new != TCP_CLOSE)
		return 0;
	if (!conn->established)
		read_endpoints(sk, conn);

	struct tcp_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost();
		goto done;
	}
	__u64 now = bpf_ktime_get_ns();
	struct cgroup *cgrp = sock_cgroup(sk);
	event->cgroup_id = cgrp ? BPF_CORE_READ(cgrp, kn, id) : 0;
	event->timestamp_ns = now;
	event->duration_ns = now - conn->born_ns;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	if (conn->fin_received && received > 0)
		received -= 1;
	if (conn->established && acked > 0)
		acked -= 1; /* our SYN */
	if (conn->fin_sent && acked > 0 && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		acked -= 1; /* our FIN, acknowledged */
	event->rx_bytes = received;
	event->tx_bytes = acked;
	event->direction = conn->direction;
	event->established = conn->established;
	event->pad = 0;
	if (conn->direction == DIRECTION_CONNECT) {
		event->pid = conn->pid;
		__builtin_memcpy(event->comm, conn->comm, sizeof(event->comm));
	} else {
		/* accepted sockets have no owner at birth (softirq): name the closer */
		event->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(event->comm, sizeof(event->comm));
	}
	event->family = conn->family;
	event->local_port = conn->local_port;
	event->remote_port = conn->remote_port;
	__builtin_memcpy(event->local_addr, conn->local_addr, sizeof(event->local_addr));
	__builtin_memcpy(event->remote_addr, conn->remote_addr, sizeof(event->remote_addr));
	submit_event(event);
done:
	bpf_map_delete_elem(&connections, &key);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_tp_btf, const struct sock *sk, const int old, const int new)
{
	return on_state(sk, old, new);
}

SEC("raw_tracepoint/inet_sock_set_state")
int BPF_PROG(state_raw_tp, const struct sock *sk, const int old, const int new)
{
	return on_state(sk, old, new);
}
