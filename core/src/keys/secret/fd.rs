//! `fd:N`: a secret read from a descriptor the process inherited (`3<pin-file`, a pipe from a
//! secret agent), to its end, once: the descriptor is closed afterwards (stdin, `fd:0`, stays
//! open), and later uses in the same process get the value read the first time.

use super::{SecretBytes, MAX_SECRET_BYTES};
use std::io::Read;
use zeroize::Zeroizing;

/// Reads descriptor `fd` to its end (at most [`MAX_SECRET_BYTES`] + 1 bytes, so that the caller
/// can refuse a larger one) and closes it.
pub(super) fn read(fd: i32) -> Result<SecretBytes, String> {
    let file = crate::fs::take_inherited_fd(fd)
        .map_err(|e| format!("cannot use descriptor {fd} ({e})"))?;
    let mut value = Zeroizing::new(Vec::with_capacity(256));
    // `take` bounds the read; the buffer may reallocate while growing, so read in place through
    // a fixed chunk to leave no unzeroized copy behind.
    let mut chunk = Zeroizing::new([0u8; 4096]);
    let mut limited = file.take(MAX_SECRET_BYTES as u64 + 1);
    loop {
        let n = limited
            .read(&mut chunk[..])
            .map_err(|e| format!("cannot read descriptor {fd} ({e})"))?;
        if n == 0 {
            break;
        }
        if value.len() + n > value.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((value.len() + n) * 2));
            bigger.extend_from_slice(&value);
            value = bigger;
        }
        value.extend_from_slice(&chunk[..n]);
    }
    if value.is_empty() {
        return Err(format!("descriptor {fd} gave no bytes"));
    }
    Ok(value)
}
