//! A learner's electronic training archive (issue 13, R-SV-5: 一人一档): one ZIP
//! that verifies on its own with the platform's public key
//! (`keshi_protocol::archive`, `keshi verify-archive`).
//!
//! - `manifest.json` — the learner (ID number masked), the platform key, a
//!   checkpoint signed when the archive was made, the devices and their keys;
//! - `records.jsonl` — every record the learner's devices sent, as signed, each
//!   with its inclusion proof in that checkpoint;
//! - `photos/<sha256>.<ext>` — the capture photos the platform holds;
//! - `certificates/<serial>.pdf` — the certificates issued (the same PDF as issued);
//! - `results.json` — the learner's results per course as last computed.
//!
//! A provincial platform takes the archive as it is: nothing in it needs this
//! platform to be believed.

use std::io::{Seek, Write};

use keshi_protocol::archive::{
    ArchiveDevice, ArchiveLearner, ArchiveManifest, ArchiveRecord, RecordsDigest,
};
use keshi_protocol::certificate::CertificateStatement;
use keshi_protocol::wire::WireRecord;
use sqlx::Row;

use crate::blob::BlobStore;
use crate::certificate::{CertificateError, FontData};
use crate::store::{Store, StoreError};

/// Why an archive could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// No such learner.
    #[error("no learner {0:?}")]
    NoLearner(String),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof the log cannot give (a damaged log: run the audit).
    #[error("the log cannot prove device {device} seq {seq}: {why}")]
    Proof {
        /// Device.
        device: String,
        /// Seq.
        seq: u64,
        /// Why.
        why: String,
    },
    /// Writing the ZIP.
    #[error("writing the archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Files.
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    /// A certificate.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// What went into an archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    /// Its manifest.
    pub manifest: ArchiveManifest,
}

