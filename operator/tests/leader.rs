//! Leader election against the real local kube-apiserver, on a bad day: renewals that hang
//! or are slow, and replicas whose clocks disagree. Skipped with a reason when no control plane runs,
//! unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use support::cluster::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tracejob_operator::leader::{LeaseLock, LeaseTiming};
use tracejob_operator::renewer::{LeaseName, Renewer};

const LEASE: &str = "tracejob-operator";

fn timing() -> LeaseTiming {
    LeaseTiming {
        lease: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry: Duration::from_millis(400),
    }
}

/// A TCP relay in front of the API server that can be frozen (bytes stop flowing both ways
/// and every connection stays open, as with a partitioned network or a stuck server) or
/// slowed down (every chunk waits, as with a saturated server).
struct Relay {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    delay: watch::Sender<Duration>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (frozen, _) = watch::channel(false);
        let (delay, _) = watch::channel(Duration::ZERO);
        let freeze = frozen.clone();
        let slow = delay.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let to_server = pipe(
                    client_read,
                    server_write,
                    freeze.subscribe(),
                    slow.subscribe(),
                );
                let to_client = pipe(
                    server_read,
                    client_write,
                    freeze.subscribe(),
                    slow.subscribe(),
                );
                tokio::spawn(to_server);
                tokio::spawn(to_client);
            }
        });
        Relay {
            addr,
            frozen,
            delay,
        }
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    fn slow_down(&self, each_chunk: Duration) {
        self.delay.send_replace(each_chunk);
    }
}

async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut frozen: watch::Receiver<bool>,
    delay: watch::Receiver<Duration>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Frozen is forever in these tests: hold the bytes, keep the connection open.
        if frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        let wait = *delay.borrow();
        tokio::time::sleep(wait).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A client of the test control plane that reaches it through `relay`.
async fn client_through(cluster: &Cluster, relay: &Relay) -> Client {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let upstream = config.cluster_url.clone();
    let url = format!("https://{}{}", relay.addr, upstream.path());
    config.cluster_url = url.parse().expect("relay url");
    Client::try_from(config).expect("client")
}

/// A fresh namespace, a relay in front of the API server, and a client through it.
async fn relayed(cluster: &Cluster, prefix: &str) -> (String, Relay, Client) {
    let ns = namespace(&cluster.client, prefix).await;
    let relay = Relay::start(upstream_addr(cluster)).await;
    let through_relay = client_through(cluster, &relay).await;
    (ns, relay, through_relay)
}

fn upstream_addr(cluster: &Cluster) -> SocketAddr {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .expect("server");
    let host_port = server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    host_port
        .parse()
        .expect("the test API server is at an IP:port")
}

/// A Lease held by `holder` whose renewTime is `skew` away from this machine's clock.
fn lease_of(holder: &str, skew: SignedDuration) -> Lease {
    let stamp = MicroTime(Timestamp::now().checked_add(skew).expect("a timestamp"));
    Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(2),
            acquire_time: Some(stamp.clone()),
            renew_time: Some(stamp),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    }
}

#[tokio::test]
async fn a_leader_whose_renewals_hang_steps_down_before_another_can_take_over() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let (ns, relay, through_relay) = relayed(&cluster, "lease-hang").await;
    let a = LeaseLock::with_timing(through_relay, &ns, LEASE, "replica-a", timing());
    let b = LeaseLock::with_timing(cluster.client.clone(), &ns, LEASE, "replica-b", timing());
    assert!(a.try_acquire().await.expect("a reaches the API server"));

    let holding = tokio::spawn(async move {
        a.hold().await;
        Instant::now()
    });
    relay.freeze();
    let frozen_at = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), b.acquire())
        .await
        .expect("b takes over once the lease stopped changing");
    let b_leads_at = Instant::now();
    let stepped_down_at = tokio::time::timeout(Duration::from_secs(1), holding)
        .await
        .expect("a stepped down, though every renewal hung")
        .expect("hold ran");
    assert!(
        stepped_down_at < b_leads_at,
        "a must stop acting before b leads"
    );
    // A renewal may use the whole deadline, so a steps down at it (its clock starts when
    // `hold` does, a moment after the freeze), not a retry period before.
    let slack = Duration::from_millis(50);
    assert!(
        stepped_down_at - frozen_at <= timing().renew_deadline + slack,
        "a stepped down {:?} after its renewals began to hang, past its renew deadline",
        stepped_down_at - frozen_at
    );
}

