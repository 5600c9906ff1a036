//! The storage layer against a real S3 server (Garage, started by the test): a multipart
//! artifact round-trips, and a missing bucket, wrong credentials and an unreachable endpoint
//! each give an error naming the URL and what the server said.

use std::collections::BTreeMap;

use tracejob_storage::{Credentials, Location, StorageError, Store};
use tracejob_testkit::garage::{BUCKET, Garage};

fn open(url: &str, credentials: Vec<(String, String)>) -> Store {
    Store::open(
        &Location::parse(url).expect("url"),
        &Credentials::new(credentials),
    )
    .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_written_in_parts_reads_back_from_s3() {
    if !tracejob_testkit::garage::can_use_s3("an_artifact_written_in_parts_reads_back_from_s3") {
        return;
    }
    let garage = Garage::start();
    let store = open(&format!("s3://{BUCKET}/runs"), garage.credentials()).at("ns/job/uid");
    let mut writer = store.writer("events.jsonl", false);
    let line = "x".repeat(1000);
    for _ in 0..12_000 {
        writer.write_line(line.as_bytes()).await.expect("write");
    }
    let entry = writer
        .finish(BTreeMap::from([("events".to_owned(), 12_000)]))
        .await
        .expect("a 12 MB upload in three parts");
    assert_eq!(entry.bytes, 12_000 * 1001);
    let back = store.get("events.jsonl").await.expect("get");
    assert_eq!(back.len() as u64, entry.bytes);
    assert!(
        back.chunks(1001)
            .all(|l| l[..1000] == *line.as_bytes() && l[1000] == b'\n')
    );
    store
        .put("summary.json", b"{}".to_vec())
        .await
        .expect("put");
    assert_eq!(
        store.get("summary.json").await.expect("get").as_ref(),
        b"{}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_wrong_credentials_and_a_dead_endpoint_are_named() {
    if !tracejob_testkit::garage::can_use_s3(
        "a_missing_bucket_wrong_credentials_and_a_dead_endpoint_are_named",
    ) {
        return;
    }
    let garage = Garage::start();

    let no_bucket = open("s3://no-such-bucket/p", garage.credentials());
    let error = no_bucket
        .put("a.json", b"{}".to_vec())
        .await
        .expect_err("no bucket");
    assert!(matches!(error, StorageError::Write { .. }), "{error:?}");
    assert_eq!(error.url(), "s3://no-such-bucket/p/a.json");
    let text = error.one_line();
    eprintln!("{text}");
    assert!(
        text.contains("NoSuchBucket") || text.contains("bucket"),
        "{text}"
    );

    let mut wrong = garage.credentials();
    for (key, value) in &mut wrong {
        if key == "AWS_SECRET_ACCESS_KEY" {
            *value = "0".repeat(64);
        }
    }
    let error = open(&format!("s3://{BUCKET}/p"), wrong)
        .put("a.json", b"{}".to_vec())
        .await
        .expect_err("wrong secret");
    let text = error.one_line();
    eprintln!("{text}");
    assert!(
        text.starts_with(&format!("cannot write s3://{BUCKET}/p/a.json")),
        "{text}"
    );
    assert!(
        text.contains("403") || text.contains("Forbidden") || text.contains("signature"),
        "{text}"
    );

    let mut dead = garage.credentials();
    for (key, value) in &mut dead {
        if key == "AWS_ENDPOINT" {
            *value = "http://127.0.0.1:9".to_owned();
        }
    }
    let error = open(&format!("s3://{BUCKET}/p"), dead)
        .put("a.json", b"{}".to_vec())
        .await
        .expect_err("nothing listens on port 9");
    let text = error.one_line();
    eprintln!("{text}");
    assert!(
        text.contains("127.0.0.1:9") || text.contains("connect"),
        "{text}"
    );
}
