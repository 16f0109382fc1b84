//! Listing the globals a pickle imports, by walking its opcodes without executing anything.
//!
//! A pickle runs code by importing a global (`GLOBAL`, `INST`, or `STACK_GLOBAL` taking its module
//! and name from the two strings pushed before it, possibly fetched back from the memo) and calling
//! it (`REDUCE`, `NEWOBJ`, `OBJ`, `BUILD`). The walk follows only what it needs for the globals:
//! the last two values pushed (string or not) and which memo slots hold strings. It builds no
//! objects and keeps no stack, so nesting depth costs nothing.
//!
//! Bounded against hostile input: a length field is checked against the bytes left before
//! anything is read or allocated; strings longer than [`MAX_STRING`] are skipped, not kept; the
//! memo keeps at most [`MAX_MEMO`] strings; the walk stops after [`MAX_OPS`] opcodes or
//! [`MAX_GLOBALS`] distinct globals and says it stopped (`truncated`). Consecutive pickles (the
//! legacy `torch.save` layout writes several before its raw tensor bytes) are walked while the
//! next byte is a `PROTO` opcode, at most [`MAX_PICKLES`].

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, Read};

/// Longest string operand kept (module and class names are short).
const MAX_STRING: u64 = 4096;
/// Most memo slots tracked.
const MAX_MEMO: usize = 1 << 20;
/// Most opcodes walked in one file.
pub(crate) const MAX_OPS: u64 = 50_000_000;
/// Most distinct globals listed.
const MAX_GLOBALS: usize = 4096;
/// Most consecutive pickles walked in one file.
const MAX_PICKLES: usize = 8;

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickleGlobals {
    /// `module.name` of every global imported, sorted; `?` for a `STACK_GLOBAL` whose operands
    /// were not strings the walk could follow.
    pub globals: BTreeSet<String>,
    /// Why the walk stopped early, if it did (a limit, a malformed or truncated pickle).
    pub truncated: Option<String>,
}

/// A value the walk tracks: a string it kept, or anything else.
#[derive(Clone)]
enum Pushed {
    Str(String),
    Other,
}

/// Walks the pickle(s) at the start of `input`, which has `len` bytes.
pub fn walk(input: impl Read, len: u64) -> PickleGlobals {
    walk_within(input, len, MAX_OPS)
}

/// [`walk`] stopping after `max_ops` opcodes.
fn walk_within(input: impl Read, len: u64, max_ops: u64) -> PickleGlobals {
    let mut walker = Walker {
        max_ops,
        input: io::BufReader::with_capacity(64 * 1024, input.take(len)),
        left: len,
        last: [Pushed::Other, Pushed::Other],
        memo: HashMap::new(),
        ops: 0,
        found: PickleGlobals::default(),
    };
    for n in 0..MAX_PICKLES {
        if n > 0 && !walker.next_is_proto() {
            break;
        }
        if let Err(reason) = walker.one_pickle() {
            walker.found.truncated = Some(reason);
            break;
        }
    }
    walker.found
}

struct Walker<R> {
    input: R,
    left: u64,
    /// The last two values pushed, most recent last.
    last: [Pushed; 2],
    memo: HashMap<u64, Pushed>,
    ops: u64,
    max_ops: u64,
    found: PickleGlobals,
}

impl<R: BufRead> Walker<R> {
    fn next_is_proto(&mut self) -> bool {
        matches!(self.input.fill_buf(), Ok(buf) if buf.first() == Some(&0x80))
    }

    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if (buf.len() as u64) > self.left {
            return Err("truncated pickle".into());
        }
        self.input
            .read_exact(buf)
            .map_err(|e| format!("cannot read pickle: {e}"))?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn uint(&mut self, width: usize) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.exact(&mut b[..width])?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a length-prefixed operand of `len` bytes: kept as a string when short, else skipped
    /// without allocating. A length beyond the input is refused before anything is read.
    fn data(&mut self, len: u64) -> Result<Pushed, String> {
        if len > self.left {
            return Err(format!(
                "length field {len} exceeds the {} bytes left",
                self.left
            ));
        }
        if len <= MAX_STRING {
            let mut buf = vec![0u8; len as usize];
            self.exact(&mut buf)?;
            return Ok(match String::from_utf8(buf) {
                Ok(s) => Pushed::Str(s),
                Err(_) => Pushed::Other,
            });
        }
        let skipped = io::copy(&mut (&mut self.input).take(len), &mut io::sink())
            .map_err(|e| format!("cannot read pickle: {e}"))?;
        if skipped != len {
            return Err("truncated pickle".into());
        }
        self.left -= len;
        Ok(Pushed::Other)
    }

