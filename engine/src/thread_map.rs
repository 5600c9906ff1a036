//! Where a tool's programs keep a thread's syscall in flight between its entry and its
//! exit (open's arguments, the syscalls tool's entry time). Task-local storage is the
//! faster (bench/results/NOTES.md: about 135 ns less per open, 16 ns per timed syscall),
//! but 5.10 has no task storage map and older kernels refuse it to tracing programs; a
//! hash by thread id works everywhere. Such tools come in two builds, one per map
//! (ebpf/include/task_storage.bpf.h), tried in [`ThreadMap::PREFERENCE`] order like the
//! attach flavours, and the map in use is reported after the flavour:
//! `tp_btf+task_storage`, `tp_btf+hash`.

use std::fmt;

use crate::error::EngineError;
use crate::probe;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadMap {
    /// `BPF_MAP_TYPE_TASK_STORAGE`: the value lives with the task, no lookup by thread id.
    TaskStorage,
    /// A hash keyed by thread id: the fallback for kernels without task storage.
    Hash,
}

impl ThreadMap {
    /// The order they are tried in.
    pub const PREFERENCE: [ThreadMap; 2] = [ThreadMap::TaskStorage, ThreadMap::Hash];

    pub fn name(self) -> &'static str {
        match self {
            ThreadMap::TaskStorage => "task_storage",
            ThreadMap::Hash => "hash",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::PREFERENCE.into_iter().find(|map| map.name() == name)
    }
}

