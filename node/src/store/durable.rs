//! Every fsync the store makes goes through here: a file's data, a folder's names, and sled's
//! files after sled's own flush — which ends in `sync_file_range` (no fsync: neither the
//! file's size nor the disk's write cache is covered) and never syncs `conf` or the folder.
//!
//! In tests, a crash simulator ([`sim`]) watches these calls: at each one it keeps a copy of
//! what that call made durable, so a test can "cut the power" after any of them and reopen
//! the store from exactly what had been synced — and, after each sled batch, a copy of sled as
//! its background flusher may have left it, beside the entry file as last synced.

use std::fs::File;
use std::io;
use std::path::Path;

/// Forces a file's data and size to the disk.
pub(super) fn sync_file(file: &File, path: &Path) -> io::Result<()> {
    file.sync_all()?;
    #[cfg(test)]
    sim::synced_file(path);
    #[cfg(not(test))]
    let _ = path;
    Ok(())
}

/// Forces a folder's entries (files created, renamed or removed in it) to the disk.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Fsyncs sled's files in `dir` (after `Db::flush`): its log `db`, its `conf`, its blobs, and
/// the folders that name them. The entry file is not sled's and is left alone.
pub(super) fn sync_sled_files(dir: &Path, entry_file: &str) -> io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        if name == entry_file {
            continue;
        }
        let kind = item.file_type()?;
        if kind.is_file() {
            File::open(item.path())?.sync_all()?;
        } else if kind.is_dir() {
            for blob in std::fs::read_dir(item.path())? {
                let blob = blob?;
                if blob.file_type()?.is_file() {
                    File::open(blob.path())?.sync_all()?;
                }
            }
            sync_dir(&item.path())?;
        }
    }
    sync_dir(dir)?;
    #[cfg(test)]
    sim::synced_sled(dir, entry_file);
    Ok(())
}

/// A crash simulator for tests: records, on this thread, what each fsync made durable, as a
/// series of folders — the store's folder as a power cut right after that fsync would leave it.
/// The model: a file holds what it held at its last fsync, nothing written since; sled's files
/// hold what they held at the last [`sync_sled_files`] — or, at the extra points taken after
/// each sled batch ([`sled_wrote`]), everything written so far (sled's flusher ran just before
/// the cut) while the entry file still holds only what was synced: sled ahead of the file.
#[cfg(test)]
pub(crate) mod sim {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    struct Recorder {
        /// The store's folder being watched.
        watched: PathBuf,
        /// What is durable now, file by file.
        shadow: PathBuf,
        /// Where each crash point's folder is written.
        points: PathBuf,
        count: usize,
    }

    thread_local! {
        static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
    }

    /// Starts recording the fsyncs of the store in `watched` made on this thread; crash points
    /// are written under `work`. What the folder holds now counts as durable.
    pub(crate) fn record(watched: &Path, work: &Path) {
        let shadow = work.join("shadow");
        let points = work.join("points");
        std::fs::create_dir_all(&points).unwrap_or_else(|e| panic!("crash simulator: {e}"));
        copy_tree(watched, &shadow, None);
        RECORDER.with(|r| {
            *r.borrow_mut() = Some(Recorder { watched: watched.to_path_buf(), shadow, points, count: 0 });
        });
    }

    /// How many crash points have been recorded so far.
    pub(crate) fn points_so_far() -> usize {
        RECORDER.with(|r| r.borrow().as_ref().map_or(0, |r| r.count))
    }

    /// Stops recording; returns the crash points' folders, in order.
    pub(crate) fn finish() -> Vec<PathBuf> {
        RECORDER.with(|r| match r.borrow_mut().take() {
            Some(recorder) => (0..recorder.count).map(|i| recorder.points.join(i.to_string())).collect(),
            None => Vec::new(),
        })
    }

    pub(super) fn synced_file(path: &Path) {
        RECORDER.with(|r| {
            let mut recorder = r.borrow_mut();
            let Some(recorder) = recorder.as_mut() else { return };
            let Ok(relative) = path.strip_prefix(&recorder.watched) else { return };
            let target = recorder.shadow.join(relative);
            std::fs::copy(path, &target).unwrap_or_else(|e| panic!("crash simulator: {e}"));
            recorder.point();
        });
    }

    /// After a sled batch: `flush` makes sled write it out (as its background flusher would),
    /// and a crash point is taken with sled as it is now and the entry file as last synced.
    pub(in crate::store) fn sled_wrote(dir: &Path, entry_file: &str, flush: &dyn Fn()) {
        RECORDER.with(|r| {
            let mut recorder = r.borrow_mut();
            let Some(recorder) = recorder.as_mut() else { return };
            if dir != recorder.watched {
                return;
            }
            flush();
            let point = recorder.points.join(recorder.count.to_string());
            copy_tree(dir, &point, Some(entry_file));
            if let Ok(bytes) = std::fs::read(recorder.shadow.join(entry_file)) {
                std::fs::write(point.join(entry_file), bytes).unwrap_or_else(|e| panic!("crash simulator: {e}"));
            }
            recorder.count += 1;
        });
    }

    pub(super) fn synced_sled(dir: &Path, entry_file: &str) {
        RECORDER.with(|r| {
            let mut recorder = r.borrow_mut();
            let Some(recorder) = recorder.as_mut() else { return };
            if dir != recorder.watched {
                return;
            }
            // sled's files as they are now, beside the entry file as it was last synced.
            let kept = recorder.shadow.join(entry_file);
            let entries = std::fs::read(&kept).ok();
            let _ = std::fs::remove_dir_all(&recorder.shadow);
            copy_tree(dir, &recorder.shadow, Some(entry_file));
            if let Some(bytes) = entries {
                std::fs::write(&kept, bytes).unwrap_or_else(|e| panic!("crash simulator: {e}"));
            }
            recorder.point();
        });
    }

    impl Recorder {
        fn point(&mut self) {
            copy_tree(&self.shadow, &self.points.join(self.count.to_string()), None);
            self.count += 1;
        }
    }

    /// Copies a folder (one level of subfolders, as sled's `blobs/`), leaving out `except`.
    fn copy_tree(from: &Path, to: &Path, except: Option<&str>) {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("crash simulator: {e}"));
        let Ok(items) = std::fs::read_dir(from) else { return };
        for item in items.flatten() {
            let name = item.file_name();
            if except.is_some_and(|except| name == except) {
                continue;
            }
            let path = item.path();
            if path.is_dir() {
                copy_tree(&path, &to.join(&name), None);
            } else {
                // sled may remove a file while it is copied: a missing file is not copied.
                let _ = std::fs::copy(&path, to.join(&name));
            }
        }
    }
}
