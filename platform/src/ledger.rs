//! A tamper-evident platform (issue 13 item 8, R-SV-4): every accepted record
//! enters an append-only Merkle tree ([`keshi_protocol::merkle`], RFC 6962
//! shapes), the platform signs checkpoints of it, and [`audit`] re-checks the
//! database against a checkpoint kept outside it.
//!
//! - **Sequencing** ([`integrate`]): ingest only stores records; a background task
//!   of the service (and every checkpoint) gives the records not yet in the tree
//!   their leaf index, in arrival order, a batch per transaction. The lock is a
//!   write to the one `merkle_state` row, so instances sharing PostgreSQL take turns
//!   and SQLite waits its busy timeout. A record is outside the tree for at most one
//!   interval of the task (2 s): that is the window in which an edit would not show.
//! - **Storage**: the leaves (naming their record) in `merkle_leaves`, the perfect
//!   subtrees (`2^level` leaves) in `merkle_nodes` as they complete — about one per
//!   leaf — so a proof reads `O(log² n)` rows, never the leaves.
//! - **Checkpoints** ([`checkpoint`]): size, root and time signed with the
//!   platform's key; reports and certificates cite one; whoever keeps one can later
//!   ask for a consistency proof ([`consistency`]) or run [`audit`].
//! - **Audit** ([`audit`], read-only): every record re-verified (header hash,
//!   payload hash, device signature, chain link, device head), the tree rebuilt from
//!   the records themselves and compared with the checkpoint given, with every
//!   stored checkpoint and with the stored state; the stored subtrees checked through
//!   a consistency proof; a learner's records proven included. Each problem names the
//!   leaf, device and seq.
//!
//! What it does not stop: the operator can still edit records before they are
//! sequenced (seconds), or rebuild the whole tree and sign new checkpoints with the
//! platform key (it lives in the database) — which no checkpoint anyone kept from
//! before will match (`audit --platform-key` checks against the key the auditor
//! knows). Nor can a log show that an *added* record is false: whoever can edit
//! the database can enrol a device of their own and append records it signed;
//! they enter the log after every checkpoint already kept, so the log proves when
//! they appeared, not that the study happened (the replay's own checks and the
//! evidence rules of `replay.rs` judge that).

use std::collections::{BTreeMap, HashMap};

use futures_util::TryStreamExt;
use keshi_protocol::ids::Hash;
use keshi_protocol::merkle::{self, Checkpoint, Digest, Frontier, MerkleError};
use keshi_protocol::wire::WireRecord;
use serde::Serialize;
use sqlx::Row;

use crate::store::{i as as_i64, u as as_u64};
use crate::store::{multi_row_insert, Store, StoreError};

/// Records sequenced per transaction.
pub const BATCH: i64 = 2_000;

/// How often the service sequences new records.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Problems an audit reports at most (the count is always exact).
pub const MAX_PROBLEMS: usize = 1_000;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn digest(hex: &str, what: &str) -> Result<Digest, StoreError> {
    merkle::parse_digest(hex).ok_or_else(|| corrupt(format!("{what}: not 32 bytes of hex")))
}

/// Perfect subtrees read in one query: `(level, index) → hash`.
async fn load_nodes(
    conn: &mut sqlx::AnyConnection,
    keys: &[(u32, u64)],
) -> Result<HashMap<(u32, u64), Digest>, StoreError> {
    let mut out = HashMap::new();
    let (leaves, inner): (Vec<_>, Vec<_>) = keys.iter().partition(|(l, _)| *l == 0);
    for chunk in leaves.chunks(200) {
        let marks: Vec<String> = (1..=chunk.len()).map(|k| format!("${k}")).collect();
        let sql = format!(
            "SELECT idx, hash FROM merkle_leaves WHERE idx IN ({})",
            marks.join(",")
        );
        let mut q = sqlx::query(&sql);
        for (_, i) in chunk {
            q = q.bind(as_i64(*i));
        }
        for r in q.fetch_all(&mut *conn).await? {
            let h: String = r.try_get(1)?;
            out.insert((0, as_u64(r.try_get(0)?)), digest(&h, "merkle leaf")?);
        }
    }
    for chunk in inner.chunks(100) {
        let conds: Vec<String> = (0..chunk.len())
            .map(|k| format!("(level = ${} AND idx = ${})", 2 * k + 1, 2 * k + 2))
            .collect();
        let sql = format!(
            "SELECT level, idx, hash FROM merkle_nodes WHERE {}",
            conds.join(" OR ")
        );
        let mut q = sqlx::query(&sql);
        for (l, i) in chunk {
            q = q.bind(i64::from(*l)).bind(as_i64(*i));
        }
        for r in q.fetch_all(&mut *conn).await? {
            let h: String = r.try_get(2)?;
            let level = u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(u32::MAX);
            out.insert((level, as_u64(r.try_get(1)?)), digest(&h, "merkle node")?);
        }
    }
    Ok(out)
}

