//! Which serialization format a model file is in, from its bytes (magic numbers and headers;
//! the name only where a format has no magic), and the texts inside a weights file that can hold
//! a credential: safetensors header metadata, GGUF metadata values.
//!
//! Tensor payloads are never read: a safetensors file is read for its 8-byte length and its JSON
//! header, a GGUF file up to the end of its key-value section, a ZIP archive for its central
//! directory and its `data.pkl`, a pickle up to its `STOP` (see [`super::pickle`]).

use super::pickle::{self, PickleGlobals};
use super::zip;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// A serialization format modelseal recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// `.safetensors`: a JSON header and raw tensors; cannot run code.
    Safetensors,
    /// GGUF (llama.cpp): typed metadata and raw tensors; cannot run code.
    Gguf,
    /// ONNX protobuf: a graph of standard operators (custom-op libraries are loaded by the runtime,
    /// not by the file).
    Onnx,
    /// A Python pickle (`.pkl`, legacy `torch.save` `.bin`/`.pt`): loading it runs the globals it
    /// imports.
    Pickle,
    /// A PyTorch ZIP archive (`torch.save` since 1.6): its `data.pkl` is a pickle.
    Pytorch,
    /// Keras: a `.keras` ZIP archive or an HDF5 (`.h5`) file.
    Keras,
    /// NumPy `.npy`/`.npz`; object arrays in them are pickles.
    Numpy,
}

impl Format {
    /// The name policies and results use (`deny_formats = ["pickle"]`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Onnx => "onnx",
            Format::Pickle => "pickle",
            Format::Pytorch => "pytorch",
            Format::Keras => "keras",
            Format::Numpy => "numpy",
        }
    }

    /// Every name a policy may deny.
    pub const NAMES: [&'static str; 7] = [
        "safetensors",
        "gguf",
        "onnx",
        "pickle",
        "pytorch",
        "keras",
        "numpy",
    ];
}

/// The format of one model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The format.
    pub format: Format,
    /// Whether loading the file unpickles something (a pickle, a PyTorch archive, a NumPy object
    /// array): then its names include `pickle`.
    pub pickle: bool,
    /// The globals the pickle imports (sorted; empty when not a pickle or not listed).
    pub globals: Vec<String>,
    /// Something the reader should know: a pickle walk that stopped early, a `data.pkl` that is
    /// compressed and was not walked.
    pub note: Option<String>,
}

impl Detected {
    fn plain(format: Format) -> Detected {
        Detected {
            format,
            pickle: false,
            globals: Vec::new(),
            note: None,
        }
    }

    fn pickled(format: Format, found: PickleGlobals) -> Detected {
        Detected {
            format,
            pickle: true,
            globals: found.globals.into_iter().collect(),
            note: found.truncated.map(|r| format!("pickle walk stopped: {r}")),
        }
    }

    /// The names this file counts as for `deny_formats`: its format, and `pickle` if loading it
    /// unpickles.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = vec![self.format.name()];
        if self.pickle && self.format != Format::Pickle {
            names.push("pickle");
        }
        names
    }
}

/// What a file's first bytes say it is.
pub(super) enum Sniffed {
    Safetensors {
        header_len: u64,
    },
    Gguf,
    Zip,
    Hdf5,
    Npy,
    Pickle,
    Onnx,
    /// No NUL byte in the head: scanned as text.
    Text,
    /// Anything else: not read further.
    Binary,
}

/// Bytes of a file's head that [`sniff`] looks at.
pub(super) const HEAD: usize = 8192;
/// Largest safetensors header accepted (the format's own limit is 100 MB).
const MAX_SAFETENSORS_HEADER: u64 = 100 * 1024 * 1024;

fn has_ext(name: &str, exts: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    exts.iter().any(|e| lower.ends_with(e))
}

/// Classifies a file of `len` bytes named `name` from its first bytes `head`.
pub(super) fn sniff(name: &str, head: &[u8], len: u64) -> Sniffed {
    if head.len() >= 9 && head[8] == b'{' {
        let n = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8]));
        if (2..=MAX_SAFETENSORS_HEADER).contains(&n) && n.saturating_add(8) <= len {
            return Sniffed::Safetensors { header_len: n };
        }
    }
    if head.starts_with(b"GGUF") {
        return Sniffed::Gguf;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Sniffed::Hdf5;
    }
    if head.starts_with(b"\x93NUMPY") {
        return Sniffed::Npy;
    }
    let pickle_name = has_ext(
        name,
        &[
            ".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".dat",
        ],
    );
    if pickle::looks_like_pickle(head, pickle_name) {
        return Sniffed::Pickle;
    }
    // ONNX has no magic: a ModelProto starts with field 1 (ir_version, a varint).
    if has_ext(name, &[".onnx"]) && head.first() == Some(&0x08) {
        return Sniffed::Onnx;
    }
    if head.contains(&0) {
        Sniffed::Binary
    } else {
        Sniffed::Text
    }
}

