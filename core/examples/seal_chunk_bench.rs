//! Chunk-size benchmark for `docs/FORMAT.md` §7.6: encrypts and decrypts one file (default 1 GiB)
//! with the parallel STREAM pipeline for several chunk sizes, and times random 4 KiB reads through
//! the seekable reader.
//!
//! Run: `cargo run --release -p modelseal --example seal_chunk_bench -- [MiB] [dir]`.

use modelseal::internals::envelope::keyschedule::KeySchedule;
use modelseal::internals::envelope::stream::{
    decrypt_jobs, encrypt_jobs, ChunkLayout, ChunkReader, FileCipher, Job,
};
use modelseal::keys::DataKey;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let dir = PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "/tmp".into()));
    let size = mib << 20;
    let pt_path = dir.join("seal-bench.pt");
    let ct_path = dir.join("seal-bench.ct");
    let out_path = dir.join("seal-bench.out");
    {
        let mut f = File::create(&pt_path)?;
        let block: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for _ in 0..mib {
            f.write_all(&block)?;
        }
    }
    let dek = DataKey::from_bytes([7; 32]);
    let keys = dek.file_keys("model.bin", &[1; 32]);
    println!(
        "file {mib} MiB, {} rayon threads",
        rayon::current_num_threads()
    );
    println!("chunk      encrypt        decrypt        random 4 KiB reads/s");
    for chunk in [64u32 << 10, 256 << 10, 1 << 20, 4 << 20] {
        let cipher = FileCipher::new(&keys, ChunkLayout::new(chunk, size))?;
        let mut best = [f64::MAX; 2];
        for _ in 0..3 {
            for (k, (src, dst)) in [(&pt_path, &ct_path), (&ct_path, &out_path)]
                .into_iter()
                .enumerate()
            {
                let s = File::open(src)?;
                let d = File::create(dst)?;
                let job = Job {
                    cipher: &cipher,
                    src: &s,
                    src_name: src,
                    ct_base: 0,
                    dst: &d,
                    dst_name: dst,
                };
                let t = Instant::now();
                if k == 0 {
                    encrypt_jobs(&[job])?;
                } else {
                    decrypt_jobs(&[job])?;
                }
                best[k] = best[k].min(t.elapsed().as_secs_f64());
            }
        }
        // Random reads through the seekable reader.
        let mut r = ChunkReader::new(
            File::open(&ct_path)?,
            FileCipher::new(&keys, ChunkLayout::new(chunk, size))?,
            0,
            &ct_path,
        )?;
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut buf = [0u8; 4096];
        let reads = 2000;
        let t = Instant::now();
        for _ in 0..reads {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.seek(SeekFrom::Start(x % (size - 4096)))?;
            r.read_exact(&mut buf)?;
        }
        let rps = reads as f64 / t.elapsed().as_secs_f64();
        let gbs = |s: f64| size as f64 / s / 1e9;
        println!(
            "{:>5} KiB  {:.3} s {:.2} GB/s  {:.3} s {:.2} GB/s  {:.0}",
            chunk >> 10,
            best[0],
            gbs(best[0]),
            best[1],
            gbs(best[1]),
            rps
        );
    }
    in_memory(&keys)?;
    for p in [pt_path, ct_path, out_path] {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// AEAD throughput without file I/O: 256 MiB sealed chunk by chunk, 4 passes, 1 and 2 threads.
fn in_memory(
    keys: &modelseal::internals::envelope::keyschedule::FileKeys,
) -> Result<(), Box<dyn std::error::Error>> {
    use rayon::prelude::*;
    let total: usize = 256 << 20;
    println!("in memory (seal, 4 x 256 MiB)  1 thread   2 threads");
    for chunk in [64usize << 10, 256 << 10, 1 << 20, 4 << 20] {
        let n = total / chunk;
        let cipher = FileCipher::new(keys, ChunkLayout::new(chunk as u32, (n * chunk) as u64))?;
        let mut buf = vec![0x5au8; n * (chunk + 16)];
        let mut rates = Vec::new();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let t = Instant::now();
            for _ in 0..4 {
                pool.install(|| {
                    buf.par_chunks_mut(chunk + 16)
                        .enumerate()
                        .for_each(|(i, c)| {
                            let _ = cipher.seal_chunk(i as u64, c);
                        })
                });
            }
            rates.push(4.0 * total as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
        println!(
            "{:>5} KiB                       {:.2} GB/s  {:.2} GB/s",
            chunk >> 10,
            rates[0],
            rates[1]
        );
    }
    Ok(())
}
