//! The tcp tool on the real kernel: N connections to a local listener with known byte
//! counts appear with exactly those counts; connections from outside the cgroup and the
//! listener's own (accepted) sockets, which live outside it, do not.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::{TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::records::{Event, TcpRecord};
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

const CONNECTIONS: u32 = 5;
const SENT: u32 = 3000;
const REPLY: usize = 1234;

/// A listener that reads each connection to EOF, answers REPLY bytes and closes.
fn serve() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(CONNECTIONS as usize + 3) {
            let mut stream: TcpStream = stream.unwrap();
            let mut request = Vec::new();
            stream.read_to_end(&mut request).unwrap();
            assert_eq!(request.len(), SENT as usize);
            stream.write_all(&[b'y'; REPLY]).unwrap();
        }
    });
    (addr, server)
}

fn sockaddr(addr: std::net::SocketAddr) -> libc::sockaddr_in {
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("IPv4 listener")
    };
    // SAFETY: sockaddr_in is plain data; zero is a valid start.
    let mut raw: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    raw.sin_family = libc::AF_INET as libc::sa_family_t;
    raw.sin_port = v4.port().to_be();
    raw.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
    raw
}

#[test]
fn connections_appear_with_their_exact_byte_counts_and_outsiders_do_not() {
    if !kernel_tests_can_run("tcp") {
        return;
    }
    let cgroup = TestCgroup::new();
    let (addr, server) = serve();
    let mut job = Job::start(
        &JobConfig::new(Tool::Tcp, ToolArgs::default()),
        std::slice::from_ref(&cgroup.target),
    )
    .unwrap();
    let events = job.take_events().unwrap();
    let clients = |times| Work::TcpClients {
        addr: sockaddr(addr),
        times,
        send: SENT,
    };
    run(Some(&cgroup), &clients(CONNECTIONS));
    run(None, &clients(3));
    server.join().unwrap();

    // The last close completes with the peer's final ACK: wait for every connection.
    let mut seen: Vec<TcpRecord> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < CONNECTIONS as usize && Instant::now() < deadline {
        if let Ok(Event::Tcp(tcp)) = events.recv_timeout(Duration::from_millis(100)) {
            seen.push(tcp);
        }
    }
    let summary = job.stop().unwrap();
    seen.extend(events.try_iter().filter_map(|e| match e {
        Event::Tcp(tcp) => Some(tcp),
        _ => None,
    }));

    assert_eq!(
        seen.len(),
        CONNECTIONS as usize,
        "only the cgroup's connections: {seen:#?}"
    );
    for connection in &seen {
        assert_eq!(connection.direction, "connect");
        assert!(connection.established);
        assert_eq!(connection.remote, addr.to_string());
        assert_eq!(connection.tx_bytes, u64::from(SENT), "{connection:?}");
        assert_eq!(connection.rx_bytes, REPLY as u64, "{connection:?}");
        assert!(connection.duration_ns > 0);
    }
    let ToolSummary::Tcp { connections, peers } = &summary.details else {
        panic!("not a tcp summary")
    };
    assert_eq!(*connections, u64::from(CONNECTIONS));
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer, addr.to_string());
    assert_eq!(
        (peers[0].connections, peers[0].failed),
        (u64::from(CONNECTIONS), 0)
    );
    assert_eq!(peers[0].tx_bytes, u64::from(CONNECTIONS * SENT));
    assert_eq!(peers[0].rx_bytes, u64::from(CONNECTIONS) * REPLY as u64);
}