/// The format of a sniffed file, reading what the format needs (a pickle's opcodes, a ZIP's
/// directory); `None` for text and unknown binaries.
pub(super) fn detect<R: Read + Seek>(
    sniffed: &Sniffed,
    file: &mut R,
    len: u64,
) -> io::Result<Option<Detected>> {
    Ok(Some(match sniffed {
        Sniffed::Safetensors { .. } => Detected::plain(Format::Safetensors),
        Sniffed::Gguf => Detected::plain(Format::Gguf),
        Sniffed::Onnx => Detected::plain(Format::Onnx),
        Sniffed::Hdf5 => Detected::plain(Format::Keras),
        Sniffed::Npy => {
            file.seek(SeekFrom::Start(0))?;
            let mut head = Vec::new();
            file.take(HEAD as u64).read_to_end(&mut head)?;
            Detected {
                pickle: npy_has_objects(&head),
                ..Detected::plain(Format::Numpy)
            }
        }
        Sniffed::Pickle => {
            file.seek(SeekFrom::Start(0))?;
            Detected::pickled(Format::Pickle, pickle::walk(&mut *file, len))
        }
        Sniffed::Zip => match zip_format(file, len)? {
            Some(d) => d,
            None => return Ok(None),
        },
        Sniffed::Text | Sniffed::Binary => return Ok(None),
    }))
}

/// A `.npy` header's dtype is an object dtype (`'descr': '|O'`), whose arrays are pickled.
fn npy_has_objects(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.contains("'descr': '|O'") || text.contains("'descr': 'O'")
}

/// What a ZIP archive is, from its member names: PyTorch (a `data.pkl`, which is walked),
/// Keras (`config.json` with `model.weights.h5` or `metadata.json`), NumPy (`.npy` members).
fn zip_format<R: Read + Seek>(file: &mut R, len: u64) -> io::Result<Option<Detected>> {
    let Some(entries) = zip::entries(file, len) else {
        return Ok(None);
    };
    let named = |suffix: &str| entries.iter().find(|e| e.name.ends_with(suffix));
    if let Some(pkl) = entries
        .iter()
        .find(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
    {
        if pkl.method != 0 {
            return Ok(Some(Detected {
                note: Some(format!(
                    "{} is compressed (method {}): its globals are not listed",
                    pkl.name, pkl.method
                )),
                pickle: true,
                ..Detected::plain(Format::Pytorch)
            }));
        }
        let Some(offset) = zip::data_offset(file, pkl) else {
            return Ok(None);
        };
        let size = pkl.compressed_size.min(len.saturating_sub(offset));
        file.seek(SeekFrom::Start(offset))?;
        return Ok(Some(Detected::pickled(
            Format::Pytorch,
            pickle::walk(&mut *file, size),
        )));
    }
    if named("config.json").is_some()
        && (named("model.weights.h5").is_some() || named("metadata.json").is_some())
    {
        return Ok(Some(Detected::plain(Format::Keras)));
    }
    if !entries.is_empty() && entries.iter().all(|e| e.name.ends_with(".npy")) {
        let mut objects = false;
        for e in entries.iter().filter(|e| e.method == 0) {
            if let Some(offset) = zip::data_offset(file, e) {
                file.seek(SeekFrom::Start(offset))?;
                let mut head = Vec::new();
                (&mut *file)
                    .take(e.compressed_size.min(1024))
                    .read_to_end(&mut head)?;
                objects |= npy_has_objects(&head);
            }
        }
        return Ok(Some(Detected {
            pickle: objects,
            ..Detected::plain(Format::Numpy)
        }));
    }
    Ok(None)
}

/// A text inside a weights file that the rules search: where it is and its bytes.
pub(super) struct Embedded {
    /// The metadata key (`__metadata__.note`, a GGUF key, `key[3]` for an array element).
    pub field: String,
    /// Byte offset in the file where the region holding the value starts (the safetensors header;
    /// for GGUF, the value itself).
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The string values of a safetensors header's `__metadata__` (the header is at offset 8).
pub(super) fn safetensors_metadata(file: &mut File, header_len: u64) -> io::Result<Vec<Embedded>> {
    file.seek(SeekFrom::Start(8))?;
    let mut header = Vec::new();
    (&mut *file).take(header_len).read_to_end(&mut header)?;
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&header) else {
        return Ok(Vec::new());
    };
    let Some(meta) = value.get("__metadata__").and_then(|m| m.as_object()) else {
        return Ok(Vec::new());
    };
    Ok(meta
        .iter()
        .filter_map(|(k, v)| {
            v.as_str().map(|s| Embedded {
                field: format!("__metadata__.{k}"),
                offset: 8,
                bytes: s.as_bytes().to_vec(),
            })
        })
        .collect())
}

/// Largest GGUF string value kept for searching (chat templates are kilobytes).
const MAX_GGUF_STRING: u64 = 16 * 1024 * 1024;
/// Most GGUF key-value pairs read.
const MAX_GGUF_KV: u64 = 1 << 20;

/// The string values (and strings in arrays) of a GGUF file's key-value section, read up to its
/// end; the tensor infos and data after it are not read. Stops quietly at the first malformed
/// field: what was read before it is still searched.
pub(super) fn gguf_metadata(file: &mut File, len: u64) -> io::Result<Vec<Embedded>> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = Gguf {
        input: BufReader::with_capacity(256 * 1024, &mut *file),
        at: 0,
        len,
        out: Vec::new(),
    };
    let _ = r.read_all();
    Ok(r.out)
}

