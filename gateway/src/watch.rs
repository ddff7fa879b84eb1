//! `--watch DIR`: every entry of a directory (such as `/dev/serial/by-id`) is a serial
//! device, on the bus while the entry exists. Plugged in, it is opened and registered (and
//! tried again while that fails); unplugged, its service stops.
//!
//! The directories are polled every [`POLL`] rather than watched with inotify: polling
//! needs no new dependency, and inotify would need care exactly where serial ports live
//! (/dev/serial/by-id itself is made and removed by udev with the first and last device,
//! so its parents would have to be watched too; a symlink can be replaced in one rename,
//! or left pointing at a device node that is gone). Listing a few entries four times a
//! second costs nothing, and a quarter of a second is quick next to a device's boot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use wirecall_adapters::host::LinkUrl;

use crate::device::DeviceSpec;
use crate::fleet::{Fleet, Keeper};

/// How often the directories are listed.
const POLL: Duration = Duration::from_millis(250);

/// The watched directories and the devices found in them.
pub(crate) struct Watcher {
    dirs: Vec<PathBuf>,
    baud: u32,
    fleet: Arc<Fleet>,
    /// Each entry present at the last look, by path.
    entries: HashMap<PathBuf, Entry>,
    /// Directories said to be missing, and entries said to be ignored, so each is said
    /// once.
    said: HashSet<PathBuf>,
}

/// A present entry.
struct Entry {
    /// The device number it leads to: another number under the same name is another
    /// device (unplugged and replugged between two looks), taken off and put on again.
    rdev: u64,
    /// Its device on the bus; `None` while its id is taken by another device.
    keeper: Option<Keeper>,
}

/// The device id of a directory entry: its name with every character that a subject
/// token or service name may not hold replaced by `_`, and a leading `_` (which the
/// services API reserves) by `d`.
pub(crate) fn entry_id(name: &OsStr) -> String {
    let mut id: String = name
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.starts_with('_') {
        id.replace_range(..1, "d");
    }
    id
}

