//! The chunk stream reader (docs/FORMAT.md §7, §11) over arbitrary ciphertext: the first 4 bytes
//! choose the plaintext size it expects (below 64 KiB, 4 KiB chunks), the next 8 a seek position,
//! the rest is the ciphertext. Whatever the input, it returns only authenticated bytes or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::seal::keyschedule::DataKey;
use modelseal::seal::stream::{ChunkLayout, ChunkReader, FileCipher};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let size = u64::from(u32::from_be_bytes([data[0], data[1], data[2], data[3]]) % 65536);
    let seek = u64::from_be_bytes(data[4..12].try_into().unwrap_or([0; 8]));
    let dek = DataKey::from_bytes([0x42; 32]);
    let keys = dek.file_keys("model.bin", &[7; 32]);
    let Ok(cipher) = FileCipher::new(&keys, ChunkLayout::new(4096, size)) else {
        return;
    };
    let Ok(mut reader) = ChunkReader::new(Cursor::new(&data[12..]), cipher, 0, Path::new("fuzz"))
    else {
        return;
    };
    let mut out = Vec::new();
    if reader.read_to_end(&mut out).is_ok() {
        // Random data never authenticates as a non-empty file... unless it is the real thing.
        assert_eq!(out.len() as u64, size);
    }
    if reader.seek(SeekFrom::Start(seek)).is_ok() {
        let mut buf = [0u8; 5000];
        let _ = reader.read(&mut buf);
    }
});
