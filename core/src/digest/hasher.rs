//! One streaming hash state for any [`HashAlgorithm`], so the readers need not care which it is.

use super::HashAlgorithm;
use sha2::Digest as _;

/// An in-progress digest of one resource.
pub(super) enum StreamHasher {
    Sha256(sha2::Sha256),
    // Boxed: the BLAKE states are hundreds of bytes to kilobytes, SHA-256's is ~100.
    Blake2b(Box<blake2::Blake2b512>),
    Blake3(Box<blake3::Hasher>),
}

impl StreamHasher {
    pub(super) fn new(algorithm: HashAlgorithm) -> StreamHasher {
        match algorithm {
            HashAlgorithm::Sha256 => StreamHasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Blake2b => StreamHasher::Blake2b(Box::default()),
            HashAlgorithm::Blake3 => StreamHasher::Blake3(Box::default()),
        }
    }

    /// Adds `bytes` on the calling thread.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamHasher::Sha256(h) => h.update(bytes),
            StreamHasher::Blake2b(h) => h.update(bytes),
            StreamHasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The raw digest: 32 bytes for SHA-256 and BLAKE3, 64 for BLAKE2b.
    pub(super) fn finalize(self) -> Vec<u8> {
        match self {
            StreamHasher::Sha256(h) => h.finalize().to_vec(),
            StreamHasher::Blake2b(h) => h.finalize().to_vec(),
            StreamHasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_hex(algorithm: HashAlgorithm, pieces: &[&[u8]]) -> String {
        let mut hasher = StreamHasher::new(algorithm);
        for piece in pieces {
            hasher.update(piece);
        }
        hex::encode(hasher.finalize())
    }

    // Published test vectors: FIPS 180-2 (SHA-256 "abc"), RFC 7693 appendix A (BLAKE2b-512 "abc"),
    // and the BLAKE3 reference implementation's hash of the empty input.
    #[test]
    fn known_answers() {
        assert_eq!(
            digest_hex(HashAlgorithm::Sha256, &[b"a", b"bc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest_hex(HashAlgorithm::Blake2b, &[b"ab", b"c"]),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(
            digest_hex(HashAlgorithm::Blake3, &[]),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