impl Watcher {
    /// Watches `dirs`, opening what appears there at `baud`. A path that exists and is
    /// not a directory (`--watch /dev/ttyUSB0` for `--device`) is refused; a missing one
    /// is waited for, as `/dev/serial/by-id` is missing while nothing is plugged in.
    pub(crate) fn new(dirs: Vec<PathBuf>, baud: u32, fleet: Arc<Fleet>) -> Result<Watcher, String> {
        for dir in &dirs {
            match std::fs::metadata(dir) {
                Ok(m) if !m.is_dir() => {
                    return Err(format!(
                        "--watch {}: not a directory (a serial port is given with \
                         --device ID=serial://PATH?baud=N)",
                        dir.display()
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("--watch {}: {e}", dir.display())),
            }
        }
        Ok(Watcher {
            dirs,
            baud,
            fleet,
            entries: HashMap::new(),
            said: HashSet::new(),
        })
    }

    /// Looks once: starts keeping what appeared, stops what went. Returns, for each device
    /// started, the signal of its first attempt's end.
    pub(crate) async fn poll(&mut self) -> Vec<oneshot::Receiver<()>> {
        let (now, unread) = self.look();
        // An entry is gone when its directory was read without it; a directory that could
        // not be read this time (other than missing) keeps what it had.
        let gone: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|(path, entry)| now.get(*path) != Some(&entry.rdev))
            .filter(|(path, _)| {
                !path
                    .parent()
                    .is_some_and(|dir| unread.iter().any(|u| u == dir))
            })
            .map(|(path, _)| path.clone())
            .collect();
        let mut stopping = Vec::new();
        for path in gone {
            self.said.remove(&path);
            if let Some(Entry {
                keeper: Some(keeper),
                ..
            }) = self.entries.remove(&path)
            {
                eprintln!(
                    "wirecall-gateway: {} is gone: taking its device off the bus",
                    path.display()
                );
                // Unplugged: its calls have failed with its link, or end now.
                stopping.push(keeper.stop(Duration::ZERO));
            }
        }
        // Together: a hub unplugged with many devices on it takes one wait, not many.
        futures_util::future::join_all(stopping).await;
        let mut firsts = Vec::new();
        // In order of path, so that of two entries whose ids collide the same one wins
        // every time.
        for (path, rdev) in now {
            let entry = self
                .entries
                .entry(path.clone())
                .or_insert(Entry { rdev, keeper: None });
            if entry.keeper.is_some() {
                continue;
            }
            let Some(spec) = spec_of(&path, self.baud) else {
                if self.said.insert(path.clone()) {
                    eprintln!(
                        "wirecall-gateway: {} is ignored: its path is not UTF-8",
                        path.display()
                    );
                }
                continue;
            };
            let origin = path.display().to_string();
            match self.fleet.keep(spec.clone(), &origin) {
                Ok((keeper, first)) => {
                    eprintln!(
                        "wirecall-gateway: {origin} appeared: device {} on {}",
                        spec.id, spec.link
                    );
                    self.said.remove(&path);
                    entry.keeper = Some(keeper);
                    firsts.push(first);
                }
                // Refused once is said once; it is tried again on every look, so it gets
                // the id when the holder goes.
                Err(e) => {
                    if self.said.insert(path.clone()) {
                        eprintln!("wirecall-gateway: {e}");
                    }
                }
            }
        }
        firsts
    }

    /// Every serial device in the watched directories now: each entry that is (or leads
    /// to) a character device, with its device number; and the directories that could not
    /// be read this time (for a reason other than being missing).
    fn look(&mut self) -> (BTreeMap<PathBuf, u64>, Vec<PathBuf>) {
        let mut now = BTreeMap::new();
        let mut unread = Vec::new();
        for dir in &self.dirs {
            let listing = match std::fs::read_dir(dir) {
                Ok(listing) => {
                    self.said.remove(dir);
                    listing
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    if self.said.insert(dir.clone()) {
                        eprintln!(
                            "wirecall-gateway: cannot list {} ({e}): its devices stay as they were",
                            dir.display()
                        );
                    }
                    unread.push(dir.clone());
                    continue;
                }
                Err(e) => {
                    // /dev/serial/by-id exists only while a device is plugged in: a
                    // missing directory is an empty one, said once.
                    if self.said.insert(dir.clone()) {
                        eprintln!(
                            "wirecall-gateway: cannot list {} ({e}): watching for it",
                            dir.display()
                        );
                    }
                    continue;
                }
            };
            for entry in listing {
                let Ok(entry) = entry else {
                    // Listing broke off: what was not seen is not known to be gone.
                    unread.push(dir.clone());
                    break;
                };
                let path = entry.path();
                // Follows a symlink: a dangling one (its device just went) is no device.
                match std::fs::metadata(&path) {
                    Ok(m) if m.file_type().is_char_device() => {
                        now.insert(path, m.rdev());
                    }
                    Ok(_) => {
                        if self.said.insert(path.clone()) {
                            eprintln!(
                                "wirecall-gateway: {} is ignored: not a character device",
                                path.display()
                            );
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        (now, unread)
    }

    /// Polls until `stop` fires, then takes every watched device off the bus.
    pub(crate) async fn run(mut self, mut stop: oneshot::Receiver<Duration>) {
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let grace = loop {
            tokio::select! {
                _ = ticks.tick() => { self.poll().await; }
                grace = &mut stop => break grace.unwrap_or(Duration::ZERO),
            }
        };
        let keepers = self.entries.into_values().filter_map(|e| e.keeper);
        futures_util::future::join_all(keepers.map(|k| k.stop(grace))).await;
    }
}

/// The device of entry `path`: its id from its name, its link `serial://PATH?baud=BAUD`.
fn spec_of(path: &std::path::Path, baud: u32) -> Option<DeviceSpec> {
    let id = entry_id(path.file_name()?);
    let link = LinkUrl::Serial {
        path: path.to_str()?.to_string(),
        baud,
    };
    Some(DeviceSpec { id, link })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::device::check_id;

    #[test]
    fn an_entry_name_becomes_a_device_id() {
        let id = |s: &str| entry_id(OsStr::new(s));
        assert_eq!(
            id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"),
            "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
        );
        assert_eq!(id("usb-Arduino.LLC_Uno:1.0"), "usb-Arduino_LLC_Uno_1_0");
        assert_eq!(id("_hidden"), "dhidden");
        assert_eq!(id(".tty"), "dtty");
        assert_eq!(id("tty été"), "tty__t_");
        for name in ["a.b", "_", "é", "x y"] {
            assert!(check_id(&id(name)).is_ok(), "{name}");
        }
    }

    #[test]
    fn an_entry_is_a_serial_link_at_the_baud_rate() {
        let spec = spec_of(std::path::Path::new("/dev/serial/by-id/usb-x:1"), 9600).unwrap();
        assert_eq!(spec.id, "usb-x_1");
        assert_eq!(
            spec.link.to_string(),
            "serial:///dev/serial/by-id/usb-x:1?baud=9600"
        );
    }
}
