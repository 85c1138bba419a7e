//! The v1 header: fixed binary layout, strict decoding (`docs/record-format-v1.md`).

use serde::{Deserialize, Serialize};

use super::{HeaderError, RecordError, HEADER_FIXED_LEN, MAGIC, MAX_KIND_LEN, VERSION};
use crate::ids::{DeviceId, Hash};

/// Whether `kind` is 1..=48 characters of `[a-z0-9_]`.
pub fn is_valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The v1 record header: everything that is hashed and signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHeader {
    /// Header version, 1.
    pub version: u8,
    /// Device that wrote the record.
    pub device_id: DeviceId,
    /// Sequence number, 1 for the first record, contiguous.
    pub seq: u64,
    /// What the record says, e.g. `playback_tick` (`[a-z0-9_]{1,48}`).
    pub kind: String,
    /// Wall-clock time, Unix milliseconds (informational; clocks can be set).
    pub wall_ms: i64,
    /// Session monotonic clock, milliseconds.
    pub mono_ms: u64,
    /// Hash of the previous record's header; zero for record 1.
    pub prev_hash: Hash,
    /// Length of the payload bytes.
    pub payload_len: u32,
    /// SHA-256 of the payload bytes.
    pub payload_hash: Hash,
}

impl RecordHeader {
    /// The canonical v1 bytes of this header.
    ///
    /// The kind is written as given; [`RecordHeader::validate`] (called by
    /// [`seal()`](super::seal()) and [`check_record`](super::check_record)) rejects kinds a v1 header cannot carry.
    #[allow(clippy::cast_possible_truncation)] // kind_len is clamped to 255 above
    pub fn encode(&self) -> Vec<u8> {
        let kind = self.kind.as_bytes();
        let kind_len = kind.len().min(u8::MAX as usize);
        let mut out = Vec::with_capacity(HEADER_FIXED_LEN + kind_len);
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.extend_from_slice(&self.device_id.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(kind_len as u8);
        out.extend_from_slice(&kind[..kind_len]);
        out.extend_from_slice(&self.wall_ms.to_be_bytes());
        out.extend_from_slice(&self.mono_ms.to_be_bytes());
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload_hash.0);
        out
    }

    /// Decode canonical v1 bytes, strictly: exact length, magic, version, kind
    /// charset and a non-zero seq.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::decode_inner(bytes).map_err(RecordError::Malformed)
    }

    fn decode_inner(bytes: &[u8]) -> Result<Self, HeaderError> {
        let mut r = Reader { bytes, pos: 0 };
        let magic: [u8; 4] = r.array()?;
        if magic != MAGIC {
            return Err(HeaderError::BadMagic { found: magic });
        }
        let [version] = r.array::<1>()?;
        if version != VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let device_id = DeviceId(r.array()?);
        let seq = u64::from_be_bytes(r.array()?);
        let [kind_len] = r.array::<1>()?;
        let kind_bytes = r.take(usize::from(kind_len))?;
        let kind = match std::str::from_utf8(kind_bytes) {
            Ok(k) if is_valid_kind(k) => k.to_owned(),
            _ => {
                return Err(HeaderError::BadKind {
                    kind: String::from_utf8_lossy(kind_bytes).into_owned(),
                })
            }
        };
        let wall_ms = i64::from_be_bytes(r.array()?);
        let mono_ms = u64::from_be_bytes(r.array()?);
        let prev_hash = Hash(r.array()?);
        let payload_len = u32::from_be_bytes(r.array()?);
        let payload_hash = Hash(r.array()?);
        if r.pos != bytes.len() {
            return Err(HeaderError::TrailingBytes {
                extra: bytes.len() - r.pos,
            });
        }
        if seq == 0 {
            return Err(HeaderError::ZeroSeq);
        }
        Ok(RecordHeader {
            version,
            device_id,
            seq,
            kind,
            wall_ms,
            mono_ms,
            prev_hash,
            payload_len,
            payload_hash,
        })
    }

    /// Field rules a v1 header must meet (those [`RecordHeader::decode`] enforces).
    pub fn validate(&self) -> Result<(), RecordError> {
        let reason = if self.version != VERSION {
            HeaderError::UnsupportedVersion {
                found: self.version,
            }
        } else if !is_valid_kind(&self.kind) {
            HeaderError::BadKind {
                kind: self.kind.clone(),
            }
        } else if self.seq == 0 {
            HeaderError::ZeroSeq
        } else {
            return Ok(());
        };
        Err(RecordError::BadHeader {
            seq: self.seq,
            reason,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(HeaderError::Truncated {
                len: self.bytes.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeaderError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}