#[tokio::test]
async fn a_leader_whose_renewals_are_slow_but_land_before_the_deadline_keeps_its_lease() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let (ns, relay, through_relay) = relayed(&cluster, "lease-slow").await;
    // A renewal is two calls; room for two slow ones and the retry pause before the deadline.
    let timing = LeaseTiming {
        lease: Duration::from_secs(9),
        renew_deadline: Duration::from_secs(6),
        retry: Duration::from_millis(400),
    };
    let a = LeaseLock::with_timing(through_relay, &ns, LEASE, "replica-a", timing);
    assert!(a.try_acquire().await.expect("a reaches the API server"));

    // Every call now takes at least 600 ms, past the retry period, well within the deadline.
    relay.slow_down(Duration::from_millis(300));
    let held = tokio::time::timeout(Duration::from_secs(8), a.hold()).await;
    assert!(
        held.is_err(),
        "a stepped down though each renewal landed within its renew deadline"
    );
    let lease = Api::<Lease>::namespaced(cluster.client.clone(), &ns)
        .get(LEASE)
        .await
        .expect("the lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    let renewed = spec.renew_time.expect("renewed").0;
    let age = Timestamp::now().duration_since(renewed);
    assert!(
        age < SignedDuration::from_secs(3),
        "the lease was renewed while slow (last renewal {age:?} ago)"
    );
}

/// The test control plane's client configuration (a renewer builds its own client from it).
async fn config_of(cluster: &Cluster) -> Config {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("kubeconfig");
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_keeps_renewing_while_every_worker_of_its_runtime_is_busy() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "lease-busy").await;
    let a = LeaseLock::with_timing(cluster.client.clone(), &ns, LEASE, "replica-a", timing());
    assert!(a.try_acquire().await.expect("a reaches the API server"));
    let lease = LeaseName {
        namespace: ns.clone(),
        name: LEASE.into(),
        identity: "replica-a".into(),
    };
    let mut renewer = Renewer::start(config_of(&cluster).await, lease, timing()).expect("a thread");

    // Both workers blocked for twice the renew deadline, as a saturated controller does.
    let busy_for = 2 * timing().renew_deadline;
    let hogs: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { std::thread::sleep(busy_for) }))
        .collect();
    for hog in hogs {
        hog.await.expect("the hog ran");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), renewer.lost())
            .await
            .is_err(),
        "the lease was lost while the runtime's workers were busy"
    );
    let spec = Api::<Lease>::namespaced(cluster.client.clone(), &ns)
        .get(LEASE)
        .await
        .expect("the lease")
        .spec
        .expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    let age = Timestamp::now().duration_since(spec.renew_time.expect("renewed").0);
    assert!(
        age < SignedDuration::from_secs(1),
        "renewed while the workers were busy (last renewal {age:?} ago)"
    );
    renewer.stop();
}

#[tokio::test]
async fn a_holder_whose_clock_runs_behind_keeps_its_lease() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "lease-behind").await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &ns);
    let behind = SignedDuration::from_hours(-1);
    leases
        .create(&PostParams::default(), &lease_of("behind", behind))
        .await
        .expect("the lease is created");
    // The holder renews every 200 ms, stamping its own clock, an hour behind ours.
    let renewer = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut lease = leases.get(LEASE).await.expect("the lease");
            let fresh = lease_of("behind", behind).spec;
            lease.spec.as_mut().expect("spec").renew_time = fresh.and_then(|s| s.renew_time);
            leases
                .replace(LEASE, &PostParams::default(), &lease)
                .await
                .expect("the holder renews");
        }
    });
    let a = LeaseLock::with_timing(cluster.client.clone(), &ns, LEASE, "replica-a", timing());
    let until = Instant::now() + 2 * Duration::from_secs(2);
    while Instant::now() < until {
        assert!(
            !a.try_acquire().await.expect("the API server answers"),
            "a took a lease its holder keeps renewing (its renewTime is an hour old)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    renewer.abort();
}

#[tokio::test]
async fn a_lease_stamped_by_a_clock_running_ahead_is_taken_once_it_stops_changing() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "lease-ahead").await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &ns);
    leases
        .create(
            &PostParams::default(),
            &lease_of("ahead", SignedDuration::from_hours(1)),
        )
        .await
        .expect("the lease is created");
    let a = LeaseLock::with_timing(cluster.client.clone(), &ns, LEASE, "replica-a", timing());
    let started = Instant::now();
    assert!(
        !a.try_acquire().await.expect("the API server answers"),
        "a lease just seen held is not taken at once"
    );
    tokio::time::timeout(Duration::from_secs(10), a.acquire())
        .await
        .expect("a takes the lease its dead holder stamped an hour ahead");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "a waited the holder's lease duration (2 s) of no change"
    );
    let lease = Api::<Lease>::namespaced(cluster.client.clone(), &ns)
        .get(LEASE)
        .await
        .expect("the lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert_eq!(spec.lease_transitions, Some(1));
}