/// Runs `f` over the stored perfect subtrees: once to learn which it reads (the
/// RFC 6962 recursion visits the same nodes whatever their hashes), then with them
/// loaded in one query.
async fn with_nodes<T>(
    store: &Store,
    f: impl Fn(&mut dyn FnMut(u32, u64) -> Result<Digest, MerkleError>) -> Result<T, MerkleError>,
) -> Result<Result<T, MerkleError>, StoreError> {
    let mut wanted = Vec::new();
    let _ = f(&mut |l, i| {
        wanted.push((l, i));
        Ok([0; 32])
    });
    wanted.sort_unstable();
    wanted.dedup();
    let mut conn = store.pool.acquire().await?;
    let nodes = load_nodes(&mut conn, &wanted).await?;
    Ok(f(&mut |level, index| {
        nodes
            .get(&(level, index))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }))
}

/// The tree's size and root as the platform last sequenced it.
pub async fn state(store: &Store) -> Result<(u64, Digest), StoreError> {
    let r = sqlx::query("SELECT size, root FROM merkle_state WHERE id = 1")
        .fetch_one(&store.pool)
        .await?;
    let root: String = r.try_get(1)?;
    Ok((as_u64(r.try_get(0)?), digest(&root, "merkle state root")?))
}

/// Gives up to `max` records not yet in the tree their leaves, in arrival order,
/// in one transaction. Returns how many were added.
pub async fn integrate(store: &Store, max: i64, now: i64) -> Result<u64, StoreError> {
    // Nothing waiting (the common case every interval): no write transaction.
    if sqlx::query("SELECT 1 FROM records WHERE leaf_index IS NULL LIMIT 1")
        .fetch_optional(&store.pool)
        .await?
        .is_none()
    {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    // A write first: the lock (PostgreSQL row lock; SQLite's write lock, taken
    // before any read so the transaction never has to upgrade).
    sqlx::query("UPDATE merkle_state SET updated_ms = $1 WHERE id = 1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT device_id, seq, hash FROM records WHERE leaf_index IS NULL \
         ORDER BY received_ms, device_id, seq LIMIT $1",
    )
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let r = sqlx::query("SELECT size FROM merkle_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let size = as_u64(r.try_get(0)?);
    let mut keys = Vec::new();
    let _ = Frontier::at(size, &mut |l, i| -> Result<Digest, MerkleError> {
        keys.push((l, i));
        Ok([0; 32])
    });
    let peaks = load_nodes(&mut tx, &keys).await?;
    let mut frontier = Frontier::at(size, &mut |level, index| {
        peaks
            .get(&(level, index))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    })
    .map_err(|e| corrupt(format!("the tree's right edge: {e}")))?;
    let mut leaves = Vec::with_capacity(rows.len());
    let mut nodes = Vec::new();
    for r in &rows {
        let device: String = r.try_get(0)?;
        let seq: i64 = r.try_get(1)?;
        let hash: String = r.try_get(2)?;
        let leaf = merkle::leaf_hash(&digest(&hash, "record hash")?);
        let index = frontier.size();
        for (level, idx, h) in frontier.push(leaf) {
            if level > 0 {
                nodes.push((level, idx, hex::encode(h)));
            }
        }
        leaves.push((index, device, seq, hex::encode(leaf)));
    }
    for chunk in leaves.chunks(200) {
        let sql = multi_row_insert(
            "INSERT INTO merkle_leaves(idx, device_id, seq, hash)",
            4,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for (idx, device, seq, h) in chunk {
            q = q.bind(as_i64(*idx)).bind(device).bind(*seq).bind(h);
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in nodes.chunks(300) {
        let sql = multi_row_insert(
            "INSERT INTO merkle_nodes(level, idx, hash)",
            3,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for (level, idx, h) in chunk {
            q = q.bind(i64::from(*level)).bind(as_i64(*idx)).bind(h);
        }
        q.execute(&mut *tx).await?;
    }
    for (idx, device, seq, _) in &leaves {
        sqlx::query("UPDATE records SET leaf_index = $1 WHERE device_id = $2 AND seq = $3")
            .bind(as_i64(*idx))
            .bind(device)
            .bind(*seq)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE merkle_state SET size = $1, root = $2 WHERE id = 1")
        .bind(as_i64(frontier.size()))
        .bind(hex::encode(frontier.root()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(leaves.len() as u64)
}

/// Sequences every record waiting.
pub async fn integrate_all(store: &Store, now: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = integrate(store, BATCH, now).await?;
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The service's sequencer: every [`INTERVAL`], until the task is dropped.
pub async fn run_sequencer(store: Store, clock: crate::api::Clock) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = integrate_all(&store, clock()).await {
            tracing::warn!(error = %e, "sequencing records into the log failed; retrying");
        }
    }
}

fn stored_checkpoint(r: &sqlx::any::AnyRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        size: as_u64(r.try_get(0)?),
        root: r.try_get(1)?,
        time_ms: r.try_get(2)?,
        key: r.try_get(3)?,
        signature: r.try_get(4)?,
    })
}

/// Every checkpoint signed, smallest first.
pub async fn stored_checkpoints(store: &Store) -> Result<Vec<Checkpoint>, StoreError> {
    sqlx::query("SELECT size, root, time_ms, key, signature FROM merkle_checkpoints ORDER BY size")
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(stored_checkpoint)
        .collect()
}

/// The newest checkpoint signed, if any.
pub async fn latest_checkpoint(store: &Store) -> Result<Option<Checkpoint>, StoreError> {
    sqlx::query(
        "SELECT size, root, time_ms, key, signature FROM merkle_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(&store.pool)
    .await?
    .as_ref()
    .map(stored_checkpoint)
    .transpose()
}

/// The checkpoint of one size, if one was signed.
pub async fn checkpoint_of_size(
    store: &Store,
    size: u64,
) -> Result<Option<Checkpoint>, StoreError> {
    sqlx::query(
        "SELECT size, root, time_ms, key, signature FROM merkle_checkpoints WHERE size = $1",
    )
    .bind(as_i64(size))
    .fetch_optional(&store.pool)
    .await?
    .as_ref()
    .map(stored_checkpoint)
    .transpose()
}

/// Sequences every waiting record, then signs a checkpoint of the tree (or returns
/// the one already signed at this size).
pub async fn checkpoint(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    now: i64,
) -> Result<Checkpoint, StoreError> {
    use ring::signature::KeyPair;
    integrate_all(store, now).await?;
    let (size, root) = state(store).await?;
    if let Some(cp) = checkpoint_of_size(store, size).await? {
        return Ok(cp);
    }
    let cp = Checkpoint {
        size,
        root: hex::encode(root),
        time_ms: now,
        key: hex::encode(key.public_key().as_ref()),
        signature: hex::encode(key.sign(&Checkpoint::message(size, &root, now)).as_ref()),
    };
    sqlx::query(
        "INSERT INTO merkle_checkpoints(size, root, time_ms, key, signature) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(as_i64(cp.size))
    .bind(&cp.root)
    .bind(cp.time_ms)
    .bind(&cp.key)
    .bind(&cp.signature)
    .execute(&store.pool)
    .await?;
    // Another instance may have signed this size first: answer the stored one.
    Ok(checkpoint_of_size(store, size).await?.unwrap_or(cp))
}

/// An inclusion proof of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct InclusionProof {
    /// The record's leaf.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The record hash (hex).
    pub record_hash: String,
    /// The audit path, leaf side first (hex).
    pub path: Vec<String>,
}

/// The inclusion proof of record `(device, seq)` in the tree of `size` leaves;
/// `None` when the record is not (yet) in it.
pub async fn inclusion(
    store: &Store,
    device_id: &str,
    seq: u64,
    size: u64,
) -> Result<Option<Result<InclusionProof, MerkleError>>, StoreError> {
    let Some(r) =
        sqlx::query("SELECT leaf_index, hash FROM records WHERE device_id = $1 AND seq = $2")
            .bind(device_id)
            .bind(as_i64(seq))
            .fetch_optional(&store.pool)
            .await?
    else {
        return Ok(None);
    };
    let Some(index) = r.try_get::<Option<i64>, _>(0)?.map(as_u64) else {
        return Ok(None);
    };
    if index >= size {
        return Ok(None);
    }
    let record_hash: String = r.try_get(1)?;
    let path = with_nodes(store, |p| merkle::inclusion_proof(index, size, p)).await?;
    Ok(Some(path.map(|path| InclusionProof {
        leaf_index: index,
        tree_size: size,
        record_hash,
        path: path.iter().map(hex::encode).collect(),
    })))
}

/// The consistency proof between two tree sizes (hex hashes).
pub async fn consistency(
    store: &Store,
    first: u64,
    second: u64,
) -> Result<Result<Vec<String>, MerkleError>, StoreError> {
    let (size, _) = state(store).await?;
    if second > size {
        return Ok(Err(MerkleError::BadSizes { first, second }));
    }
    Ok(
        with_nodes(store, |p| merkle::consistency_proof(first, second, p))
            .await?
            .map(|v| v.iter().map(hex::encode).collect()),
    )
}

/// What an audit found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// The checkpoint given does not verify (signature, key, fields).
    CheckpointInvalid,
    /// The tree holds fewer leaves than a checkpoint signed earlier.
    TreeShrank,
    /// A leaf's record is gone.
    RecordMissing,
    /// A record's stored bytes no longer match its hash, payload or signature.
    RecordAltered,
    /// A device's chain has a gap or a link that does not hold.
    ChainBroken,
    /// A device's head names records the platform no longer holds.
    HeadMissing,
    /// The records rebuild another root than a checkpoint signed.
    RootMismatch,
    /// The stored tree state or subtrees disagree with the records.
    TreeMismatch,
    /// A learner's record is not proven included.
    InclusionFailed,
    /// A tombstone of purged records does not hold (signature, its checkpoint, or
    /// a leaf it claims that its checkpoint did not yet hold).
    TombstoneInvalid,
}

/// One problem, naming what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What.
    pub code: ProblemCode,
    /// The leaf, when the problem is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf: Option<u64>,
    /// The device (hex), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The seq, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// In words.
    pub message: String,
}

/// A learner's records, proven included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LearnerProofs {
    /// Login name.
    pub user: String,
    /// Records of the learner in the checkpoint's tree.
    pub records: u64,
    /// Of them, proven included by a verified audit path.
    pub proven: u64,
    /// The checkpoint size the proofs are against.
    pub tree_size: u64,
    /// The longest audit path (hashes).
    pub max_path: usize,
}

/// The audit's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Nothing wrong found.
    pub ok: bool,
    /// The checkpoint audited against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Checkpoint>,
    /// Leaves in the stored tree.
    pub tree_size: u64,
    /// Its root as rebuilt from the records (hex).
    pub root: String,
    /// Records re-verified.
    pub records_checked: u64,
    /// Records accepted but not yet sequenced.
    pub unsequenced: u64,
    /// Leaves whose records were purged after the retention period, each under a
    /// valid tombstone (`retention.rs`).
    pub tombstoned: u64,
    /// Stored checkpoints compared.
    pub checkpoints_checked: u64,
    /// Problems found (at most [`MAX_PROBLEMS`] listed).
    pub problems: Vec<Problem>,
    /// Problems found in all.
    pub problem_count: u64,
    /// The learner's inclusion proofs, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learner: Option<LearnerProofs>,
}

struct Findings {
    list: Vec<Problem>,
    count: u64,
}

impl Findings {
    fn add(
        &mut self,
        code: ProblemCode,
        leaf: Option<u64>,
        device: Option<&str>,
        seq: Option<u64>,
        message: String,
    ) {
        self.count += 1;
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem {
                code,
                leaf,
                device: device.map(str::to_owned),
                seq,
                message,
            });
        }
    }
}

/// Why an audit could not run at all (a database it cannot read); what it finds
/// wrong is in the report, not here.
pub type AuditError = StoreError;

/// Audits the database (read-only): see the module documentation. `from` is a
/// checkpoint kept outside the platform; `platform_key` the platform's public key
/// as the auditor knows it (else the one the database holds); `learner` asks for
/// inclusion proofs of that learner's records against the newest stored checkpoint.
pub async fn audit(
    store: &Store,
    from: Option<&Checkpoint>,
    platform_key: Option<[u8; 32]>,
    learner: Option<&str>,
    pin_tombstones: Option<i64>,
) -> Result<AuditReport, AuditError> {
    let mut found = Findings {
        list: Vec::new(),
        count: 0,
    };
    // Device heads first: records pushed while the audit runs can only add to
    // what is held, never look like a deletion.
    let mut heads: HashMap<String, u64> = HashMap::new();
    for h in sqlx::query("SELECT device_id, head_seq FROM devices")
        .fetch_all(&store.pool)
        .await?
    {
        heads.insert(h.try_get(0)?, as_u64(h.try_get(1)?));
    }
    let platform_key: Option<[u8; 32]> = match platform_key {
        Some(k) => Some(k),
        None => match sqlx::query("SELECT pkcs8 FROM platform_keys WHERE id = 'lease-signing'")
            .fetch_optional(&store.pool)
            .await?
        {
            Some(r) => {
                use ring::signature::KeyPair;
                let pkcs8: String = r.try_get(0)?;
                let bytes = hex::decode(pkcs8).map_err(|_| corrupt("platform key hex"))?;
                let kp = ring::signature::Ed25519KeyPair::from_pkcs8(&bytes)
                    .map_err(|_| corrupt("platform key"))?;
                kp.public_key().as_ref().try_into().ok()
            }
            None => None,
        },
    };
    let (stored_size, stored_root) = state(store).await?;
    // The leaves table must back the size the state claims.
    let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(idx), -1) FROM merkle_leaves")
        .fetch_one(&store.pool)
        .await?;
    let (leaf_rows, max_idx): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
    let backed = u64::try_from(max_idx + 1).unwrap_or(0);
    if as_u64(leaf_rows) != stored_size || backed != stored_size {
        found.add(
            ProblemCode::TreeMismatch,
            None,
            None,
            None,
            format!(
                "the log's state claims {stored_size} leaves; the leaves table holds {leaf_rows} (up to index {max_idx})"
            ),
        );
    }
    // Missing leaves are looked up one by one: never more than this many.
    let fill_limit = backed.min(stored_size);
    let mut stored_cps = Vec::new();
    let rows = sqlx::query(
        "SELECT size, root, time_ms, key, signature FROM merkle_checkpoints ORDER BY size",
    )
    .fetch_all(&store.pool)
    .await?;
    for r in &rows {
        stored_cps.push(stored_checkpoint(r)?);
    }
    // The roots the rebuilt tree must reproduce: size → (root, who).
    let mut expect: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
    if let Some(cp) = from {
        if let Err(e) = cp.verify(platform_key.as_ref()) {
            found.add(
                ProblemCode::CheckpointInvalid,
                None,
                None,
                None,
                format!("the checkpoint given: {e}"),
            );
        }
        // Its root is compared even so: a rebuilt history shows as a root mismatch.
        if cp.size > stored_size {
            found.add(
                ProblemCode::TreeShrank,
                None,
                None,
                None,
                format!(
                    "the checkpoint covers {} records; the platform's log holds {stored_size}: records were deleted",
                    cp.size
                ),
            );
        }
        expect
            .entry(cp.size)
            .or_default()
            .push((cp.root.clone(), "the checkpoint given".into()));
    }
    for cp in &stored_cps {
        match cp.verify(platform_key.as_ref()) {
            Ok(()) => expect.entry(cp.size).or_default().push((
                cp.root.clone(),
                format!("stored checkpoint of size {}", cp.size),
            )),
            Err(e) => found.add(
                ProblemCode::CheckpointInvalid,
                None,
                None,
                None,
                format!("stored checkpoint of size {}: {e}", cp.size),
            ),
        }
    }
    expect
        .entry(stored_size)
        .or_default()
        .push((hex::encode(stored_root), "the log's stored state".into()));
    // Tombstones of records purged after the retention period (R-SV-4): each must
    // verify, and the checkpoint it cites must be one the rebuilt log reproduces.
    let mut purged = Purged {
        leaves: std::collections::HashSet::new(),
        met: 0,
    };
    for t in crate::retention::tombstones(store).await? {
        let verdict = match platform_key.as_ref() {
            Some(k) => t.check(k).and_then(|()| match pin_tombstones {
                Some(now) => tombstone_pinned(&t, from, now),
                None => Ok(()),
            }),
            None => Err("no platform key to check it with".to_owned()),
        };
        match verdict {
            Ok(()) => {
                let cp = &t.statement.covered_by;
                expect
                    .entry(cp.size)
                    .or_default()
                    .push((cp.root.clone(), format!("tombstone {}'s checkpoint", t.id)));
                purged.leaves.extend(t.statement.leaves.iter().copied());
            }
            Err(why) => found.add(
                ProblemCode::TombstoneInvalid,
                None,
                None,
                None,
                format!("tombstone {}: {why}", t.id),
            ),
        }
    }

    let mut frontier = Frontier::new();
    let mut keys: HashMap<String, Option<[u8; 32]>> = HashMap::new();
    let mut checked = 0u64;
    let mut check_roots = |frontier: &Frontier, found: &mut Findings| {
        if let Some(list) = expect.remove(&frontier.size()) {
            let root = hex::encode(frontier.root());
            for (want, who) in list {
                if want != root {
                    found.add(
                        ProblemCode::RootMismatch,
                        None,
                        None,
                        None,
                        format!(
                            "the first {} records rebuild root {root}, but {who} says {want}: records before it were changed, removed or inserted",
                            frontier.size()
                        ),
                    );
                }
            }
        }
    };
    check_roots(&frontier, &mut found);
    // Pass 1, leaf order: each record's own integrity, its stored leaf, the tree.
    {
        let mut rows = sqlx::query(
            "SELECT r.leaf_index, r.device_id, r.seq, r.header, r.payload, r.hash, r.signature, d.public_key, \
             m.device_id, m.seq, m.hash FROM records r LEFT JOIN devices d ON d.device_id = r.device_id \
             LEFT JOIN merkle_leaves m ON m.idx = r.leaf_index \
             WHERE r.leaf_index IS NOT NULL ORDER BY r.leaf_index",
        )
        .fetch(&store.pool);
        while let Some(r) = rows.try_next().await? {
            let idx = as_u64(r.try_get(0)?);
            let device: String = r.try_get(1)?;
            let seq = as_u64(r.try_get(2)?);
            while frontier.size() < idx && frontier.size() < fill_limit {
                let h = missing_leaf(store, frontier.size(), &mut found, &mut purged).await?;
                frontier.push(h);
                check_roots(&frontier, &mut found);
            }
            if frontier.size() != idx {
                found.add(
                    ProblemCode::TreeMismatch,
                    Some(idx),
                    Some(&device),
                    Some(seq),
                    format!(
                        "leaf index {idx} beyond the log's {} leaves",
                        frontier.size()
                    ),
                );
                continue;
            }
            checked += 1;
            let wire = WireRecord {
                header: r.try_get(3)?,
                payload: r.try_get(4)?,
                hash: r.try_get(5)?,
                signature: r.try_get(6)?,
            };
            let pk: Option<String> = r.try_get(7)?;
            let leaf = check_one(
                &mut keys,
                &device,
                seq,
                Some(idx),
                &wire,
                pk.as_deref(),
                &mut found,
            );
            // The stored leaf must name this record and hash.
            let m_dev: Option<String> = r.try_get(8)?;
            let m_seq: Option<i64> = r.try_get(9)?;
            let m_hash: Option<String> = r.try_get(10)?;
            match (m_dev, m_seq, m_hash) {
                (Some(d), Some(s), Some(h))
                    if d == device && as_u64(s) == seq && h == hex::encode(leaf) => {}
                (Some(d), Some(s), _) => found.add(
                    ProblemCode::TreeMismatch,
                    Some(idx),
                    Some(&device),
                    Some(seq),
                    format!(
                        "the stored leaf {idx} names device {d} seq {s}, or another hash, than the record that holds its place"
                    ),
                ),
                _ => found.add(
                    ProblemCode::TreeMismatch,
                    Some(idx),
                    Some(&device),
                    Some(seq),
                    format!("no stored leaf {idx} for this record"),
                ),
            }
            frontier.push(leaf);
            check_roots(&frontier, &mut found);
        }
    }
    while frontier.size() < fill_limit {
        let h = missing_leaf(store, frontier.size(), &mut found, &mut purged).await?;
        frontier.push(h);
        check_roots(&frontier, &mut found);
    }
    // Records accepted but not yet sequenced: their integrity.
    let mut unsequenced = 0u64;
    {
        let mut rows = sqlx::query(
            "SELECT r.device_id, r.seq, r.header, r.payload, r.hash, r.signature, d.public_key \
             FROM records r LEFT JOIN devices d ON d.device_id = r.device_id WHERE r.leaf_index IS NULL",
        )
        .fetch(&store.pool);
        while let Some(r) = rows.try_next().await? {
            unsequenced += 1;
            checked += 1;
            let device: String = r.try_get(0)?;
            let seq = as_u64(r.try_get(1)?);
            let wire = WireRecord {
                header: r.try_get(2)?,
                payload: r.try_get(3)?,
                hash: r.try_get(4)?,
                signature: r.try_get(5)?,
            };
            let pk: Option<String> = r.try_get(6)?;
            check_one(
                &mut keys,
                &device,
                seq,
                None,
                &wire,
                pk.as_deref(),
                &mut found,
            );
        }
    }
    // Pass 2, each device in seq order: the chain links and the device's head.
    {
        let mut rows =
            sqlx::query("SELECT device_id, seq, header FROM records ORDER BY device_id, seq")
                .fetch(&store.pool);
        let mut last: Option<(String, u64, Hash)> = None;
        let mut held: HashMap<String, u64> = HashMap::new();
        while let Some(r) = rows.try_next().await? {
            let device: String = r.try_get(0)?;
            let seq = as_u64(r.try_get(1)?);
            let header: String = r.try_get(2)?;
            let Some(bytes) = hex::decode(&header).ok() else {
                continue; // reported by pass 1 as not decoding
            };
            let Ok(h) = keshi_protocol::record::RecordHeader::decode(&bytes) else {
                continue;
            };
            let (prev_seq, prev_hash) = match &last {
                Some((d, s, hh)) if *d == device => (*s, *hh),
                _ => (0, Hash::ZERO),
            };
            if seq != prev_seq + 1 || h.prev_hash != prev_hash {
                found.add(
                    ProblemCode::ChainBroken,
                    None,
                    Some(&device),
                    Some(seq),
                    format!(
                        "follows seq {prev_seq} in the records held, but links to {}: records between were removed",
                        h.prev_hash.to_hex()
                    ),
                );
            }
            held.insert(device.clone(), seq);
            last = Some((device, seq, Hash::of(&bytes)));
        }
        for (device, head) in &heads {
            let have = held.get(device).copied().unwrap_or(0);
            if have < *head {
                found.add(
                    ProblemCode::HeadMissing,
                    None,
                    Some(device),
                    Some(have + 1),
                    format!(
                        "the device's head is seq {head}, but records {}..={head} are not held",
                        have + 1
                    ),
                );
            }
        }
    }
    // Sizes the records never reached (the checkpoint given is TreeShrank above).
    for (size, list) in expect {
        for (_, who) in list
            .into_iter()
            .filter(|(_, who)| who != "the checkpoint given")
        {
            found.add(
                ProblemCode::TreeMismatch,
                None,
                None,
                None,
                format!(
                    "{who}: the log's records reach only {} of its {size} leaves",
                    frontier.size()
                ),
            );
        }
    }
    // The stored subtrees, through the proofs they serve.
    let newest = stored_cps.last().cloned();
    if let (Some(cp), Some(to)) = (from, newest.as_ref()) {
        if cp.size <= to.size && to.size <= stored_size {
            let proof =
                with_nodes(store, |p| merkle::consistency_proof(cp.size, to.size, p)).await?;
            let verdict = proof.and_then(|proof| {
                merkle::verify_consistency(
                    cp.size,
                    to.size,
                    &cp.root_digest()?,
                    &to.root_digest()?,
                    &proof,
                )
            });
            if let Err(e) = verdict {
                found.add(
                    ProblemCode::TreeMismatch,
                    None,
                    None,
                    None,
                    format!(
                        "consistency proof from size {} to {} from the stored subtrees: {e}",
                        cp.size, to.size
                    ),
                );
            }
        }
    }
    let learner = match (learner, newest.as_ref()) {
        (Some(user), Some(cp)) => Some(prove_learner(store, user, cp, &mut found).await?),
        (Some(user), None) => {
            found.add(
                ProblemCode::InclusionFailed,
                None,
                None,
                None,
                format!("no checkpoint was signed yet to prove {user}'s records against"),
            );
            None
        }
        _ => None,
    };
    Ok(AuditReport {
        ok: found.count == 0,
        from: from.cloned(),
        tree_size: stored_size,
        root: hex::encode(frontier.root()),
        records_checked: checked,
        unsequenced,
        tombstoned: purged.met,
        checkpoints_checked: stored_cps.len() as u64,
        problems: found.list,
        problem_count: found.count,
        learner,
    })
}