    /// A newline-terminated operand (protocol 0), at most [`MAX_STRING`] bytes.
    fn line(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b == b'\n' {
                break;
            }
            if out.len() as u64 >= MAX_STRING {
                return Err("text operand longer than the limit".into());
            }
            out.push(b);
        }
        String::from_utf8(out).map_err(|_| "text operand is not UTF-8".into())
    }

    fn push(&mut self, value: Pushed) {
        self.last.swap(0, 1);
        self.last[1] = value;
    }

    fn memoize(&mut self, index: u64) {
        if self.memo.len() < MAX_MEMO || self.memo.contains_key(&index) {
            self.memo.insert(index, self.last[1].clone());
        }
    }

    fn recall(&mut self, index: u64) {
        let value = self.memo.get(&index).cloned().unwrap_or(Pushed::Other);
        self.push(value);
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), String> {
        if self.found.globals.len() >= MAX_GLOBALS {
            return Err(format!("more than {MAX_GLOBALS} distinct globals"));
        }
        self.found.globals.insert(format!("{module}.{name}"));
        self.push(Pushed::Other);
        Ok(())
    }

    /// Walks one pickle, up to and including its `STOP`.
    fn one_pickle(&mut self) -> Result<(), String> {
        loop {
            self.ops += 1;
            if self.ops > self.max_ops {
                return Err(format!("more than {} opcodes", self.max_ops));
            }
            let op = self.byte()?;
            match op {
                b'.' => return Ok(()),
                // Pushes of values the walk does not follow.
                b'(' | b'N' | b'Q' | b'R' | b'a' | b'b' | b'd' | b'}' | b'e' | b'l' | b']'
                | b'o' | b's' | b't' | b')' | b'u' | 0x81 | 0x85 | 0x86 | 0x87 | 0x88 | 0x89
                | 0x8f | 0x90 | 0x91 | 0x92 | 0x97 | 0x98 => self.push(Pushed::Other),
                b'0' | b'1' | b'2' => {}
                b'F' | b'I' | b'L' | b'P' => {
                    self.line()?;
                    self.push(Pushed::Other);
                }
                b'S' => {
                    // A quoted Python string literal: kept with its quotes stripped.
                    let s = self.line()?;
                    let s = s.trim_matches(|c| c == '\'' || c == '"').to_string();
                    self.push(Pushed::Str(s));
                }
                b'V' => {
                    let s = self.line()?;
                    self.push(Pushed::Str(s));
                }
                // Fixed-width operands: integers, floats, extension codes.
                b'K' | 0x82 | b'M' | 0x83 | b'J' | 0x84 | b'G' => {
                    let width = match op {
                        b'K' | 0x82 => 1,
                        b'M' | 0x83 => 2,
                        b'J' | 0x84 => 4,
                        _ => 8,
                    };
                    self.uint(width)?;
                    self.push(Pushed::Other);
                }
                // Length-prefixed operands: strings and bytes (followed for globals), and the
                // bytes of LONG1/LONG4 integers (not).
                b'U' | b'C' | 0x8c | 0x8a | b'T' | b'X' | b'B' | 0x8b | 0x8d | 0x8e | 0x96 => {
                    let width = match op {
                        b'U' | b'C' | 0x8c | 0x8a => 1,
                        b'T' | b'X' | b'B' | 0x8b => 4,
                        _ => 8,
                    };
                    let n = self.uint(width)?;
                    let value = self.data(n)?;
                    self.push(if matches!(op, 0x8a | 0x8b) {
                        Pushed::Other
                    } else {
                        value
                    });
                }
                b'c' | b'i' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let (module, name) = match (&self.last[0], &self.last[1]) {
                        (Pushed::Str(m), Pushed::Str(n)) => (m.clone(), n.clone()),
                        _ => ("?".to_string(), "?".to_string()),
                    };
                    if module == "?" {
                        if self.found.globals.len() >= MAX_GLOBALS {
                            return Err(format!("more than {MAX_GLOBALS} distinct globals"));
                        }
                        self.found.globals.insert("?".into());
                        self.push(Pushed::Other);
                    } else {
                        self.global(&module, &name)?;
                    }
                }
                b'g' => {
                    let index = self.line()?.trim().parse::<u64>().unwrap_or(u64::MAX);
                    self.recall(index);
                }
                b'h' => {
                    let index = self.uint(1)?;
                    self.recall(index);
                }
                b'j' => {
                    let index = self.uint(4)?;
                    self.recall(index);
                }
                b'p' => {
                    let index = self.line()?.trim().parse::<u64>().unwrap_or(u64::MAX);
                    self.memoize(index);
                }
                b'q' => {
                    let index = self.uint(1)?;
                    self.memoize(index);
                }
                b'r' => {
                    let index = self.uint(4)?;
                    self.memoize(index);
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memoize(index);
                }
                0x80 => {
                    self.uint(1)?;
                }
                0x95 => {
                    self.uint(8)?;
                }
                other => return Err(format!("unknown opcode 0x{other:02x}")),
            }
        }
    }
}