/// Writes the archive of learner `user` to `out`.
pub async fn write<W: Write + Seek>(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    blobs: &dyn BlobStore,
    font: &FontData,
    user: &str,
    out: W,
    now: i64,
) -> Result<Made, ArchiveError> {
    let r = sqlx::query(
        "SELECT l.id, l.real_name, l.id_number, i.name, l.class FROM learners l \
         JOIN institutions i ON i.id = l.institution_id WHERE l.username = $1",
    )
    .bind(user)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| ArchiveError::NoLearner(user.to_owned()))?;
    let id: String = r.try_get(0).map_err(StoreError::from)?;
    let sealed: String = r.try_get(2).map_err(StoreError::from)?;
    let id_number = store
        .data_key
        .decrypt("id_number", &id, &sealed)
        .map_err(StoreError::from)?;
    let learner = ArchiveLearner {
        user: user.to_owned(),
        real_name: r.try_get(1).map_err(StoreError::from)?,
        id_number_masked: keshi_protocol::staff::mask_id_number(&id_number),
        institution: r.try_get(3).map_err(StoreError::from)?,
        class: r.try_get(4).map_err(StoreError::from)?,
    };
    // Everything received is sequenced and signed into the checkpoint first.
    let checkpoint = crate::ledger::checkpoint(store, key, now).await?;
    let devices: Vec<ArchiveDevice> = sqlx::query(
        "SELECT device_id, public_key FROM devices WHERE learner_id = $1 ORDER BY device_id",
    )
    .bind(&id)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?
    .iter()
    .map(|r| {
        Ok(ArchiveDevice {
            device_id: r.try_get(0)?,
            public_key: r.try_get(1)?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()
    .map_err(StoreError::from)?;
    let mut zip = zip::ZipWriter::new(out);
    let text = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);

    zip.start_file("records.jsonl", text)?;
    let rows = sqlx::query(
        "SELECT device_id, seq, header, payload, hash, signature, leaf_index FROM records \
         WHERE learner_id = $1 AND leaf_index IS NOT NULL AND leaf_index < $2 ORDER BY device_id, seq",
    )
    .bind(&id)
    .bind(crate::store::i(checkpoint.size))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?;
    let mut records = 0u64;
    let mut digest = RecordsDigest::default();
    for r in &rows {
        let device: String = r.try_get(0).map_err(StoreError::from)?;
        let seq = crate::store::u(r.try_get(1).map_err(StoreError::from)?);
        let proof = crate::ledger::inclusion(store, &device, seq, checkpoint.size)
            .await?
            .ok_or_else(|| ArchiveError::Proof {
                device: device.clone(),
                seq,
                why: "not in the log".into(),
            })?
            .map_err(|e| ArchiveError::Proof {
                device: device.clone(),
                seq,
                why: e.to_string(),
            })?;
        let line = ArchiveRecord {
            device,
            seq,
            leaf_index: proof.leaf_index,
            record: WireRecord {
                header: r.try_get(2).map_err(StoreError::from)?,
                payload: r.try_get(3).map_err(StoreError::from)?,
                hash: r.try_get(4).map_err(StoreError::from)?,
                signature: r.try_get(5).map_err(StoreError::from)?,
            },
            path: proof.path,
        };
        let hash = keshi_protocol::ids::decode_hex::<32>(&line.record.hash, "record hash")
            .map_err(|e| {
                StoreError::Corrupt(format!("record {} of {}: {e}", line.seq, line.device))
            })?;
        digest.push(&keshi_protocol::ids::Hash(hash));
        serde_json::to_writer(&mut zip, &line).map_err(std::io::Error::other)?;
        zip.write_all(b"\n")?;
        records += 1;
    }

    let mut photos = Vec::new();
    for r in sqlx::query(
        "SELECT sha256, content_type FROM captures WHERE learner_id = $1 ORDER BY stored_ms, sha256",
    )
    .bind(&id)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?
    {
        let sha: String = r.try_get(0).map_err(StoreError::from)?;
        let kind: String = r.try_get(1).map_err(StoreError::from)?;
        let Some(bytes) = blobs.get(&sha)? else {
            // Recorded but gone from the blob store: the archive says so by
            // leaving it out of the manifest; the audit of blobs is the backup's.
            tracing::warn!(sha256 = %sha, "a capture photo is missing from the blob store");
            continue;
        };
        let ext = if kind.contains("png") { "png" } else { "jpg" };
        zip.start_file(format!("photos/{sha}.{ext}"), stored)?;
        zip.write_all(&bytes)?;
        photos.push(sha);
    }

    let mut certificates = Vec::new();
    for r in sqlx::query(
        "SELECT serial, statement FROM certificates WHERE learner_id = $1 ORDER BY serial",
    )
    .bind(&id)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?
    {
        let serial: String = r.try_get(0).map_err(StoreError::from)?;
        let text: String = r.try_get(1).map_err(StoreError::from)?;
        let statement: CertificateStatement = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("certificate {serial}: {e}")))?;
        let pdf = crate::certificate::issue(key, &statement, font)?;
        zip.start_file(
            format!("certificates/{}", crate::certificate::file_name(&statement)),
            stored,
        )?;
        zip.write_all(&pdf)?;
        certificates.push(serial);
    }

    let results: Vec<serde_json::Value> = sqlx::query(
        "SELECT course, level, credited_ms, class_hours_completed, class_hours_planned, attendance_permille, \
         score, qualified, computed_ms FROM course_results WHERE learner_id = $1 ORDER BY course",
    )
    .bind(&id)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?
    .iter()
    .map(|r| {
        Ok(serde_json::json!({
            "course": r.try_get::<String, _>(0)?, "level": r.try_get::<String, _>(1)?,
            "credited_seconds": r.try_get::<i64, _>(2)? / 1000,
            "class_hours_completed": r.try_get::<i64, _>(3)?, "class_hours_planned": r.try_get::<i64, _>(4)?,
            "attendance": r.try_get::<i64, _>(5)? as f64 / 1000.0, "score": r.try_get::<i64, _>(6)?,
            "qualified": r.try_get::<i64, _>(7)? != 0, "computed_ms": r.try_get::<i64, _>(8)?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()
    .map_err(StoreError::from)?;
    let results = serde_json::to_vec_pretty(&results).map_err(std::io::Error::other)?;
    zip.start_file("results.json", text)?;
    zip.write_all(&results)?;

    use ring::signature::KeyPair;
    let manifest = ArchiveManifest {
        format: keshi_protocol::archive::FORMAT.to_owned(),
        created_ms: now,
        learner,
        platform_key: hex::encode(key.public_key().as_ref()),
        checkpoint,
        devices,
        records,
        photos,
        certificates,
        records_digest: digest.to_hex(),
        results_sha256: keshi_protocol::ids::Hash::of(&results).to_hex(),
        signature: String::new(),
    };
    let manifest = ArchiveManifest {
        signature: hex::encode(key.sign(&manifest.message()).as_ref()),
        ..manifest
    };
    zip.start_file("manifest.json", text)?;
    serde_json::to_writer_pretty(&mut zip, &manifest).map_err(std::io::Error::other)?;
    zip.finish()?.flush()?;
    Ok(Made { manifest })
}
