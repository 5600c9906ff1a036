//! The blockio tool on the real kernel: a known number of direct-I/O reads shows up
//! in the device's histogram and as per-request events; reads from outside the cgroup
//! do not.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use support::{TestCgroup, Work, kernel_tests_can_run, run, unique_path};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::records::Event;
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

const BLOCKS: u32 = 64;

/// A file of BLOCKS 4 KiB blocks on a real block device, open for direct I/O.
struct DirectFile {
    path: String,
    fd: i32,
    buffer: *mut u8,
}

impl DirectFile {
    fn create() -> Result<Self, String> {
        // Under /var/tmp: /tmp may be a tmpfs, which has no block device.
        let path = unique_path("direct").replace("/tmp/", "/var/tmp/");
        let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        file.write_all(&vec![7u8; 4096 * BLOCKS as usize])
            .map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        let dev = file.metadata().map_err(|e| e.to_string())?.dev();
        if libc::major(dev) == 0 {
            std::fs::remove_file(&path).ok();
            return Err(format!("{path} is not on a block device"));
        }
        let c_path = CString::new(path.clone()).unwrap();
        // SAFETY: a valid path.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_DIRECT) };
        // SAFETY: a non-zero size and a power-of-two alignment.
        let buffer = unsafe { alloc_zeroed(Layout::from_size_align(4096, 4096).unwrap()) };
        let direct = DirectFile { path, fd, buffer };
        // SAFETY: the aligned 4 KiB buffer above.
        if fd < 0 || unsafe { libc::pread(fd, buffer.cast(), 4096, 0) } != 4096 {
            return Err("the filesystem refuses O_DIRECT reads".to_owned());
        }
        Ok(direct)
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        // SAFETY: our own fd and allocation.
        unsafe {
            libc::close(self.fd);
            dealloc(self.buffer, Layout::from_size_align(4096, 4096).unwrap());
        }
        std::fs::remove_file(&self.path).ok();
    }
}

#[test]
fn direct_reads_show_up_in_the_device_histogram_and_as_events() {
    if !kernel_tests_can_run("blockio") {
        return;
    }
    let file = match DirectFile::create() {
        Ok(file) => file,
        Err(reason) => {
            let reason = format!("needs a block device that accepts direct I/O: {reason}");
            tracejob_testkit::can_run("blockio", Some(&reason));
            return;
        }
    };
    let cgroup = TestCgroup::new();
    let reads = Work::DirectReads {
        fd: file.fd,
        buffer: file.buffer as usize,
        times: BLOCKS,
    };
    // Once outside the cgroup first: any first-touch read the workload causes (a page of
    // this binary's code, the file's metadata) is block I/O of the cgroup too. A CI run under
    // memory pressure counted 65 once; warm, the traced run reads only its 64 blocks.
    run(None, &reads);
    let args = ToolArgs {
        per_request: true,
        ..ToolArgs::default()
    };
    let mut job = Job::start(
        &JobConfig::new(Tool::Blockio, args),
        std::slice::from_ref(&cgroup.target),
    )
    .unwrap();
    let events = job.take_events().unwrap();
    run(Some(&cgroup), &reads);
    run(None, &reads);
    let summary = job.stop().unwrap();

    let ToolSummary::Blockio { devices } = &summary.details else {
        panic!("not a blockio summary")
    };
    assert_eq!(devices.len(), 1, "one device: {devices:#?}");
    assert_eq!(devices[0].latency.count, u64::from(BLOCKS), "{devices:#?}");
    assert_eq!(devices[0].errors, 0);
    assert!(devices[0].latency.max_ns > 0);
    let requests: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            Event::Block(block) => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), BLOCKS as usize);
    assert!(
        requests
            .iter()
            .all(|r| r.op == "read" && r.bytes == 4096 && r.device == devices[0].device),
        "{requests:#?}"
    );
}