/// One stored record's integrity: it decodes, its device is enrolled, its bytes
/// match its hash, payload and signature, and its row names the device and seq
/// its signed header says. Returns its leaf hash (from the stored hash when the
/// record is beyond checking, so the tree keeps its shape).
fn check_one(
    keys: &mut HashMap<String, Option<[u8; 32]>>,
    device: &str,
    seq: u64,
    leaf: Option<u64>,
    wire: &WireRecord,
    public_key: Option<&str>,
    found: &mut Findings,
) -> Digest {
    let key = *keys
        .entry(device.to_owned())
        .or_insert_with(|| public_key.and_then(merkle::parse_digest));
    let fallback = || {
        merkle::parse_digest(&wire.hash)
            .map(|d| merkle::leaf_hash(&d))
            .unwrap_or([0; 32])
    };
    let rec = match wire.to_record() {
        Ok(r) => r,
        Err(e) => {
            found.add(
                ProblemCode::RecordAltered,
                leaf,
                Some(device),
                Some(seq),
                format!("the stored record does not decode: {e}"),
            );
            return fallback();
        }
    };
    let Some(pk) = key else {
        found.add(
            ProblemCode::RecordAltered,
            leaf,
            Some(device),
            Some(seq),
            "the record's device is not enrolled".into(),
        );
        return fallback();
    };
    let stored_id = rec.header.device_id.to_hex();
    if stored_id != device || rec.header.seq != seq {
        found.add(
            ProblemCode::RecordAltered,
            leaf,
            Some(device),
            Some(seq),
            format!(
                "the stored row says device {device} seq {seq}, its signed header says {stored_id} seq {}",
                rec.header.seq
            ),
        );
    } else if let Err(e) =
        keshi_protocol::record::check_record(&rec, &pk, seq, &rec.header.prev_hash)
    {
        found.add(
            ProblemCode::RecordAltered,
            leaf,
            Some(device),
            Some(seq),
            e.to_string(),
        );
    }
    merkle::leaf_hash(&rec.hash.0)
}

