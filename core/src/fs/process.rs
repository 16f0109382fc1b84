//! Keeping secrets out of core dumps: [`harden_process`] marks the process non-dumpable and sets
//! its core-file limit to zero, so that a crash (or a `kill -ABRT`) while a private key, a KEK or
//! a PIN is in memory leaves no core file holding it, and other processes of the same user cannot
//! `ptrace` it or read its `/proc/<pid>/mem`.
//!
//! It lives here because it needs `libc` calls (`prctl`, `setrlimit`) and `fs` is the one module
//! allowed `unsafe`. The CLI calls it at the start of every verb that may load a secret; a library
//! never calls it on its own (it would change a user's Python process), Python offers it as
//! `modelseal.harden_process()`.

use std::io;

/// Sets `PR_SET_DUMPABLE` to 0 and `RLIMIT_CORE` to 0 for the whole process (all threads).
pub fn harden_process() -> io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `zero` is a valid rlimit that outlives the call; the kernel only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the process is dumpable (`PR_GET_DUMPABLE`), for tests and diagnostics.
pub fn is_dumpable() -> io::Result<bool> {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments.
    let r = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r != 0)
}

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping, returned to the
/// system when freed (`serve` calls it before its threads start). Without a fixed threshold glibc
/// raises it after such a free (up to 32 MiB), and signature buffers of a few MiB then stay
/// resident in each blocking thread's arena: the server's RSS grew to the sum of their peaks
/// instead of the peak of one verification at a time. A no-op off glibc.
pub fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) with a documented parameter; it only sets an allocator threshold.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
