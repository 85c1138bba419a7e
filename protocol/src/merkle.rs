//! The platform's append-only log of every record it accepted: a Merkle tree in the
//! shapes of RFC 6962 / RFC 9162 (Certificate Transparency), and the checkpoints
//! (tree size, root, time) the platform signs over it (issue 13 item 8, R-SV-4).
//!
//! Why: the provinces pay on figures the platform computes, and the platform's
//! operator can edit its own database. A checkpoint someone outside keeps (an
//! auditor, a report, a certificate) fixes every record accepted before it: a later
//! edit or deletion of one makes the tree disagree with the checkpoint, and
//! [`verify_consistency`] shows that a later checkpoint extends an earlier one
//! without the old records changing.
//!
//! - Leaf: `SHA-256(0x00 || record hash)` — the record hash is the SHA-256 of the
//!   signed header, which commits to the device, the seq, the previous record and
//!   the payload ([`crate::record`]).
//! - Node: `SHA-256(0x01 || left || right)`; the empty tree's root is `SHA-256("")`.
//! - Proofs are computed from the hashes of *perfect* subtrees (`2^level` leaves
//!   starting at a multiple of `2^level`), which the platform stores as the tree
//!   grows: any proof reads `O(log² n)` of them, never the leaves.
//!
//! Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

use crate::ids::Hash;

/// A tree hash.
pub type Digest = [u8; 32];

/// The leaf hash of a record (by its record hash).
pub fn leaf_hash(record_hash: &Digest) -> Digest {
    let mut buf = [0u8; 33];
    buf[1..].copy_from_slice(record_hash);
    Hash::of(&buf).0
}

/// The hash of an inner node.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Hash::of(&buf).0
}

/// The root of the empty tree.
pub fn empty_root() -> Digest {
    Hash::of(b"").0
}

/// What can go wrong with a tree, a proof or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A leaf index at or past the tree size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof between sizes that do not grow.
    #[error("no consistency proof from size {first} to size {second}")]
    BadSizes {
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
    },
    /// A proof that does not lead to the root it should.
    #[error("the proof does not verify: {0}")]
    ProofFailed(&'static str),
    /// A perfect subtree the store does not hold.
    #[error("subtree at level {level}, index {index} is missing")]
    MissingNode {
        /// Its level (`2^level` leaves).
        level: u32,
        /// Its index at that level.
        index: u64,
    },
    /// A checkpoint whose fields or signature do not hold.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The hash of the leaves `[start, end)` of a tree, from perfect subtrees:
/// `perfect(level, index)` is the hash of leaves `[index << level, (index + 1) << level)`.
/// `start` must be a multiple of the largest power of two not above `end - start`
/// (every range the RFC 6962 recursion visits is).
pub fn range_hash<E, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    start: u64,
    end: u64,
    perfect: &mut F,
) -> Result<Digest, E> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start % n == 0 {
        let level = n.trailing_zeros();
        return perfect(level, start >> level);
    }
    let k = split(n);
    let left = range_hash(start, start + k, perfect)?;
    let right = range_hash(start + k, end, perfect)?;
    Ok(node_hash(&left, &right))
}

/// The root of a tree of `size` leaves.
pub fn root_from<E, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    size: u64,
    perfect: &mut F,
) -> Result<Digest, E> {
    range_hash(0, size, perfect)
}

/// The audit path of leaf `index` in a tree of `size` leaves (RFC 9162 §2.1.3.1),
/// leaf side first.
pub fn inclusion_proof<E: From<MerkleError>, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    index: u64,
    size: u64,
    perfect: &mut F,
) -> Result<Vec<Digest>, E> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size }.into());
    }
    let mut path = Vec::new();
    path_rec(index, 0, size, perfect, &mut path)?;
    Ok(path)
}

fn path_rec<E, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    m: u64,
    start: u64,
    end: u64,
    perfect: &mut F,
    out: &mut Vec<Digest>,
) -> Result<(), E> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path_rec(m, start, start + k, perfect, out)?;
        out.push(range_hash(start + k, end, perfect)?);
    } else {
        path_rec(m - k, start + k, end, perfect, out)?;
        out.push(range_hash(start, start + k, perfect)?);
    }
    Ok(())
}

/// Checks an audit path (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    path: &[Digest],
    root: &Digest,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return Err(MerkleError::ProofFailed("inclusion path too long"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofFailed("inclusion path too short"));
    }
    if &r != root {
        return Err(MerkleError::ProofFailed(
            "inclusion path leads to another root",
        ));
    }
    Ok(())
}

/// The consistency proof from size `first` to size `second` (RFC 9162 §2.1.4.1):
/// empty when the sizes are equal or `first` is 0.
pub fn consistency_proof<E: From<MerkleError>, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    first: u64,
    second: u64,
    perfect: &mut F,
) -> Result<Vec<Digest>, E> {
    if first > second {
        return Err(MerkleError::BadSizes { first, second }.into());
    }
    let mut out = Vec::new();
    if first == 0 || first == second {
        return Ok(out);
    }
    subproof(first, 0, second, true, perfect, &mut out)?;
    Ok(out)
}

