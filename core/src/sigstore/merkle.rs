//! Merkle inclusion proofs of RFC 9162 §2.1.3 (Rekor's log is an RFC 6962 tree of SHA-256).
//!
//! Guarantees: [`root_from_inclusion_proof`] returns the root that a leaf at `index` of a tree of
//! `size` leaves, with the given audit path, implies — or `None` when the index is out of range or
//! the path has the wrong length for that position. The caller compares the root with a signed one.

use sha2::{Digest, Sha256};

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf).
pub(crate) fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root implied by `leaf` at `index` in a tree of `size` leaves and the audit path `proof`
/// (bottom-up), following RFC 9162 §2.1.3.2.
pub(crate) fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    // `inner`: levels where the paths to `index` and to the last leaf differ; above them the
    // path runs along the tree's right border, where every sibling is on the left.
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    if proof.len() != inner + border {
        return None;
    }
    let mut hash = leaf;
    for (level, sibling) in proof[..inner].iter().enumerate() {
        hash = if (index >> level) & 1 == 0 {
            node_hash(&hash, sibling)
        } else {
            node_hash(sibling, &hash)
        };
    }
    for sibling in &proof[inner..] {
        hash = node_hash(sibling, &hash);
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 tree hash of `leaves`, computed directly from the definition.
    fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
            }
        }
    }

    /// The audit path of leaf `m` from the definition (RFC 6962 §2.1.1).
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n == 1 {
            return vec![];
        }
        let k = n.next_power_of_two() / 2;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(tree_hash(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(tree_hash(&leaves[..k]));
            p
        }
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_the_root() {
        for size in 1..=33usize {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let root = tree_hash(&leaves);
            for m in 0..size {
                let proof = path(m, &leaves);
                let got = root_from_inclusion_proof(m as u64, size as u64, leaves[m], &proof);
                assert_eq!(got, Some(root), "size {size} leaf {m}");
                // Another leaf at the same position gives another root.
                let other = leaf_hash(b"other");
                assert_ne!(
                    root_from_inclusion_proof(m as u64, size as u64, other, &proof),
                    Some(root)
                );
            }
        }
    }

    #[test]
    fn wrong_shapes_are_none() {
        let leaf = leaf_hash(b"x");
        assert_eq!(root_from_inclusion_proof(0, 0, leaf, &[]), None);
        assert_eq!(root_from_inclusion_proof(3, 3, leaf, &[leaf, leaf]), None);
        assert_eq!(root_from_inclusion_proof(0, 4, leaf, &[leaf]), None);
        assert_eq!(root_from_inclusion_proof(0, 1, leaf, &[]), Some(leaf));
    }
}