/// Reports leaf `idx` as missing its record, naming the record from the stored
/// leaf when it is still there; returns the leaf hash to keep the rebuilt tree's
/// positions aligned (the stored one, or zeros when that is gone too — then no
/// later root can match, which is the truth).
/// A tombstone holds only for leaves the auditor's own checkpoint (`from`, kept
/// outside the platform) already held the retention period before the audit
/// (`now`), and only for a purge that has happened: what it cites about itself
/// (its checkpoint's time, its purge time) is signed with a key the database
/// holds, so it is not trusted alone. (`pin_tombstones: None` — a restore checked
/// against its own backup — takes the tombstones the backup held as signed.)
fn tombstone_pinned(
    t: &crate::retention::Tombstone,
    from: Option<&Checkpoint>,
    now: i64,
) -> Result<(), String> {
    use crate::retention::RETENTION_MS;
    let Some(from) = from else {
        return Err(
            "purged records are accepted only against a checkpoint you kept (--from)".into(),
        );
    };
    if t.statement.purged_ms > now {
        return Err("its purge time is in the future".into());
    }
    if from.time_ms > now - RETENTION_MS {
        return Err(format!(
            "the checkpoint given is younger than the retention period ({} days): it cannot vouch for purged records",
            RETENTION_MS / 86_400_000
        ));
    }
    if let Some(l) = t.statement.leaves.iter().find(|l| **l >= from.size) {
        return Err(format!(
            "leaf {l} was not in the checkpoint given ({} records)",
            from.size
        ));
    }
    Ok(())
}