struct Gguf<R> {
    input: R,
    at: u64,
    len: u64,
    out: Vec<Embedded>,
}

impl<R: BufRead> Gguf<R> {
    fn take(&mut self, n: u64) -> Option<()> {
        if n > self.len.saturating_sub(self.at) {
            return None;
        }
        Some(())
    }

    fn uint(&mut self, width: usize) -> Option<u64> {
        self.take(width as u64)?;
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b[..width]).ok()?;
        self.at += width as u64;
        Some(u64::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        self.take(n)?;
        let skipped = io::copy(&mut (&mut self.input).take(n), &mut io::sink()).ok()?;
        (skipped == n).then_some(())?;
        self.at += n;
        Some(())
    }

    /// A GGUF string: kept (with its offset) when a rule could match it, else skipped.
    fn string(&mut self, field: impl FnOnce() -> String) -> Option<()> {
        let n = self.uint(8)?;
        if n < super::rules::MIN_TEXT_LEN as u64 || n > MAX_GGUF_STRING {
            return self.skip(n);
        }
        self.take(n)?;
        let offset = self.at;
        let mut bytes = vec![0u8; n as usize];
        self.input.read_exact(&mut bytes).ok()?;
        self.at += n;
        self.out.push(Embedded {
            field: field(),
            offset,
            bytes,
        });
        Some(())
    }

    fn key(&mut self) -> Option<String> {
        let n = self.uint(8)?;
        if n > 65_536 {
            return None;
        }
        self.take(n)?;
        let mut bytes = vec![0u8; n as usize];
        self.input.read_exact(&mut bytes).ok()?;
        self.at += n;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn read_all(&mut self) -> Option<()> {
        self.skip(4)?; // magic
        let version = self.uint(4)?;
        if version < 2 {
            return None; // GGUF v1 has 32-bit counts; not produced since 2023
        }
        self.uint(8)?; // tensor count
        let kv = self.uint(8)?;
        for _ in 0..kv.min(MAX_GGUF_KV) {
            let key = self.key()?;
            let ty = self.uint(4)?;
            self.value(ty, &key)?;
        }
        Some(())
    }

    fn value(&mut self, ty: u64, key: &str) -> Option<()> {
        match ty {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => self.string(|| key.to_string()),
            9 => {
                let elem = self.uint(4)?;
                let n = self.uint(8)?;
                match elem {
                    0 | 1 | 7 => self.skip(n),
                    2 | 3 => self.skip(n.checked_mul(2)?),
                    4..=6 => self.skip(n.checked_mul(4)?),
                    10..=12 => self.skip(n.checked_mul(8)?),
                    8 => {
                        // Each element takes at least its 8-byte length: a count beyond what is
                        // left ends the walk before any loop.
                        self.take(n.checked_mul(8)?)?;
                        for i in 0..n {
                            self.string(|| format!("{key}[{i}]"))?;
                        }
                        Some(())
                    }
                    _ => None, // nested arrays: not written by llama.cpp
                }
            }
            _ => None,
        }
    }
}
