//! The storage layer against a real directory through `file://`: an artifact streamed in
//! many lines comes back byte for byte, with the size and hash its manifest entry says.

use std::collections::BTreeMap;
use std::io::Read;

use sha2::{Digest, Sha256};
use tracejob_storage::{Credentials, Location, StorageError, Store};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_gzip_artifact_larger_than_a_part_round_trips_with_its_hash_and_count() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("file://{}/traces", dir.path().display());
    let store = Store::open(
        &Location::parse(&url).expect("url"),
        &Credentials::default(),
    )
    .expect("open")
    .at("shop/slow-io/u-1");
    let mut writer = store.writer("events.jsonl.gz", true);
    // Random-ish lines so gzip cannot shrink them below a multipart part (5 MiB).
    let mut seed = 7u64;
    let mut expected = String::new();
    for i in 0..300_000u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!(
            r#"{{"n":{i},"noise":"{seed:016x}{:016x}"}}"#,
            seed.rotate_left(17)
        );
        writer.write_line(line.as_bytes()).await.expect("write");
        expected.push_str(&line);
        expected.push('\n');
    }
    assert_eq!(writer.lines(), 300_000);
    let entry = writer
        .finish(BTreeMap::from([("events".to_owned(), 300_000)]))
        .await
        .expect("finish");
    let path = dir.path().join("traces/shop/slow-io/u-1/events.jsonl.gz");
    let stored = std::fs::read(&path).expect("the artifact is a file under the URL's path");
    assert!(
        stored.len() > 5 * 1024 * 1024,
        "big enough to need parts: {}",
        stored.len()
    );
    assert_eq!(entry.bytes, stored.len() as u64);
    assert_eq!(entry.sha256, sha256(&stored));
    let fetched = store.get("events.jsonl.gz").await.expect("get");
    assert_eq!(fetched.as_ref(), stored.as_slice());
    let mut text = String::new();
    flate2::read::GzDecoder::new(stored.as_slice())
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert_eq!(text, expected);
}

#[tokio::test]
async fn reading_a_missing_object_names_its_url() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(
        &Location::parse(&url).expect("url"),
        &Credentials::default(),
    )
    .expect("open");
    let error = store.get("nothing/here.json").await.expect_err("missing");
    assert!(matches!(error, StorageError::Read { .. }), "{error:?}");
    assert_eq!(error.url(), format!("{url}/nothing/here.json"));
    assert!(error.to_string().contains("not found"), "{error}");
}

#[test]
fn an_azure_url_without_an_account_names_the_url_and_what_is_missing() {
    let location = Location::parse("az://traces/prod").expect("url");
    let error = Store::open(&location, &Credentials::default()).expect_err("no account");
    assert!(matches!(error, StorageError::Open { .. }), "{error:?}");
    let text = error.one_line();
    assert!(
        text.starts_with("cannot open storage az://traces/prod: "),
        "{text}"
    );
    assert!(text.to_lowercase().contains("account"), "{text}");
}
