//! Reading a byte range of a file through bounded memory maps instead of `read`: the hashing
//! engine's way to skip the copy out of the page cache (12% of a two-core SHA-256 run's cycles
//! were `_copy_to_iter`, measured with `perf`; see benches/README.md).
//!
//! Guarantees:
//! - memory stays bounded: one [`WINDOW`]-sized map at a time per call, unmapped before the next
//!   (never a whole-file map), populated up front and advised sequential, with the next window's
//!   read-ahead started early;
//! - a file truncated by someone else while it is mapped is an error of kind
//!   [`io::ErrorKind::UnexpectedEof`], never a `SIGBUS`: a process-wide handler recognises a fault
//!   inside the calling thread's active window, puts a zero page over the lost page so the read
//!   can finish, and the call then fails; a fault anywhere else goes to the handler that was there
//!   before (or to the default action, which ends the process as it would have);
//! - when a map cannot be used (a file system without `mmap`, or someone replaced the handler
//!   after it was installed, e.g. Python's `faulthandler`), the call fails with
//!   [`io::ErrorKind::Unsupported`] before reading anything, and the caller reads instead.
//!
//! The bytes handed to `sink` are the file's page-cache pages: a concurrent writer can change
//! them while they are read, exactly as it could between two `read`s; callers detect that by the
//! file's change stamp (as the hashing engine does), not by the bytes.

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// Bytes per map: large enough that `mmap`/`munmap` (and the TLB shoot-down of the unmap) are
/// rare, small enough that two hashing threads keep a few MiB of page tables and mapped pages.
pub const WINDOW: usize = 8 << 20;

thread_local! {
    /// The calling thread's active window (address, length); (0, 0) when none.
    static ACTIVE: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Set by the handler when a page of the active window was lost to a truncation.
    static FAULTED: Cell<bool> = const { Cell::new(false) };
}

/// The `SIGBUS` disposition found when the handler was installed, to pass other faults on to.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Feeds bytes `start..end` of `file` to `sink` in pieces of at most `piece` bytes, read through
/// bounded maps. Fails with `UnexpectedEof` if the file lost pages of the range while they were
/// read (it was truncated), with `Unsupported` if no map can be used (nothing was read then),
/// or with the OS error of a failed map.
pub fn read_mapped(
    file: &File,
    start: u64,
    end: u64,
    piece: usize,
    mut sink: impl FnMut(&[u8]),
) -> io::Result<()> {
    if !handler_in_place()? {
        return Err(io::ErrorKind::Unsupported.into());
    }
    let page = page_size();
    let piece = piece.max(1);
    let mut offset = start;
    let mut first = true;
    while offset < end {
        let aligned = offset - offset % page;
        let window_end = end.min(aligned + WINDOW as u64);
        let window = match Window::map(file, aligned, (window_end - aligned) as usize) {
            Ok(window) => window,
            Err(e) if first && e.raw_os_error() == Some(libc::ENODEV) => {
                return Err(io::ErrorKind::Unsupported.into())
            }
            Err(e) => return Err(e),
        };
        first = false;
        if window_end < end {
            prefetch(file, window_end, (end - window_end).min(WINDOW as u64));
        }
        let skip = (offset - aligned) as usize;
        for bytes in window.bytes()[skip..].chunks(piece) {
            sink(bytes);
            if FAULTED.with(Cell::get) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file was truncated while it was read",
                ));
            }
        }
        offset = window_end;
    }
    Ok(())
}

