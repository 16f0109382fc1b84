//! The chunk stream (docs/FORMAT.md §7, §11): the input is a plaintext (up to 64 KiB, 4 KiB
//! chunks) plus a damage recipe. The plaintext is encrypted with the stream writer, optionally
//! damaged (one bit flipped, or bytes cut off the end, or bytes appended), then read back through
//! the seekable reader, whole and from a seek position. Undamaged, it must return exactly the
//! plaintext; damaged, it must fail — it may never return a byte that is not the plaintext's.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::internals::envelope::keyschedule::KeySchedule;
use modelseal::keys::DataKey;
use modelseal::internals::envelope::stream::{ChunkLayout, ChunkReader, FileCipher, StreamWriter};
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

const CHUNK: u32 = 4096;

fn cipher(size: u64) -> FileCipher {
    let dek = DataKey::from_bytes([0x42; 32]);
    let keys = dek.file_keys("model.bin", &[7; 32]);
    FileCipher::new(&keys, ChunkLayout::new(CHUNK, size)).expect("a 32-byte key")
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (recipe, plaintext) = data.split_at(12);
    let plaintext = &plaintext[..plaintext.len().min(65536)];
    let mode = recipe[0] % 4;
    let at = u16::from_be_bytes([recipe[1], recipe[2]]) as usize;
    let seek = u64::from_be_bytes(recipe[3..11].try_into().unwrap_or([0; 8])) % 70_000;

    let mut writer = StreamWriter::new(Vec::new(), cipher(plaintext.len() as u64));
    writer.write_all(plaintext).expect("writing to memory");
    let mut ct = writer.finish().expect("finishing in memory");
    match mode {
        1 => {
            let i = at % ct.len();
            ct[i] ^= 1 << (recipe[11] % 8);
        }
        2 => ct.truncate(ct.len().saturating_sub(1 + at % 4200)),
        3 => ct.extend_from_slice(&recipe[..1 + at % 11]),
        _ => {}
    }
    let damaged = mode != 0;

    let reader = ChunkReader::new(
        Cursor::new(&ct[..]),
        cipher(plaintext.len() as u64),
        0,
        Path::new("fuzz"),
    );
    let mut reader = match reader {
        Ok(r) => r,
        Err(_) => {
            assert!(damaged, "an undamaged stream was refused");
            return;
        }
    };
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => {
            assert!(!damaged, "a damaged stream decrypted");
            assert_eq!(out, plaintext);
        }
        Err(_) => assert!(damaged, "an undamaged stream failed"),
    }
    if reader.seek(SeekFrom::Start(seek)).is_ok() {
        let mut buf = vec![0u8; 5000];
        if let Ok(n) = reader.read(&mut buf) {
            let from = (seek as usize).min(plaintext.len());
            let to = (from + n).min(plaintext.len());
            assert_eq!(&buf[..n], &plaintext[from..to], "bytes that are not the plaintext");
        }
    }
});
