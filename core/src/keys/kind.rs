//! The kinds of keys: [`KeyAlgorithm`], the signature algorithm of a signing key, and [`KeyKind`],
//! every kind of key `keygen` can make — the one list of names the CLI and Python iterate.

/// Algorithms a signing key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256.
    EcP256,
    /// ECDSA P-384 with SHA-384.
    EcP384,
    /// ECDSA P-521 with SHA-512.
    EcP521,
    /// Ed25519 (a modelseal extension: model-signing 1.1.1 cannot verify it).
    Ed25519,
}

impl KeyAlgorithm {
    /// CLI spelling: `ec-p256`, `ec-p384`, `ec-p521`, `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcP256 => "ec-p256",
            KeyAlgorithm::EcP384 => "ec-p384",
            KeyAlgorithm::EcP521 => "ec-p521",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
    /// Whether model-signing 1.1.1 can verify signatures made with this algorithm.
    pub fn oms_interoperable(self) -> bool {
        !matches!(self, KeyAlgorithm::Ed25519)
    }
}

/// Every kind of key modelseal generates: signing key pairs and encryption keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An ECDSA P-256 signing key pair.
    EcP256,
    /// An ECDSA P-384 signing key pair.
    EcP384,
    /// An ECDSA P-521 signing key pair.
    EcP521,
    /// An Ed25519 signing key pair (a modelseal extension).
    Ed25519,
    /// A 32-byte AES-256 KEK in a hex file (`aes256-kek`, `docs/FORMAT.md` §8.3).
    Aes256Kek,
    /// An X25519 key pair in PEM (`x25519-hpke`, §8.4).
    X25519,
    /// An RSA-3072 key pair in PEM (`rsa-oaep`, §8.5).
    Rsa3072,
}

impl KeyKind {
    /// Every kind, in the order the CLI's help and Python's documentation list them.
    pub const ALL: [KeyKind; 7] = [
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::EcP521,
        KeyKind::Ed25519,
        KeyKind::Aes256Kek,
        KeyKind::X25519,
        KeyKind::Rsa3072,
    ];

    /// The name `keygen` takes: `ec-p256`, `ec-p384`, `ec-p521`, `ed25519`, `aes256-kek`,
    /// `x25519`, `rsa3072`.
    pub fn name(self) -> &'static str {
        match self.signing_algorithm() {
            Some(algorithm) => algorithm.name(),
            None => match self {
                KeyKind::Aes256Kek => "aes256-kek",
                KeyKind::X25519 => "x25519",
                _ => "rsa3072",
            },
        }
    }

    /// The kind named `name` (one of [`KeyKind::name`]'s spellings), or `None`.
    pub fn from_name(name: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The signature algorithm of a signing key kind; `None` for encryption keys.
    pub fn signing_algorithm(self) -> Option<KeyAlgorithm> {
        match self {
            KeyKind::EcP256 => Some(KeyAlgorithm::EcP256),
            KeyKind::EcP384 => Some(KeyAlgorithm::EcP384),
            KeyKind::EcP521 => Some(KeyAlgorithm::EcP521),
            KeyKind::Ed25519 => Some(KeyAlgorithm::Ed25519),
            KeyKind::Aes256Kek | KeyKind::X25519 | KeyKind::Rsa3072 => None,
        }
    }
}

impl From<KeyAlgorithm> for KeyKind {
    fn from(algorithm: KeyAlgorithm) -> KeyKind {
        match algorithm {
            KeyAlgorithm::EcP256 => KeyKind::EcP256,
            KeyAlgorithm::EcP384 => KeyKind::EcP384,
            KeyAlgorithm::EcP521 => KeyKind::EcP521,
            KeyAlgorithm::Ed25519 => KeyKind::Ed25519,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in KeyKind::ALL {
            assert_eq!(KeyKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(KeyKind::from_name("rsa"), None);
        assert_eq!(KeyKind::Rsa3072.name(), "rsa3072");
    }
}