/// Leaves under valid tombstones, and how many of them the audit met.
struct Purged {
    leaves: std::collections::HashSet<u64>,
    met: u64,
}

async fn missing_leaf(
    store: &Store,
    idx: u64,
    found: &mut Findings,
    purged: &mut Purged,
) -> Result<Digest, StoreError> {
    let named = sqlx::query("SELECT device_id, seq, hash FROM merkle_leaves WHERE idx = $1")
        .bind(as_i64(idx))
        .fetch_optional(&store.pool)
        .await?;
    let (d, s, h) = match &named {
        Some(n) => (
            Some(n.try_get::<String, _>(0)?),
            Some(as_u64(n.try_get(1)?)),
            digest(&n.try_get::<String, _>(2)?, "leaf").unwrap_or([0; 32]),
        ),
        None => (None, None, [0; 32]),
    };
    if named.is_some() && purged.leaves.contains(&idx) {
        purged.met += 1;
        return Ok(h);
    }
    found.add(
        ProblemCode::RecordMissing,
        Some(idx),
        d.as_deref(),
        s,
        "the record of this leaf is no longer held".into(),
    );
    Ok(h)
}

async fn prove_learner(
    store: &Store,
    user: &str,
    cp: &Checkpoint,
    found: &mut Findings,
) -> Result<LearnerProofs, StoreError> {
    let root = cp.root_digest().map_err(|e| corrupt(e.to_string()))?;
    let rows = sqlx::query(
        "SELECT r.device_id, r.seq, r.hash, r.leaf_index FROM records r JOIN learners l ON l.id = r.learner_id \
         WHERE l.username = $1 AND r.leaf_index IS NOT NULL AND r.leaf_index < $2 ORDER BY r.leaf_index",
    )
    .bind(user)
    .bind(as_i64(cp.size))
    .fetch_all(&store.pool)
    .await?;
    let mut out = LearnerProofs {
        user: user.to_owned(),
        records: rows.len() as u64,
        proven: 0,
        tree_size: cp.size,
        max_path: 0,
    };
    for r in &rows {
        let device: String = r.try_get(0)?;
        let seq = as_u64(r.try_get(1)?);
        let hash: String = r.try_get(2)?;
        let index = as_u64(r.try_get(3)?);
        let leaf = merkle::leaf_hash(&digest(&hash, "record hash")?);
        let verdict = with_nodes(store, |p| merkle::inclusion_proof(index, cp.size, p))
            .await?
            .and_then(|path| {
                out.max_path = out.max_path.max(path.len());
                merkle::verify_inclusion(&leaf, index, cp.size, &path, &root)
            });
        match verdict {
            Ok(()) => out.proven += 1,
            Err(e) => found.add(
                ProblemCode::InclusionFailed,
                Some(index),
                Some(&device),
                Some(seq),
                format!(
                    "not proven included in the checkpoint of size {}: {e}",
                    cp.size
                ),
            ),
        }
    }
    Ok(out)
}