/// Whether `head` (a file's first bytes) looks like the start of a pickle: a `PROTO` opcode of
/// protocol 2–5, or (for protocols 0–1, which have no header) an opcode that opens a pickle
/// followed by printable operands, judged only for files whose name says pickle.
pub(crate) fn looks_like_pickle(head: &[u8], named_pickle: bool) -> bool {
    match head {
        [0x80, proto, ..] if (2..=5).contains(proto) => true,
        [first, ..] if named_pickle => matches!(first, b'(' | b']' | b'}' | b'c' | b')' | b'N'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals(bytes: &[u8]) -> PickleGlobals {
        walk(bytes, bytes.len() as u64)
    }

    /// `pickle.dumps(os.system, protocol=0)`-like: GLOBAL with two lines.
    #[test]
    fn protocol_0_global_is_listed() {
        let found = globals(b"cos\nsystem\np0\n.");
        assert_eq!(found.globals.into_iter().collect::<Vec<_>>(), ["os.system"]);
    }

    /// Protocol 4: SHORT_BINUNICODE module, MEMOIZE, SHORT_BINUNICODE name, MEMOIZE,
    /// STACK_GLOBAL; then the module fetched back from the memo for a second global.
    #[test]
    fn stack_global_follows_pushes_and_the_memo() {
        let mut p = vec![0x80, 4, 0x95];
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&[0x8c, 8]);
        p.extend_from_slice(b"builtins");
        p.push(0x94); // memo 0
        p.extend_from_slice(&[0x8c, 4]);
        p.extend_from_slice(b"eval");
        p.push(0x94); // memo 1
        p.push(0x93);
        p.push(0x94); // memo 2: the global
        p.extend_from_slice(&[b'h', 0]); // builtins
        p.extend_from_slice(&[0x8c, 4]);
        p.extend_from_slice(b"exec");
        p.push(0x93);
        p.push(b'.');
        let found = globals(&p);
        assert_eq!(
            found.globals.into_iter().collect::<Vec<_>>(),
            ["builtins.eval", "builtins.exec"]
        );
        assert_eq!(globals(b"\x80\x04N.").truncated, None);
    }

    #[test]
    fn inst_is_listed() {
        let found = globals(b"(S'ls'\nisubprocess\ncheck_output\n.");
        assert!(found.globals.contains("subprocess.check_output"));
    }

    #[test]
    fn stack_global_of_unknown_operands_is_a_question_mark() {
        let found = globals(b"\x80\x04NN\x93.");
        assert!(found.globals.contains("?"));
    }

    #[test]
    fn huge_length_fields_are_refused_without_allocating() {
        // BINUNICODE8 claiming 2^63 bytes, and BINBYTES claiming 4 GiB, in a tiny file.
        let mut p = vec![0x80, 4, 0x8d];
        p.extend_from_slice(&(1u64 << 63).to_le_bytes());
        let found = globals(&p);
        assert!(found.truncated.unwrap().contains("exceeds"));
        let found = globals(b"\x80\x03B\xff\xff\xff\xff");
        assert!(found.truncated.unwrap().contains("exceeds"));
    }

    #[test]
    fn deep_nesting_costs_nothing_and_a_truncated_pickle_is_said() {
        // A million nested lists (no STOP): walked in bounded memory, reported truncated.
        let mut p = vec![0x80, 2];
        p.extend(std::iter::repeat_n(b']', 1_000_000));
        let found = globals(&p);
        assert_eq!(found.truncated.as_deref(), Some("truncated pickle"));
        assert!(found.globals.is_empty());
    }

    #[test]
    fn the_opcode_limit_stops_a_long_pickle() {
        let mut p = vec![0x80, 2];
        p.extend(std::iter::repeat_n(b'N', 10_000));
        p.push(b'.');
        let found = walk_within(&p[..], p.len() as u64, 1000);
        assert_eq!(found.truncated.as_deref(), Some("more than 1000 opcodes"));
        assert_eq!(walk(&p[..], p.len() as u64).truncated, None);
    }

    #[test]
    fn legacy_torch_layout_walks_consecutive_pickles_and_stops_at_data() {
        let mut p = b"\x80\x02K\x01.".to_vec();
        p.extend_from_slice(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n.");
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // raw tensor bytes
        let found = globals(&p);
        assert_eq!(
            found.globals.into_iter().collect::<Vec<_>>(),
            ["torch._utils._rebuild_tensor_v2"]
        );
        assert_eq!(found.truncated, None);
    }

    #[test]
    fn the_pickle_sniffer() {
        assert!(looks_like_pickle(b"\x80\x04\x95", false));
        assert!(!looks_like_pickle(b"\x80\x09", false));
        assert!(!looks_like_pickle(b"(lp0", false));
        assert!(looks_like_pickle(b"(lp0", true));
    }
}
