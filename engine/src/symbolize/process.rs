//! A process's executable file mappings, captured while it runs. Each file is opened
//! through /proc/PID/map_files/START-END (else /proc/PID/root/PATH), so a container's
//! own binaries are the ones read, and the open file outlives the process: a profile
//! of a process that exited before the job ended still resolves its symbols.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::Arc;

/// An executable file some process maps, held open.
#[derive(Debug)]
pub struct MappedFile {
    pub file: File,
    /// The path as the process sees it (inside its own mount namespace).
    pub path: String,
}

/// Files already opened, by (device, inode) as /proc/PID/maps gives them, so a library
/// many processes map is opened and parsed once.
pub type OpenFiles = HashMap<(String, u64), Arc<MappedFile>>;

#[derive(Clone, Debug)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    file: Arc<MappedFile>,
}

#[derive(Debug, Default)]
pub struct ProcessMaps {
    mappings: Vec<Mapping>,
}

impl ProcessMaps {
    /// Reads the executable file mappings of process `tgid` and opens their files.
    pub fn read(tgid: u32, files: &mut OpenFiles) -> io::Result<Self> {
        let maps = std::fs::read_to_string(format!("/proc/{tgid}/maps"))?;
        let mut mappings = Vec::new();
        for line in maps.lines().filter_map(MapsLine::parse) {
            if !line.executable || line.inode == 0 || !line.path.starts_with('/') {
                continue;
            }
            let key = (line.device.to_owned(), line.inode);
            let file = match files.get(&key) {
                Some(file) => Arc::clone(file),
                None => {
                    let Some(file) = open_mapped(tgid, &line) else {
                        continue;
                    };
                    let file = Arc::new(MappedFile {
                        file,
                        path: line.path.to_owned(),
                    });
                    files.insert(key, Arc::clone(&file));
                    file
                }
            };
            mappings.push(Mapping {
                start: line.start,
                end: line.end,
                offset: line.offset,
                file,
            });
        }
        Ok(ProcessMaps { mappings })
    }

    /// The file mapped at `address` and the offset in it.
    pub fn find(&self, address: u64) -> Option<(&Arc<MappedFile>, u64)> {
        self.mappings
            .iter()
            .find(|m| (m.start..m.end).contains(&address))
            .map(|m| (&m.file, address - m.start + m.offset))
    }
}

fn open_mapped(tgid: u32, line: &MapsLine<'_>) -> Option<File> {
    File::open(format!(
        "/proc/{tgid}/map_files/{:x}-{:x}",
        line.start, line.end
    ))
    .or_else(|_| File::open(format!("/proc/{tgid}/root{}", line.path)))
    .ok()
}

/// One line of /proc/PID/maps: `start-end perms offset dev inode path`.
#[derive(Debug, PartialEq)]
struct MapsLine<'a> {
    start: u64,
    end: u64,
    executable: bool,
    offset: u64,
    device: &'a str,
    inode: u64,
    path: &'a str,
}

impl<'a> MapsLine<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let offset = fields.next()?;
        let device = fields.next()?;
        let inode = fields.next()?;
        let path = fields.next().unwrap_or("").trim_start();
        Some(MapsLine {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            executable: perms.as_bytes().get(2) == Some(&b'x'),
            offset: u64::from_str_radix(offset, 16).ok()?,
            device,
            inode: inode.parse().ok()?,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_gives_its_range_permissions_file_and_offset() {
        let line = "7f2c1a228000-7f2c1a3bd000 r-xp 00028000 fe:01 1835412                    /usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(
            MapsLine::parse(line),
            Some(MapsLine {
                start: 0x7f2c1a228000,
                end: 0x7f2c1a3bd000,
                executable: true,
                offset: 0x28000,
                device: "fe:01",
                inode: 1835412,
                path: "/usr/lib/x86_64-linux-gnu/libc.so.6",
            })
        );
        let anonymous = MapsLine::parse("7ffd4b1e0000-7ffd4b201000 rw-p 00000000 00:00 0").unwrap();
        assert!(!anonymous.executable);
        assert_eq!(anonymous.path, "");
    }

    #[test]
    fn this_process_maps_its_own_test_binary_as_executable() {
        let mut files = OpenFiles::new();
        let maps = ProcessMaps::read(std::process::id(), &mut files).unwrap();
        let here = this_process_maps_its_own_test_binary_as_executable as *const () as u64;
        let (file, offset) = maps.find(here).expect("this function is in a mapped file");
        assert!(offset > 0);
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(file.path, exe.to_string_lossy());
    }
}