// ---- HTTP: the log is public (it names record hashes, leaf positions and tree
// hashes only; whoever holds a record can prove it included). ----

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;

use crate::api::{AppState, Failure};

/// The log's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ledger/checkpoint", get(http_checkpoint))
        .route("/v1/ledger/consistency", get(http_consistency))
        .route("/v1/ledger/inclusion", get(http_inclusion))
}

fn not_found(what: impl Into<String>) -> Failure {
    Failure::new(StatusCode::NOT_FOUND, ApiCode::NotFound, what)
}

fn bad_request(e: impl std::fmt::Display) -> Failure {
    Failure::new(
        StatusCode::BAD_REQUEST,
        ApiCode::MalformedBody,
        e.to_string(),
    )
}

/// `GET /v1/ledger/checkpoint`: the newest signed checkpoint.
async fn http_checkpoint(State(state): State<AppState>) -> Result<Json<Checkpoint>, Failure> {
    latest_checkpoint(&state.store)
        .await?
        .map(Json)
        .ok_or_else(|| not_found("no checkpoint has been signed yet"))
}

/// Query of `GET /v1/ledger/consistency`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ConsistencyQuery {
    /// The earlier tree size (a checkpoint you hold).
    pub first: u64,
    /// The later tree size (a checkpoint signed since).
    pub second: u64,
}

