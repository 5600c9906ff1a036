//! Figures for the record, not assertions of speed: run with
//! `cargo test --release -p tracejob-node-agent --test figures -- --ignored --nocapture` (root).
//! (1) StartJob request → programs attached, over mutual TLS, median of 20;
//! (2) events per second one StreamResults stream carries with zero loss.

mod support;

use std::ffi::CString;
use std::time::{Duration, Instant};

use support::certs::{AgentFiles, Ca};
use support::client;
use support::process::AgentProcess;
use support::workload::FakeContainer;
use tokio_stream::StreamExt;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{JobRef, StartJobRequest, StreamResultsRequest, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand with --release --ignored --nocapture"]
async fn figures_start_to_attached_and_stream_throughput() {
    if !tracejob_testkit::can_trace("figures") {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "figures");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::operator(&ca, &agent).await;
    let container = FakeContainer::new();
    let request = |uid: &str, tool: &str, syscalls: &[&str], events: bool| StartJobRequest {
        job: Some(JobRef {
            uid: uid.into(),
            ..JobRef::default()
        }),
        tool: tool.into(),
        args: Some(tracejob_proto::v1::ToolArgs {
            syscalls: syscalls.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
        events,
        targets: vec![Target {
            pod_uid: container.pod_uid.clone(),
            container_id: container.container_id.clone(),
            ..Target::default()
        }],
        ..StartJobRequest::default()
    };

    let mut starts = Vec::new();
    for n in 0..20 {
        let uid = format!("start-{n}");
        let began = Instant::now();
        client
            .start_job(request(&uid, "syscalls", &["getppid"], false))
            .await
            .expect("start");
        starts.push(began.elapsed());
        let job = JobRef {
            uid,
            ..JobRef::default()
        };
        client.stop_job(job.clone()).await.expect("stop");
        client.forget_job(job).await.expect("forget");
    }
    starts.sort();
    println!(
        "FIGURE start→attached (syscalls, TLS, 20 runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(starts[10]),
        ms(starts[0]),
        ms(starts[19])
    );

    for opens in [100_000u32, 300_000] {
        let uid = format!("stream-{opens}");
        client
            .start_job(request(&uid, "open", &[], true))
            .await
            .expect("start");
        let mut stream = client
            .stream_results(StreamResultsRequest {
                job_uid: uid.clone(),
                from_sequence: 1,
            })
            .await
            .expect("stream")
            .into_inner();
        let reader = tokio::spawn(async move {
            let (mut events, mut lost, mut first, mut last) = (0u64, 0u64, None, Instant::now());
            let mut result = None;
            while let Some(message) = stream.next().await {
                match message.expect("a message").body {
                    Some(Body::Event(_)) => {
                        first.get_or_insert_with(Instant::now);
                        last = Instant::now();
                        events += 1;
                    }
                    Some(Body::Lost(l)) => lost += l.messages,
                    Some(Body::Final(r)) => result = Some(r),
                    _ => {}
                }
            }
            let span = first.map_or(Duration::ZERO, |f| last - f);
            (events, lost, span, result)
        });
        let path = CString::new("/dev/null").expect("path");
        let began = Instant::now();
        let workload = {
            let container = &container;
            tokio::task::block_in_place(|| container.opens(&path, opens));
            began.elapsed()
        };
        let job = JobRef {
            uid,
            ..JobRef::default()
        };
        client.stop_job(job.clone()).await.expect("stop");
        let (events, lost, span, result) = reader.await.expect("reader");
        let result = result.expect("final");
        println!(
            "FIGURE stream: {opens} opens in {:.0} ms; {events} events received over {:.0} ms = {:.0} events/s; \
             stream lost {lost}, kernel lost {}, agent queue lost {}",
            ms(workload),
            ms(span),
            events as f64 / span.as_secs_f64().max(1e-9),
            result.lost_kernel,
            result.lost_user
        );
        client.forget_job(job).await.expect("forget");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
