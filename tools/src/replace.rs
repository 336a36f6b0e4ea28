//! Opening an output file that may hold an earlier run's output without putting the cost of
//! discarding it where the run waits for it.
//!
//! Truncating a large file is slow on ext4, twice over: the truncation frees the file's pages
//! and blocks (tens of milliseconds for 100 MB), and a file truncated to zero is flushed when
//! it is closed (ext4's `auto_da_alloc`: another 30–70 ms, `strace -T` over a DBN replay's
//! bar file). Both fell on a 0.4 s replay's critical path. So an earlier non-empty file is
//! *replaced*: a new file is created beside it, given its permissions and renamed over it, and
//! the old file, still open, is handed back to be closed wherever its cost does not matter
//! (closing the last handle of a replaced file frees it). A path that cannot be replaced so
//! without changing what it names or who may write it — a symbolic link, a file with other
//! hard links, a file of another owner or one this process may not write, anything but a
//! regular file, a directory that refuses a new entry — is opened in place instead (failing
//! as truncating it would), its earlier bytes left for the writer to cut ([`Opened::stale`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An output file opened by [`open`].
#[derive(Debug)]
pub struct Opened {
    /// The file, positioned at its start.
    pub file: File,
    /// It still holds an earlier run's bytes: cut them (`set_len(0)`) before the first write.
    pub stale: bool,
    /// The earlier file it replaced, still open: closing it frees it.
    pub replaced: Option<File>,
}

/// Opens `path` for writing from its start (created if missing); see the module doc.
pub fn open(path: &Path) -> io::Result<Opened> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return in_place(path); // missing (created), or unreadable metadata
    };
    if !meta.is_file() || meta.len() == 0 || meta.nlink() != 1 {
        return in_place(path);
    }
    match replace(path, &meta) {
        Some((file, old)) => Ok(Opened { file, stale: false, replaced: Some(old) }),
        None => in_place(path),
    }
}

/// `path` opened as it is, without truncating.
fn in_place(path: &Path) -> io::Result<Opened> {
    let file = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    let stale = file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
    Ok(Opened { file, stale, replaced: None })
}

/// A new file renamed over `path` (a regular file of one link, described by `meta`), and the
/// old one still open; `None` when that would change what `path` names or cannot be done.
fn replace(path: &Path, meta: &std::fs::Metadata) -> Option<(File, File)> {
    // Opened for writing too: a file this process may not write is not replaced (opening it
    // in place then fails with the error truncating it gave).
    let old = OpenOptions::new().read(true).write(true).open(path).ok()?;
    if old.metadata().ok()?.ino() != meta.ino() {
        return None; // replaced meanwhile by someone else
    }
    let tmp = beside(path)?;
    let new = OpenOptions::new().write(true).create_new(true).open(&tmp).ok()?;
    let kept = new.metadata().is_ok_and(|m| m.uid() == meta.uid() && m.gid() == meta.gid())
        && new.set_permissions(meta.permissions()).is_ok()
        && std::fs::rename(&tmp, path).is_ok();
    if !kept {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    Some((new, old))
}

/// A name for the new file in `path`'s directory, hidden and this process's own.
fn beside(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    Some(path.with_file_name(format!(".{name}.ticklane-{}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ticklane-replace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn write_new(o: Opened, text: &str) -> Option<File> {
        let mut f = o.file;
        if o.stale {
            f.set_len(0).expect("cut");
        }
        f.write_all(text.as_bytes()).expect("write");
        o.replaced
    }

    /// An earlier file is replaced: the path holds only the new bytes, with the old file's
    /// permissions; the old file stays readable through the handle until it is closed; no
    /// temporary file is left behind.
    #[test]
    fn an_earlier_file_is_replaced_keeping_its_permissions() {
        let d = dir("plain");
        let p = d.join("bars.csv");
        std::fs::write(&p, "old old old old\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let o = open(&p).expect("open");
        assert!(!o.stale && o.replaced.is_some());
        let mut old = write_new(o, "new\n").expect("the old file");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new\n");
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o640);
        let mut text = String::new();
        old.read_to_string(&mut text).expect("read old");
        assert_eq!(text, "old old old old\n");
        assert_eq!(std::fs::read_dir(&d).expect("ls").count(), 1, "nothing left beside it");
    }

    /// A file this process may not write is refused, not replaced (unless the process may
    /// write anything: root).
    #[test]
    fn a_read_only_file_is_not_replaced() {
        let d = dir("read-only");
        let p = d.join("bars.csv");
        std::fs::write(&p, "old\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        if OpenOptions::new().write(true).open(&p).is_ok() {
            return; // privileged: permissions are not checked
        }
        assert_eq!(open(&p).map(drop).map_err(|e| e.kind()), Err(io::ErrorKind::PermissionDenied));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "old\n");
    }

    /// A missing or empty file is simply opened; a symbolic link and a file with another hard
    /// link are written in place (the link and the other name see the new bytes), stale.
    #[test]
    fn links_and_new_files_are_written_in_place() {
        let d = dir("links");
        let missing = d.join("new.csv");
        let o = open(&missing).expect("open");
        assert!(!o.stale && o.replaced.is_none());
        let target = d.join("target.csv");
        let link = d.join("link.csv");
        std::fs::write(&target, "old old old\n").expect("write");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let o = open(&link).expect("open");
        assert!(o.stale && o.replaced.is_none());
        write_new(o, "new\n");
        assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new\n");
        let other = d.join("other.csv");
        std::fs::hard_link(&target, &other).expect("hard link");
        std::fs::write(&target, "old old old\n").expect("write");
        let o = open(&target).expect("open");
        assert!(o.stale && o.replaced.is_none());
        write_new(o, "new\n");
        assert_eq!(std::fs::read_to_string(&other).expect("read"), "new\n");
    }
}
