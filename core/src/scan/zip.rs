//! The little of ZIP (APPNOTE 6.3) that format detection needs: the names in the central
//! directory, and where a stored (uncompressed) member's bytes are.
//!
//! PyTorch (`torch.save` since 1.6), Keras 3 (`.keras`) and NumPy (`.npz`) write ZIP archives;
//! which one it is, and whether it carries a pickle, is read from the member names, and a PyTorch
//! archive's `data.pkl` (always stored, not deflated) from its local header. Bounded: the end
//! record is searched in the last 64 KiB + 22 bytes only, the central directory is read only if
//! smaller than [`MAX_DIRECTORY`], and at most [`MAX_ENTRIES`] names are kept.

use std::io::{Read, Seek, SeekFrom};

/// Largest central directory read.
const MAX_DIRECTORY: u64 = 16 * 1024 * 1024;
/// Most entries kept.
const MAX_ENTRIES: usize = 100_000;

/// One member of the archive.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    /// 0: stored; 8: deflated; others exist.
    pub method: u16,
    pub compressed_size: u64,
    pub local_header: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_at(file: &mut (impl Read + Seek), offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The central directory of the archive `file` (`size` bytes); `None` when it is not a ZIP this
/// reader understands (no end record, a directory over the limit, a malformed record).
pub(crate) fn entries(file: &mut (impl Read + Seek), size: u64) -> Option<Vec<Entry>> {
    let tail_len = size.min(65_535 + 22);
    let tail = read_at(file, size - tail_len, tail_len as usize).ok()?;
    let eocd = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let mut count = u64::from(u16_at(&tail, eocd + 10)?);
    let mut dir_size = u64::from(u32_at(&tail, eocd + 12)?);
    let mut dir_offset = u64::from(u32_at(&tail, eocd + 16)?);
    if dir_offset == 0xffff_ffff || dir_size == 0xffff_ffff || count == 0xffff {
        // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
        let locator = eocd.checked_sub(20)?;
        if tail.get(locator..locator + 4)? != b"PK\x06\x07" {
            return None;
        }
        let record_at = u64_at(&tail, locator + 8)?;
        let record = read_at(file, record_at, 56).ok()?;
        if &record[..4] != b"PK\x06\x06" {
            return None;
        }
        count = u64_at(&record, 32)?;
        dir_size = u64_at(&record, 40)?;
        dir_offset = u64_at(&record, 48)?;
    }
    if dir_size > MAX_DIRECTORY || dir_offset.checked_add(dir_size)? > size {
        return None;
    }
    let dir = read_at(file, dir_offset, dir_size as usize).ok()?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while out.len() < (count as usize).min(MAX_ENTRIES) {
        if dir.get(at..at + 4)? != b"PK\x01\x02" {
            return None;
        }
        let method = u16_at(&dir, at + 10)?;
        let mut compressed_size = u64::from(u32_at(&dir, at + 20)?);
        let mut uncompressed = u64::from(u32_at(&dir, at + 24)?);
        let name_len = usize::from(u16_at(&dir, at + 28)?);
        let extra_len = usize::from(u16_at(&dir, at + 30)?);
        let comment_len = usize::from(u16_at(&dir, at + 32)?);
        let mut local_header = u64::from(u32_at(&dir, at + 42)?);
        let name = String::from_utf8_lossy(dir.get(at + 46..at + 46 + name_len)?).into_owned();
        let extra = dir.get(at + 46 + name_len..at + 46 + name_len + extra_len)?;
        zip64_sizes(
            extra,
            &mut uncompressed,
            &mut compressed_size,
            &mut local_header,
        );
        out.push(Entry {
            name,
            method,
            compressed_size,
            local_header,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(out)
}

/// Applies the ZIP64 extra field (id 1): the 8-byte values replace the 32-bit fields that are
/// all ones, in the order uncompressed size, compressed size, local header offset.
fn zip64_sizes(extra: &[u8], uncompressed: &mut u64, compressed: &mut u64, local: &mut u64) {
    let mut at = 0;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        let body_at = at + 4;
        if id == 1 {
            let mut field = body_at;
            for value in [uncompressed, compressed, local] {
                if *value == 0xffff_ffff {
                    if let Some(v) = u64_at(extra, field) {
                        *value = v;
                        field += 8;
                    }
                }
            }
            return;
        }
        at = body_at + usize::from(len);
    }
}

/// Where the bytes of a stored member start: after its local header (whose name and extra
/// lengths may differ from the central directory's).
pub(crate) fn data_offset(file: &mut (impl Read + Seek), entry: &Entry) -> Option<u64> {
    let header = read_at(file, entry.local_header, 30).ok()?;
    if &header[..4] != b"PK\x03\x04" {
        return None;
    }
    let name_len = u64::from(u16_at(&header, 26)?);
    let extra_len = u64::from(u16_at(&header, 28)?);
    Some(entry.local_header + 30 + name_len + extra_len)
}