fn subproof<E, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    perfect: &mut F,
    out: &mut Vec<Digest>,
) -> Result<(), E> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_hash(start, end, perfect)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, whole, perfect, out)?;
        out.push(range_hash(start + k, end, perfect)?);
    } else {
        subproof(m - k, start + k, end, false, perfect, out)?;
        out.push(range_hash(start, start + k, perfect)?);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of `second` leaves
/// with root `second_root` extends the tree of `first` leaves with root
/// `first_root`, every earlier leaf unchanged.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Digest,
    second_root: &Digest,
    proof: &[Digest],
) -> Result<(), MerkleError> {
    if first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    if first == second {
        return if proof.is_empty() && first_root == second_root {
            Ok(())
        } else {
            Err(MerkleError::ProofFailed("equal sizes with different roots"))
        };
    }
    if first == 0 {
        return if proof.is_empty() && *first_root == empty_root() {
            Ok(())
        } else {
            Err(MerkleError::ProofFailed("the empty tree has another root"))
        };
    }
    let mut path: Vec<Digest> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return Err(MerkleError::ProofFailed("empty consistency proof"));
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return Err(MerkleError::ProofFailed("consistency proof too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofFailed("consistency proof too short"));
    }
    if &fr != first_root {
        return Err(MerkleError::ProofFailed(
            "the earlier root is not reproduced",
        ));
    }
    if &sr != second_root {
        return Err(MerkleError::ProofFailed("the later root is not reproduced"));
    }
    Ok(())
}

/// A tree grown leaf by leaf in `O(log n)` memory: the roots of its perfect
/// subtrees (the right edge). The platform's sequencer and the auditor both use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of the perfect subtrees, largest first.
    peaks: Vec<(u32, Digest)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A tree of `size` leaves from its perfect subtrees (`perfect(level, index)`).
    pub fn at<E, F: FnMut(u32, u64) -> Result<Digest, E> + ?Sized>(
        size: u64,
        perfect: &mut F,
    ) -> Result<Frontier, E> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                peaks.push((level, perfect(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, peaks })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns every perfect subtree it completed as
    /// `(level, index, hash)`, the leaf itself first (level 0).
    pub fn push(&mut self, leaf: Digest) -> Vec<(u32, u64, Digest)> {
        let mut done = vec![(0, self.size, leaf)];
        let mut cur = (0u32, leaf);
        while let Some(&(level, left)) = self.peaks.last() {
            if level != cur.0 {
                break;
            }
            self.peaks.pop();
            let up = (level + 1, node_hash(&left, &cur.1));
            done.push((up.0, self.size >> up.0, up.1));
            cur = up;
        }
        self.peaks.push(cur);
        self.size += 1;
        done
    }

    /// The root (RFC 6962's MTH) of the leaves so far.
    pub fn root(&self) -> Digest {
        let mut it = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, h) in it {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// A checkpoint the platform signs: the tree of every accepted record at a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Leaves in the tree.
    pub size: u64,
    /// Its root (hex).
    pub root: String,
    /// When the platform signed it (its clock, Unix ms).
    pub time_ms: i64,
    /// The platform's Ed25519 public key (hex).
    pub key: String,
    /// Signature over [`Checkpoint::message`] (hex).
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes.
    pub fn message(size: u64, root: &Digest, time_ms: i64) -> Vec<u8> {
        format!(
            "keshi-checkpoint-v1\nsize {size}\nroot {}\ntime_ms {time_ms}\n",
            hex::encode(root)
        )
        .into_bytes()
    }

    /// The root as bytes.
    pub fn root_digest(&self) -> Result<Digest, MerkleError> {
        parse_digest(&self.root)
            .ok_or_else(|| MerkleError::Checkpoint("root is not 32 bytes of hex".into()))
    }

    /// Checks the signature under the key the checkpoint names, and that this key
    /// is `expected_key` when one is given.
    pub fn verify(&self, expected_key: Option<&[u8; 32]>) -> Result<(), MerkleError> {
        let key = parse_digest(&self.key)
            .ok_or_else(|| MerkleError::Checkpoint("key is not 32 bytes of hex".into()))?;
        if let Some(k) = expected_key {
            if k != &key {
                return Err(MerkleError::Checkpoint(format!(
                    "signed by key {}, not the platform's key {}",
                    self.key,
                    hex::encode(k)
                )));
            }
        }
        let root = self.root_digest()?;
        let msg = Checkpoint::message(self.size, &root, self.time_ms);
        if !crate::sig::verify_hex_signature(&key, &msg, &self.signature) {
            return Err(MerkleError::Checkpoint(
                "the signature does not verify".into(),
            ));
        }
        Ok(())
    }
}

/// 32 bytes from 64 hex digits.
pub fn parse_digest(s: &str) -> Option<Digest> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6962's MTH, straight from the definition.
    fn mth(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Digest> {
        (0..n)
            .map(|i| leaf_hash(&Hash::of(&i.to_be_bytes()).0))
            .collect()
    }

    fn perfect_of(l: &[Digest]) -> impl FnMut(u32, u64) -> Result<Digest, MerkleError> + '_ {
        move |level, index| {
            let a = (index << level) as usize;
            let b = ((index + 1) << level) as usize;
            if b > l.len() {
                return Err(MerkleError::MissingNode { level, index });
            }
            Ok(mth(&l[a..b]))
        }
    }

    #[test]
    fn rfc6962_empty_and_single_leaf_roots() {
        // The empty tree's root is the SHA-256 of nothing (RFC 6962 §2.1).
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // A one-leaf tree's root is its leaf hash: SHA-256(0x00 || data).
        let mut f = Frontier::new();
        f.push(leaf_hash(&[7; 32]));
        let mut data = vec![0u8];
        data.extend_from_slice(&[7; 32]);
        assert_eq!(f.root(), Hash::of(&data).0);
    }

    #[test]
    fn frontier_completes_the_subtrees_a_store_keeps() {
        let l = leaves(13);
        let mut f = Frontier::new();
        let mut stored = std::collections::BTreeMap::new();
        for (i, leaf) in l.iter().enumerate() {
            for (level, index, h) in f.push(*leaf) {
                assert_eq!(h, perfect_of(&l)(level, index).unwrap());
                stored.insert((level, index), h);
            }
            assert_eq!(f.root(), mth(&l[..=i]));
        }
        // 13 leaves + 6 pairs + 3 quads + 1 eight.
        assert_eq!(stored.len(), 13 + 6 + 3 + 1);
        let again = Frontier::at(13, &mut |lv, ix| {
            stored
                .get(&(lv, ix))
                .copied()
                .ok_or(MerkleError::MissingNode {
                    level: lv,
                    index: ix,
                })
        })
        .unwrap();
        assert_eq!(again, f);
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_no_other_leaf_does(n in 1u64..70, seed in any::<u64>()) {
            let l = leaves(n);
            let root = mth(&l);
            prop_assert_eq!(root_from(n, &mut perfect_of(&l)).unwrap(), root);
            let i = seed % n;
            let path = inclusion_proof(i, n, &mut perfect_of(&l)).unwrap();
            prop_assert!(path.len() <= 7);
            prop_assert_eq!(verify_inclusion(&l[i as usize], i, n, &path, &root), Ok(()));
            let j = (i + 1) % n;
            if j != i {
                prop_assert!(verify_inclusion(&l[j as usize], i, n, &path, &root).is_err());
                prop_assert!(verify_inclusion(&l[i as usize], j, n, &path, &root).is_err());
            }
        }

        #[test]
        fn consistency_proofs_verify_and_an_edited_leaf_breaks_them(n in 1u64..70, seed in any::<u64>()) {
            let l = leaves(n);
            let m = seed % (n + 1);
            let proof = consistency_proof(m, n, &mut perfect_of(&l)).unwrap();
            let (r1, r2) = (mth(&l[..m as usize]), mth(&l));
            prop_assert_eq!(verify_consistency(m, n, &r1, &r2, &proof), Ok(()));
            if m > 0 {
                // Any earlier leaf edited: the later tree no longer extends the earlier one.
                let mut edited = l.clone();
                let e = (seed / 7 % m) as usize;
                edited[e] = leaf_hash(&[0xee; 32]);
                let proof2 = consistency_proof(m, n, &mut perfect_of(&edited)).unwrap();
                prop_assert!(verify_consistency(m, n, &r1, &mth(&edited), &proof2).is_err());
                // The old proof does not carry the old root to the edited tree either.
                prop_assert!(verify_consistency(m, n, &r1, &mth(&edited), &proof).is_err());
            }
        }
    }

    #[test]
    fn a_checkpoint_verifies_only_under_its_key_and_fields() {
        use ring::signature::KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(
            ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .unwrap()
                .as_ref(),
        )
        .unwrap();
        let root = mth(&leaves(5));
        let sig = kp.sign(&Checkpoint::message(5, &root, 1_000));
        let key: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        let cp = Checkpoint {
            size: 5,
            root: hex::encode(root),
            time_ms: 1_000,
            key: hex::encode(key),
            signature: hex::encode(sig.as_ref()),
        };
        assert_eq!(cp.verify(Some(&key)), Ok(()));
        assert!(cp.verify(Some(&[9; 32])).is_err());
        let mut bigger = cp.clone();
        bigger.size = 6;
        assert!(bigger.verify(None).is_err());
        let mut later = cp.clone();
        later.time_ms += 1;
        assert!(later.verify(None).is_err());
    }
}