/// One populated read-only private map of `len` bytes at `offset`, the calling thread's active
/// window until dropped (unmapped then).
struct Window {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Window {
    fn map(file: &File, offset: u64, len: usize) -> io::Result<Window> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: a fresh private read-only map chosen by the kernel (no fixed address): it
        // aliases no Rust object; `fd` is open for the call.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: advice on the map made above; failure only loses the hint.
        unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
        FAULTED.with(|f| f.set(false));
        ACTIVE.with(|a| a.set((ptr as usize, len)));
        Ok(Window { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is a readable map owned by `self` until drop. Pages lost to a
        // truncation are replaced by zero pages by the handler (the read then fails); bytes a
        // concurrent writer changes may differ between reads, which the caller detects by the
        // file's change stamp, as it would with `read`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set((0, 0)));
        // SAFETY: unmaps exactly the map made in `map` (with any zero pages put over it); no
        // slice of it outlives `self`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Starts read-ahead of the next window, so a disk read overlaps the hashing of this one.
fn prefetch(file: &File, offset: u64, len: u64) {
    if let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) {
        // SAFETY: integer arguments on an open descriptor; only a hint.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED) };
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf takes and returns integers.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// Installs the handler once; true when it is (still) the process's `SIGBUS` handler.
fn handler_in_place() -> io::Result<bool> {
    let mut current: libc::sigaction = zeroed_action();
    // SAFETY: queries the disposition into a local struct.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if current.sa_sigaction == handler_address() {
        return Ok(true);
    }
    if PREVIOUS.get().is_some() {
        return Ok(false); // ours was replaced: do not take the signal back from its new owner
    }
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALL
        .lock()
        .map_err(|_| io::Error::other("SIGBUS handler lock poisoned"))?;
    if PREVIOUS.get().is_some() {
        return handler_in_place();
    }
    let _ = PREVIOUS.set(current);
    let mut action = zeroed_action();
    action.sa_sigaction = handler_address();
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs a handler that only touches const thread-locals, a set-once static and
    // async-signal-safe calls (mmap, sigaction, raise); `action` is a local read by the kernel.
    if unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

fn handler_address() -> libc::sighandler_t {
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigbus;
    handler as *const () as libc::sighandler_t
}

fn zeroed_action() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zero is a valid value (SIG_DFL, no
    // flags, an empty mask).
    unsafe { std::mem::zeroed() }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (base, len) = ACTIVE.try_with(Cell::get).unwrap_or((0, 0));
    if base != 0 && addr >= base && addr - base < len {
        let page = page_size() as usize;
        // SAFETY: replaces one page of this thread's own active window (which no other code
        // maps or owns) with a private zero page, so the faulting read can complete.
        let zero = unsafe {
            libc::mmap(
                (addr & !(page - 1)) as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zero != libc::MAP_FAILED {
            let _ = FAULTED.try_with(|f| f.set(true));
            return;
        }
    }
    pass_on(sig, info, context);
}

/// A fault that is not ours: what the previous disposition would have done.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = PREVIOUS.get().map(|p| (p.sa_sigaction, p.sa_flags));
    match previous {
        Some((libc::SIG_IGN, _)) => {}
        Some((handler, flags)) if handler != libc::SIG_DFL => {
            if flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous SA_SIGINFO handler, called as the kernel would have.
                type Action = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
                let f = unsafe { std::mem::transmute::<libc::sighandler_t, Action>(handler) };
                f(sig, info, context);
            } else {
                // SAFETY: the previous plain handler, called as the kernel would have.
                type Handler = extern "C" fn(libc::c_int);
                let f = unsafe { std::mem::transmute::<libc::sighandler_t, Handler>(handler) };
                f(sig);
            }
        }
        _ => {
            // The default action: restore it and raise, so the process ends as it would have
            // (the signal stays blocked until this handler returns).
            let default = zeroed_action();
            // SAFETY: async-signal-safe calls with a local struct.
            unsafe {
                libc::sigaction(sig, &default, std::ptr::null_mut());
                libc::raise(sig);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        (dir, path, data)
    }

    #[test]
    fn reads_every_range_exactly_across_windows() {
        let len = WINDOW * 2 + 12_345;
        let (_dir, path, data) = file_of(len);
        let file = File::open(&path).unwrap();
        for (start, end) in [
            (0, len),
            (1, len - 1),
            (4095, WINDOW + 4097),
            (len - 3, len),
            (7, 7),
        ] {
            let mut got = Vec::new();
            read_mapped(&file, start as u64, end as u64, 65_536, |b| {
                got.extend_from_slice(b)
            })
            .unwrap();
            assert!(got == data[start..end], "range {start}..{end}");
        }
    }

    #[test]
    fn a_file_truncated_while_mapped_is_an_error_not_a_sigbus() {
        let (_dir, path, _) = file_of(WINDOW + 300_000);
        let file = File::open(&path).unwrap();
        let (mut pieces, mut sum) = (0, 0u64);
        let result = read_mapped(&file, 0, file.metadata().unwrap().len(), 65_536, |b| {
            sum += b.iter().map(|&x| u64::from(x)).sum::<u64>(); // touches every page
            pieces += 1;
            if pieces == 1 {
                // Someone else truncates the file after the first piece of the populated window.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(4096)
                    .unwrap();
            }
        });
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert!(
            pieces < 10,
            "the read stops at the lost page ({pieces} pieces)"
        );
        // The next read of another file works, with the handler still in place.
        let (_d2, p2, data) = file_of(100_000);
        let mut got = Vec::new();
        read_mapped(&File::open(p2).unwrap(), 0, 100_000, 65_536, |b| {
            got.extend_from_slice(b)
        })
        .unwrap();
        assert!(got == data);
    }
}