impl fmt::Display for ThreadMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One compiled object of a tool, and the thread map it was built with (None: the tool
/// keeps no per-thread state, or has only one build).
#[derive(Clone, Copy, Debug)]
pub struct Build {
    pub object: &'static [u8],
    pub thread_map: Option<ThreadMap>,
}

impl Build {
    pub fn single(object: &'static [u8]) -> Self {
        Build {
            object,
            thread_map: None,
        }
    }

    /// What the summary reports: the attach flavour, and the thread map if there is a choice.
    pub fn probe_name(&self, flavour: &str) -> String {
        match self.thread_map {
            Some(map) => format!("{flavour}+{map}"),
            None => flavour.to_owned(),
        }
    }
}

/// Starts the first of `builds` (only the one built with `forced`, when given) that
/// loads and attaches on this kernel, and returns what `start` made of it with the
/// reasons the builds before it did not start. A build that cannot load or attach is
/// passed over with its reasons kept, as the attach flavours are; any other error (no
/// privilege, a bad argument) ends the search at once. When none starts, the error
/// lists every build's reasons, named `<flavour>+<map>` or, when the object would not
/// even load, `<map>`. A tool with a single build gets its own error back unchanged.
pub fn start_first<T>(
    tool: &'static str,
    builds: &[Build],
    forced: Option<ThreadMap>,
    mut start: impl FnMut(Build) -> Result<T, EngineError>,
) -> Result<(T, Vec<(String, String)>), EngineError> {
    let candidates: Vec<Build> = match forced {
        None => builds.to_vec(),
        Some(map) => {
            let chosen: Vec<Build> = builds
                .iter()
                .filter(|b| b.thread_map == Some(map))
                .copied()
                .collect();
            if chosen.is_empty() {
                return Err(EngineError::NoAttachPoint {
                    tool,
                    failures: vec![(
                        map.name().to_owned(),
                        format!("the {tool} tool keeps no per-thread state here: it has one build"),
                    )],
                });
            }
            chosen
        }
    };
    let mut failures = Vec::new();
    for build in candidates {
        match start(build) {
            Ok(started) => return Ok((started, failures)),
            // A tool with one build: its own error says it best.
            Err(error) if build.thread_map.is_none() => return Err(error),
            Err(EngineError::NoAttachPoint {
                failures: flavours, ..
            }) => failures.extend(
                flavours
                    .into_iter()
                    .map(|(flavour, reason)| (build.probe_name(&flavour), reason)),
            ),
            Err(EngineError::Load { source, .. }) => failures.push((
                build.thread_map.map_or("load", ThreadMap::name).to_owned(),
                load_failure(&source),
            )),
            Err(other) => return Err(other),
        }
    }
    Err(EngineError::NoAttachPoint { tool, failures })
}

/// One line for an object that would not load: for maps, which one and the kernel's answer.
fn load_failure(error: &aya::EbpfError) -> String {
    match error {
        aya::EbpfError::MapError(aya::maps::MapError::CreateError { name, io_error, .. }) => {
            format!("the kernel refused to create the map {name}: {io_error}")
        }
        aya::EbpfError::ProgramError(program) => probe::describe(program),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FAST: Build = Build {
        object: b"fast",
        thread_map: Some(ThreadMap::TaskStorage),
    };
    static PLAIN: Build = Build {
        object: b"plain",
        thread_map: Some(ThreadMap::Hash),
    };

    fn refused(flavours: &[&str]) -> EngineError {
        EngineError::NoAttachPoint {
            tool: "open",
            failures: flavours
                .iter()
                .map(|f| {
                    (
                        (*f).to_owned(),
                        "the verifier rejected the program".to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// What aya reports when the kernel refuses a map (5.10 and task storage: EINVAL).
    fn map_refused(name: &str) -> EngineError {
        EngineError::Load {
            tool: "open",
            source: aya::EbpfError::MapError(aya::maps::MapError::CreateError {
                name: name.to_owned(),
                io_error: std::io::Error::from_raw_os_error(libc::EINVAL),
            }),
        }
    }

    #[test]
    fn thread_maps_parse_their_own_names() {
        for map in ThreadMap::PREFERENCE {
            assert_eq!(ThreadMap::parse(map.name()), Some(map));
        }
        assert_eq!(ThreadMap::parse("lru"), None);
    }

    #[test]
    fn the_first_build_that_starts_is_used_and_nothing_after_it_is_tried() {
        let mut tried = Vec::new();
        let (started, failures) = start_first("open", &[FAST, PLAIN], None, |b| {
            tried.push(b.thread_map);
            Ok(b.probe_name("tp_btf"))
        })
        .expect("starts");
        assert_eq!(started, "tp_btf+task_storage");
        assert!(failures.is_empty());
        assert_eq!(tried, [Some(ThreadMap::TaskStorage)]);
    }

    #[test]
    fn a_build_the_kernel_refuses_falls_back_to_the_next_with_its_reasons_kept() {
        let (started, failures) = start_first("open", &[FAST, PLAIN], None, |b| {
            if b.thread_map == Some(ThreadMap::TaskStorage) {
                Err(refused(&["tp_btf", "raw_tracepoint"]))
            } else {
                Ok(b.probe_name("tp_btf"))
            }
        })
        .expect("the hash build starts");
        assert_eq!(started, "tp_btf+hash");
        let names: Vec<&str> = failures.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            ["tp_btf+task_storage", "raw_tracepoint+task_storage"]
        );
    }

    #[test]
    fn when_no_build_starts_the_error_names_every_build_and_flavour() {
        let error = start_first("open", &[FAST, PLAIN], None, |b| -> Result<(), _> {
            Err(refused(if b.thread_map == Some(ThreadMap::Hash) {
                &["tracepoint"]
            } else {
                &["tp_btf"]
            }))
        })
        .expect_err("nothing starts");
        assert!(
            error.to_string().starts_with(
                "no way to attach the open programs on this kernel: tp_btf+task_storage: "
            ),
            "{error}"
        );
        assert!(error.to_string().contains("; tracepoint+hash: "), "{error}");
    }

    #[test]
    fn a_forced_map_tries_only_its_build_and_names_it_in_the_refusal() {
        let mut tried = Vec::new();
        let error = start_first(
            "open",
            &[FAST, PLAIN],
            Some(ThreadMap::TaskStorage),
            |b| -> Result<(), _> {
                tried.push(b.thread_map);
                Err(refused(&["tp_btf"]))
            },
        )
        .expect_err("refused");
        assert_eq!(tried, [Some(ThreadMap::TaskStorage)]);
        assert!(
            error
                .to_string()
                .contains(": tp_btf+task_storage: the verifier"),
            "{error}"
        );
    }

    #[test]
    fn a_single_build_gets_its_own_error_back() {
        let error = start_first(
            "exec",
            &[Build::single(b"exec")],
            None,
            |_| -> Result<(), _> { Err(map_refused("exec_start")) },
        )
        .expect_err("refused");
        assert!(matches!(error, EngineError::Load { .. }), "{error}");
    }

    #[test]
    fn a_map_the_kernel_cannot_create_passes_the_build_over_naming_the_map() {
        let (started, failures) = start_first("open", &[FAST, PLAIN], None, |b| {
            if b.thread_map == Some(ThreadMap::TaskStorage) {
                Err(map_refused("open_start"))
            } else {
                Ok(b.probe_name("tp_btf"))
            }
        })
        .expect("the hash build starts");
        assert_eq!(started, "tp_btf+hash");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "task_storage");
        assert!(
            failures[0]
                .1
                .starts_with("the kernel refused to create the map open_start: "),
            "{failures:?}"
        );
    }

    #[test]
    fn forcing_a_map_on_a_tool_with_one_build_is_refused_before_anything_loads() {
        let error = start_first(
            "exec",
            &[Build::single(b"exec")],
            Some(ThreadMap::Hash),
            |_| -> Result<(), _> { panic!("nothing is loaded") },
        )
        .expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("hash: the exec tool keeps no per-thread state"),
            "{error}"
        );
    }

    #[test]
    fn errors_that_are_not_about_the_kernel_stop_the_search() {
        let mut tried = 0;
        let error = start_first("open", &[FAST, PLAIN], None, |_| -> Result<(), _> {
            tried += 1;
            Err(EngineError::NotPermitted {
                during: "creating BPF maps".into(),
            })
        })
        .expect_err("not permitted");
        assert_eq!(tried, 1);
        assert!(matches!(error, EngineError::NotPermitted { .. }));
    }
}