/// A consistency proof.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub first: u64,
    /// The later size.
    pub second: u64,
    /// RFC 9162 §2.1.4 proof (hex).
    pub proof: Vec<String>,
}

/// `GET /v1/ledger/consistency?first=M&second=N`.
async fn http_consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, Failure> {
    match consistency(&state.store, q.first, q.second).await? {
        Ok(proof) => Ok(Json(ConsistencyProof {
            first: q.first,
            second: q.second,
            proof,
        })),
        Err(e @ MerkleError::MissingNode { .. }) => Err(crate::courses::internal("the log", e)),
        Err(e) => Err(bad_request(e)),
    }
}

/// Query of `GET /v1/ledger/inclusion`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct InclusionQuery {
    /// The record's device (hex).
    pub device: String,
    /// Its seq.
    pub seq: u64,
    /// The tree size (a checkpoint's); the newest checkpoint when absent.
    pub size: Option<u64>,
}

/// `GET /v1/ledger/inclusion?device=D&seq=N[&size=S]`.
async fn http_inclusion(
    State(state): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<InclusionProof>, Failure> {
    let size = match q.size {
        Some(s) => s,
        None => {
            latest_checkpoint(&state.store)
                .await?
                .ok_or_else(|| not_found("no checkpoint has been signed yet"))?
                .size
        }
    };
    if size > crate::ledger::state(&state.store).await?.0 {
        return Err(bad_request(format!("the log has fewer than {size} leaves")));
    }
    match inclusion(&state.store, &q.device, q.seq, size).await? {
        None => Err(not_found(format!(
            "record {} seq {} is not in the tree of {size} leaves (not held, or not sequenced yet)",
            q.device, q.seq
        ))),
        Some(Ok(p)) => Ok(Json(p)),
        Some(Err(e)) => Err(crate::courses::internal("the log", e)),
    }
}
