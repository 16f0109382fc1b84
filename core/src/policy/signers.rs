//! One trusted signer of a policy: a pinned public key, or certificate roots with identity
//! constraints (SAN e-mail/URI, issuer), and the check that a signature bundle comes from it —
//! with the signer's own RFC 3161 time-stamping authorities, when it names them.

use crate::oms::{Bundle, VerificationMaterial};
use crate::sigstore::{KeylessPolicy, TrustedRoot};
use crate::trust::{leaf_identity, SignerIdentity, TimestampPolicy, Trust};

/// A named signer of the policy.
#[derive(Debug, Clone)]
pub struct PolicySigner {
    pub(super) name: String,
    pub(super) trust: Trust,
    /// The key reference as written (for `key` signers), for messages and audit events.
    pub(super) key: Option<String>,
    /// Accepted SAN e-mail / URI values (certificate and sigstore signers; at least one).
    pub(super) identities: Vec<String>,
    /// Certificate signers: the required leaf issuer DN (RFC 4514), if any. Sigstore signers: the
    /// OIDC issuer URL (also held in the trust).
    pub(super) issuer: Option<String>,
    /// `tsa_roots` / `require_timestamp`: with roots, every timestamp of a bundle must verify and
    /// the earliest is when a certificate chain is judged (as `verify --tsa-roots`); without,
    /// timestamps are ignored.
    pub(super) timestamps: TimestampPolicy,
}

impl PolicySigner {
    /// The name under `[signers.NAME]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `"key"`, `"certificate"` or `"sigstore"`.
    pub fn method(&self) -> &'static str {
        match self.trust {
            Trust::PublicKey(_) => "key",
            Trust::CertificateRoots(_) => "certificate",
            Trust::Sigstore { .. } => "sigstore",
        }
    }

    /// The key reference of a `key` signer, as the policy wrote it.
    pub fn key_reference(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The OMS key hint of a `key` signer's pinned public key.
    pub fn key_hint(&self) -> Option<String> {
        match &self.trust {
            Trust::PublicKey(key) => Some(key.hint()),
            Trust::CertificateRoots(_) | Trust::Sigstore { .. } => None,
        }
    }

    /// Why one signature could satisfy both this signer and `other` (the same pinned public key,
    /// or a certificate identity both accept), or `None` when no signature can. Thresholds count
    /// distinct signers, so the loader refuses a rule requiring two such aliases.
    pub(super) fn alias_of(&self, other: &PolicySigner) -> Option<String> {
        let shared_identity = || {
            self.identities
                .iter()
                .find(|id| other.identities.contains(id))
        };
        match (&self.trust, &other.trust) {
            (Trust::PublicKey(a), Trust::PublicKey(b)) if a == b => {
                Some("pin the same public key".into())
            }
            (Trust::CertificateRoots(_), Trust::CertificateRoots(_)) => {
                let issuers_compatible = match (&self.issuer, &other.issuer) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                let id = shared_identity().filter(|_| issuers_compatible)?;
                Some(format!("can match the same certificate identity {id:?}"))
            }
            (Trust::Sigstore { .. }, Trust::Sigstore { .. }) if self.issuer == other.issuer => {
                let id = shared_identity()?;
                Some(format!("can match the same certificate identity {id:?}"))
            }
            _ => None,
        }
    }

    /// Checks that `bundle`'s signature over its DSSE PAE was made by this signer, with its
    /// timestamps judged under the signer's `tsa_roots`; the reason otherwise.
    pub fn check(&self, bundle: &Bundle) -> Result<SignerIdentity, String> {
        if let Trust::Sigstore { root, policy } = &self.trust {
            return self.check_keyless(root, &policy.issuer, bundle);
        }
        let identity = self
            .trust
            .check_bundle_with(bundle, &self.timestamps)
            .map_err(|e| e.to_string())?;
        if let (Trust::CertificateRoots(_), VerificationMaterial::Certificates(chain)) =
            (&self.trust, &bundle.material)
        {
            let leaf = chain.first().ok_or("the bundle carries no certificate")?;
            self.check_identity(leaf)?;
        }
        Ok(identity)
    }

    /// A keyless bundle verifies (offline, against `root`) for one of the accepted identities
    /// under `issuer`; the last reason otherwise.
    fn check_keyless(
        &self,
        root: &TrustedRoot,
        issuer: &str,
        bundle: &Bundle,
    ) -> Result<SignerIdentity, String> {
        let mut reason = String::from("no identity to accept");
        for identity in &self.identities {
            let trust = Trust::Sigstore {
                root: Box::new(root.clone()),
                policy: KeylessPolicy {
                    identity: identity.clone(),
                    issuer: issuer.to_string(),
                },
            };
            match trust.check_bundle_with(bundle, &self.timestamps) {
                Ok(found) => return Ok(found),
                Err(e) => reason = e.to_string(),
            }
        }
        Err(reason)
    }

    /// The leaf must name one of the accepted identities and, if required, the issuer.
    fn check_identity(&self, leaf_der: &[u8]) -> Result<(), String> {
        let found = leaf_identity(leaf_der)?;
        if !found.sans.iter().any(|san| self.identities.contains(san)) {
            return Err(format!(
                "certificate identity {} is not one of {}",
                if found.sans.is_empty() {
                    "(no e-mail or URI SAN)".to_string()
                } else {
                    found.sans.join(", ")
                },
                self.identities.join(", ")
            ));
        }
        if let Some(issuer) = &self.issuer {
            if &found.issuer != issuer {
                return Err(format!(
                    "certificate issuer {:?} is not the required {issuer:?}",
                    found.issuer
                ));
            }
        }
        Ok(())
    }
}
