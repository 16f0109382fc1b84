//! Where randomness comes from: the operating system's CSPRNG in every release path, a seeded
//! ChaCha20 generator only in tests (known-answer vectors, `docs/FORMAT.md` §16).
//!
//! Every random value of an encryption is drawn through one [`Entropy`] in the fixed order of
//! §16, so a seeded generator reproduces every byte. Libraries that want their own RNG type (hpke,
//! rsa) get a `Predrawn` buffer filled from the [`Entropy`] beforehand; if a library asked for more
//! bytes than drawn, the result is discarded instead of being made from predictable bytes.

use zeroize::Zeroizing;

/// A failure to produce random bytes: the operating system's generator failed, or a library drew
/// other than the bytes drawn for it. Nothing made from such bytes is ever used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EntropyError(String);

/// A source of random bytes for one operation.
pub trait Entropy {
    /// Fills `buf` entirely with random bytes, or fails without returning any.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        use rand_core::RngCore;
        rand_core::OsRng
            .try_fill_bytes(buf)
            .map_err(|e| EntropyError(format!("operating system RNG failed: {e}")))
    }
}

/// A deterministic generator for known-answer vectors; compiled only into tests.
#[cfg(test)]
pub(crate) struct SeededEntropy(rand_chacha::ChaCha20Rng);

#[cfg(test)]
impl SeededEntropy {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        use rand_chacha::rand_core::SeedableRng;
        SeededEntropy(rand_chacha::ChaCha20Rng::from_seed(seed))
    }
}

#[cfg(test)]
impl Entropy for SeededEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        use rand_chacha::rand_core::RngCore;
        self.0.fill_bytes(buf);
        Ok(())
    }
}

/// Bytes drawn in advance from an [`Entropy`], handed to a library as its RNG.
pub(crate) struct Predrawn {
    bytes: Zeroizing<Vec<u8>>,
    used: usize,
    overdrawn: bool,
}

impl Predrawn {
    pub(crate) fn draw(entropy: &mut dyn Entropy, len: usize) -> Result<Predrawn, EntropyError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        entropy.fill(&mut bytes)?;
        Ok(Predrawn {
            bytes,
            used: 0,
            overdrawn: false,
        })
    }

    /// Fails if the library consumed other than exactly the bytes drawn.
    pub(crate) fn check_consumed(&self) -> Result<(), EntropyError> {
        if self.overdrawn || self.used != self.bytes.len() {
            return Err(EntropyError(
                "a library drew an unexpected amount of randomness".into(),
            ));
        }
        Ok(())
    }

    fn take(&mut self, dest: &mut [u8]) {
        let n = dest.len().min(self.bytes.len() - self.used);
        dest[..n].copy_from_slice(&self.bytes[self.used..self.used + n]);
        self.used += n;
        if n < dest.len() {
            dest[n..].fill(0);
            self.overdrawn = true;
        }
    }

    fn next_u64_from(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.take(&mut b);
        u64::from_le_bytes(b)
    }
}

impl rand_core_09::RngCore for Predrawn {
    fn next_u32(&mut self) -> u32 {
        self.next_u64_from() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next_u64_from()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.take(dest)
    }
}
impl rand_core_09::CryptoRng for Predrawn {}

impl rand_core::RngCore for Predrawn {
    fn next_u32(&mut self) -> u32 {
        self.next_u64_from() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next_u64_from()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.take(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.take(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Predrawn {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predrawn_detects_overdraw() {
        use rand_core_09::RngCore;
        let mut p = Predrawn::draw(&mut OsEntropy, 4).unwrap();
        let mut b = [0u8; 4];
        p.fill_bytes(&mut b);
        p.check_consumed().unwrap();
        p.fill_bytes(&mut b);
        assert!(p.check_consumed().is_err());
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn seeded_is_reproducible() {
        let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
        SeededEntropy::new([1; 32]).fill(&mut a).unwrap();
        SeededEntropy::new([1; 32]).fill(&mut b).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0; 40]);
    }
}
