//! Certificates and learning proofs (培训合格证明, R-AS-2, R-AS-6): the signed
//! statement a platform issues when a learner qualified, its QR text, and the seal
//! of the issued PDF — written and checked here, with no I/O, so that the platform
//! that issues and every verifier (the `keshi verify-certificate` command, a
//! subsidy office's checker) read the same bytes the same way.
//!
//! # The statement and its QR text
//! A [`CertificateStatement`] is signed by the platform key (Ed25519) over
//! [`signing_bytes`]: `b"keshi-certificate-v1\n"` followed by the statement's
//! canonical JSON (serde_json of the struct: fields in declaration order, no
//! spaces). The QR code carries
//!
//! ```text
//! KESHI-CERT1.<base64url-nopad(canonical JSON)>.<base64url-nopad(signature, 64 bytes)>
//! ```
//!
//! ([`qr_text`], checked by [`verify_qr`]). One spelling per certificate: a JSON
//! that is not the canonical form of what it decodes to, padded or non-canonical
//! base64 are refused, so a verified text is the issued text.
//!
//! # The PDF seal
//! The issued PDF carries the QR text in a comment line just before its final
//! `startxref`, and ends with the seal, a comment line after `%%EOF` (PDF readers
//! skip comments):
//!
//! ```text
//! …the document, up to its cross-reference table and trailer…
//! %KESHI-CERT <qr text>\n
//! startxref\n<offset>\n%%EOF\n
//! %KESHI-SEAL <lowercase hex Ed25519 signature>\n
//! ```
//!
//! The seal signs `b"keshi-certificate-pdf-v1\n"` followed by every byte before the
//! `%KESHI-SEAL` line (the whole document, the certificate line, `startxref` and
//! `%%EOF`). Why the certificate line is not after `%%EOF` too: readers look for
//! `startxref` and `%%EOF` in the last 1024 bytes of a file (ISO 32000-1 7.5.5 and
//! its implementation notes); a ~1 KB QR text after them made `qpdf --check` call
//! the file damaged and would make a viewer "repair" (rewrite) it. The 141-byte
//! seal line keeps them within reach. [`seal_pdf`] writes the lines,
//! [`verify_pdf`] checks the seal first (any altered byte is
//! [`CertError::Altered`], naming the part) and then the statement as
//! [`verify_qr`] does.
//!
//! What a valid certificate proves: *this platform key signed this statement and
//! these exact PDF bytes*. It says nothing about whether the platform's
//! qualification was right; that is the platform's replay of the signed records,
//! whose head (`journal_head`) and checkpoint (`checkpoint_size`,
//! `checkpoint_root`) the statement names so an audit can find them.
//!
//! Architecture invariant: no I/O, no clock; signatures are verified with
//! [`crate::sig`] (the strict rule) and made through [`crate::record::Signer`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::record::Signer;
use crate::sig::{KeyError, PublicKey};

/// The statement format this build writes and reads (`v`).
pub const STATEMENT_VERSION: u32 = 1;
/// Domain prefix of the statement's signed bytes ([`signing_bytes`]).
pub const STATEMENT_DOMAIN: &[u8] = b"keshi-certificate-v1\n";
/// Domain prefix of the PDF seal's signed bytes.
pub const PDF_SEAL_DOMAIN: &[u8] = b"keshi-certificate-pdf-v1\n";
/// How the QR text starts (format 1).
pub const QR_PREFIX: &str = "KESHI-CERT1.";
/// How the certificate line of an issued PDF starts.
pub const PDF_CERT_LINE: &[u8] = b"%KESHI-CERT ";
/// How the seal line of an issued PDF starts.
pub const PDF_SEAL_LINE: &[u8] = b"%KESHI-SEAL ";

/// Longest serial number (ASCII letters, digits, `-`, `_`, `.`: it names the file
/// of the PDF and of bulk downloads).
pub const SERIAL_MAX: usize = 64;
/// Longest value of a text field, in characters (names, institution, course).
pub const TEXT_MAX: usize = 200;

/// What a platform states when it issues a certificate (R-AS-2: the learner
/// completed the course's class hours and passed its assessment; R-AS-6: the
/// learning proof). Signed as a whole ([`signing_bytes`]); unknown fields are
/// refused. The field order is the canonical JSON's order: never reorder, a change
/// is `v: 2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateStatement {
    /// Format version, [`STATEMENT_VERSION`] (1).
    pub v: u32,
    /// The certificate's serial number, unique per platform: 1 to [`SERIAL_MAX`]
    /// ASCII letters, digits, `-`, `_` or `.` (not starting with `.`).
    pub serial: String,
    /// The learner's login name on the platform.
    pub learner: String,
    /// The learner's real name (实名).
    pub name: String,
    /// The learner's ID number, masked (`crate::staff::mask_id_number`): the
    /// certificate never carries the full number.
    pub id_number_masked: String,
    /// The training institution (培训机构).
    pub institution: String,
    /// The course id.
    pub course_id: String,
    /// The course title.
    pub course_title: String,
    /// The qualification level (等级), as the course states it; may be empty.
    pub level: String,
    /// Class hours completed (学时).
    pub class_hours: u32,
    /// Credited study time, seconds (as the platform's replay derived it).
    pub credited_seconds: u64,
    /// Assessment score, 0 to 100.
    pub score: u32,
    /// Hash of the newest signed record the qualification was derived from
    /// (64 lowercase hex digits).
    pub journal_head: String,
    /// Size of the platform's record checkpoint the statement is anchored in.
    pub checkpoint_size: u64,
    /// Root hash of that checkpoint (64 lowercase hex digits).
    pub checkpoint_root: String,
    /// Issue date, `YYYY-MM-DD`.
    pub issued_date: String,
    /// The issuing platform's Ed25519 public key (64 lowercase hex digits).
    pub platform_key: String,
}

/// Which part of an issued PDF no longer matches its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlteredPart {
    /// The document outside the certificate line, or the seal's signature (the
    /// certificate line is intact; one signature cannot tell which).
    Document,
    /// The `%KESHI-CERT` line (the statement or its signature).
    CertificateLine,
    /// The `%KESHI-SEAL` line is not a signature (not 128 lowercase hex digits).
    Seal,
}

impl std::fmt::Display for AlteredPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlteredPart::Document => {
                "the document (or its seal) was changed; the certificate line is intact"
            }
            AlteredPart::CertificateLine => "the certificate line (%KESHI-CERT) was changed",
            AlteredPart::Seal => "the seal line (%KESHI-SEAL) is not a signature",
        })
    }
}

/// Why a certificate does not verify. Each names what failed; [`CertError::code`]
/// is a stable code for machine-readable output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The key to verify under is not an acceptable Ed25519 public key.
    #[error("the platform key is not usable: {0}")]
    InvalidPlatformKey(KeyError),
    /// The text does not start with [`QR_PREFIX`].
    #[error("not a Keshi certificate (the text does not start with {QR_PREFIX})")]
    NotKeshi,
    /// The bytes do not start with `%PDF-`.
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    /// The file does not end with a `%KESHI-SEAL` line.
    #[error("the PDF carries no Keshi seal at its end: not an issued Keshi certificate, or the file was truncated")]
    Unsealed,
    /// A structural error: what is wrong.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// A statement format this build does not know.
    #[error("unsupported certificate statement version {0} (this build reads version {STATEMENT_VERSION})")]
    UnsupportedVersion(u32),
    /// The statement's signature does not verify under the platform key.
    #[error("the certificate's signature does not verify under this platform key: the statement was forged or altered")]
    BadSignature,
    /// The statement names, and is signed by, another key than the one given.
    #[error("the certificate is signed by another platform key ({named}), not by this platform's: forged, or issued by another platform")]
    OtherPlatformKey {
        /// The key the statement names (hex).
        named: String,
    },
    /// The signature verifies under the given key but the statement names another
    /// key.
    #[error("the statement names another platform key ({named}) than the one that signed it")]
    KeyMismatch {
        /// The key the statement names (hex).
        named: String,
    },
    /// Bytes of an issued PDF were changed after it was sealed.
    #[error("the PDF was altered after issue: {part}")]
    Altered {
        /// Which part.
        part: AlteredPart,
    },
}

impl CertError {
    /// A stable snake_case code of the failure (for `--json` output and callers
    /// that must not match on English text).
    pub fn code(&self) -> &'static str {
        match self {
            CertError::InvalidPlatformKey(_) => "invalid_platform_key",
            CertError::NotKeshi => "not_keshi",
            CertError::NotPdf => "not_pdf",
            CertError::Unsealed => "unsealed",
            CertError::Malformed(_) => "malformed",
            CertError::UnsupportedVersion(_) => "unsupported_version",
            CertError::BadSignature => "bad_signature",
            CertError::OtherPlatformKey { .. } => "other_platform_key",
            CertError::KeyMismatch { .. } => "key_mismatch",
            CertError::Altered { .. } => "altered",
        }
    }
}

fn malformed(what: impl Into<String>) -> CertError {
    CertError::Malformed(what.into())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_text(field: &str, value: &str, may_be_empty: bool) -> Result<(), CertError> {
    if value.is_empty() && !may_be_empty {
        return Err(malformed(format!("{field} is empty")));
    }
    if value.chars().count() > TEXT_MAX {
        return Err(malformed(format!(
            "{field} is longer than {TEXT_MAX} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(malformed(format!("{field} contains a control character")));
    }
    if value.trim() != value {
        return Err(malformed(format!(
            "{field} starts or ends with white space"
        )));
    }
    Ok(())
}

/// Whether `date` is a calendar date written `YYYY-MM-DD`.
fn is_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

impl CertificateStatement {
    /// Checks every value (R-AS-6: what a platform may sign): version, serial
    /// spelling, text fields non-empty (but `level`), at most [`TEXT_MAX`]
    /// characters, no control characters or surrounding white space; score at most
    /// 100; hashes and key as 64 lowercase hex digits; a real `YYYY-MM-DD` date.
    pub fn validate(&self) -> Result<(), CertError> {
        if self.v != STATEMENT_VERSION {
            return Err(CertError::UnsupportedVersion(self.v));
        }
        let serial_ok = !self.serial.is_empty()
            && self.serial.len() <= SERIAL_MAX
            && !self.serial.starts_with('.')
            && self
                .serial
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !serial_ok {
            return Err(malformed(format!(
                "serial must be 1 to {SERIAL_MAX} ASCII letters, digits, '-', '_' or '.'"
            )));
        }
        check_text("learner", &self.learner, false)?;
        check_text("name", &self.name, false)?;
        check_text("id_number_masked", &self.id_number_masked, false)?;
        check_text("institution", &self.institution, false)?;
        check_text("course_id", &self.course_id, false)?;
        check_text("course_title", &self.course_title, false)?;
        check_text("level", &self.level, true)?;
        if self.score > 100 {
            return Err(malformed(format!("score {} is above 100", self.score)));
        }
        for (field, value) in [
            ("journal_head", &self.journal_head),
            ("checkpoint_root", &self.checkpoint_root),
            ("platform_key", &self.platform_key),
        ] {
            if !is_lower_hex(value, 64) {
                return Err(malformed(format!("{field} is not 64 lowercase hex digits")));
            }
        }
        if !is_date(&self.issued_date) {
            return Err(malformed(format!(
                "issued_date {:?} is not a date written YYYY-MM-DD",
                self.issued_date
            )));
        }
        Ok(())
    }
}

/// The statement's canonical JSON (serde_json of the struct, fields in declaration
/// order, no white space).
fn canonical_json(stmt: &CertificateStatement) -> Vec<u8> {
    // Strings and integers only: serialising cannot fail.
    serde_json::to_vec(stmt).unwrap_or_default()
}

/// The bytes the platform signs for a statement: [`STATEMENT_DOMAIN`]
/// (`b"keshi-certificate-v1\n"`) then its canonical JSON.
pub fn signing_bytes(stmt: &CertificateStatement) -> Vec<u8> {
    let json = canonical_json(stmt);
    let mut m = Vec::with_capacity(STATEMENT_DOMAIN.len() + json.len());
    m.extend_from_slice(STATEMENT_DOMAIN);
    m.extend_from_slice(&json);
    m
}

/// The QR text of a signed statement:
/// `KESHI-CERT1.<base64url-nopad(json)>.<base64url-nopad(signature)>`.
pub fn qr_text(stmt: &CertificateStatement, signature: &[u8; 64]) -> String {
    format!(
        "{QR_PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(canonical_json(stmt)),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Signs `stmt` with the platform key and returns its QR text. The statement must
/// be valid ([`CertificateStatement::validate`]) and name `signer`'s public key.
pub fn sign_statement(
    stmt: &CertificateStatement,
    signer: &dyn Signer,
) -> Result<String, CertError> {
    stmt.validate()?;
    let key = hex::encode(signer.public_key());
    if stmt.platform_key != key {
        return Err(CertError::KeyMismatch {
            named: stmt.platform_key.clone(),
        });
    }
    Ok(qr_text(stmt, &signer.sign(&signing_bytes(stmt))))
}

/// A QR text taken apart, nothing verified yet but its shape: the statement parsed
/// strictly (unknown fields refused, canonical JSON, valid values) and the
/// signature.
fn decode_qr(text: &str) -> Result<(CertificateStatement, [u8; 64]), CertError> {
    let rest = text.strip_prefix(QR_PREFIX).ok_or(CertError::NotKeshi)?;
    let mut parts = rest.split('.');
    let (Some(json_b64), Some(sig_b64), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(
            "expected KESHI-CERT1.<statement>.<signature> (two base64url parts)",
        ));
    };
    let json = URL_SAFE_NO_PAD
        .decode(json_b64)
        .map_err(|e| malformed(format!("the statement is not unpadded base64url: {e}")))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|e| malformed(format!("the signature is not unpadded base64url: {e}")))?;
    let sig = <[u8; 64]>::try_from(sig.as_slice())
        .map_err(|_| malformed(format!("the signature is {} bytes, not 64", sig.len())))?;
    // The version first, so a newer format is named as such, not as a schema error.
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version = serde_json::from_slice(&json)
        .map_err(|e| malformed(format!("the statement is not JSON with a version: {e}")))?;
    if version.v != STATEMENT_VERSION {
        return Err(CertError::UnsupportedVersion(version.v));
    }
    let stmt: CertificateStatement =
        serde_json::from_slice(&json).map_err(|e| malformed(format!("the statement: {e}")))?;
    if canonical_json(&stmt) != json {
        return Err(malformed(
            "the statement is not in canonical form (field order, spacing or escapes differ)",
        ));
    }
    stmt.validate()?;
    Ok((stmt, sig))
}

/// Checks a statement and its signature under `key` (the order every verifier
/// follows: signature first, then the key the statement names).
fn check_signed(
    stmt: &CertificateStatement,
    signature: &[u8; 64],
    key: &PublicKey,
) -> Result<(), CertError> {
    let msg = signing_bytes(stmt);
    let named = stmt.platform_key.clone();
    if !key.verify(&msg, signature) {
        let by_named = named != hex::encode(key.bytes())
            && hex::decode(&named)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| PublicKey::parse(&b).ok())
                .is_some_and(|k| k.verify(&msg, signature));
        return Err(if by_named {
            CertError::OtherPlatformKey { named }
        } else {
            CertError::BadSignature
        });
    }
    if named != hex::encode(key.bytes()) {
        return Err(CertError::KeyMismatch { named });
    }
    Ok(())
}

/// Verifies a certificate's QR text under the platform's public key and returns
/// its statement (R-AS-6). Surrounding white space (a scanner's newline) is
/// ignored. Errors name what failed: [`CertError::NotKeshi`], `Malformed`,
/// `UnsupportedVersion`, `BadSignature` (forged or altered), `OtherPlatformKey`
/// (signed by the key the statement names, not this one), `KeyMismatch`.
pub fn verify_qr(text: &str, platform_key: &[u8; 32]) -> Result<CertificateStatement, CertError> {
    let key = PublicKey::parse(platform_key).map_err(CertError::InvalidPlatformKey)?;
    let (stmt, sig) = decode_qr(text.trim())?;
    check_signed(&stmt, &sig, &key)?;
    Ok(stmt)
}

/// The seal's signed bytes: [`PDF_SEAL_DOMAIN`] then every byte before the seal
/// line.
fn seal_message(sealed: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(PDF_SEAL_DOMAIN.len() + sealed.len());
    m.extend_from_slice(PDF_SEAL_DOMAIN);
    m.extend_from_slice(sealed);
    m
}

/// The final `startxref` of a PDF: where the keyword starts and the offset it
/// gives, if the file ends `startxref <offset> %%EOF` (white space around).
fn final_startxref(pdf: &[u8]) -> Option<(usize, &[u8])> {
    const KEYWORD: &[u8] = b"startxref";
    let rest = pdf.trim_ascii_end().strip_suffix(b"%%EOF")?;
    let at = rest.windows(KEYWORD.len()).rposition(|w| w == KEYWORD)?;
    let offset = rest[at + KEYWORD.len()..].trim_ascii();
    let line_start = at > 0 && matches!(pdf[at - 1], b'\n' | b'\r');
    let digits = !offset.is_empty() && offset.len() <= 20 && offset.iter().all(u8::is_ascii_digit);
    (line_start && digits).then_some((at, offset))
}

/// Seals a rendered PDF (R-AS-6): its final `startxref … %%EOF` is rewritten after
/// a `%KESHI-CERT <qr_text>` line (see the module docs), then
/// `%KESHI-SEAL <hex signature>\n` signed by `signer` over every byte before it is
/// appended. The document's objects and cross-reference table are untouched (the
/// offset `startxref` gives stays right). Fails when the PDF does not end with
/// `startxref <offset> %%EOF` or `qr_text` is not one line of text.
pub fn seal_pdf(pdf: &[u8], qr_text: &str, signer: &dyn Signer) -> Result<Vec<u8>, CertError> {
    let (at, offset) = final_startxref(pdf)
        .ok_or_else(|| malformed("the PDF does not end with startxref <offset> %%EOF"))?;
    if qr_text.is_empty() || qr_text.chars().any(char::is_control) {
        return Err(malformed("the QR text is not one line of text"));
    }
    let mut out = Vec::with_capacity(at + qr_text.len() + 220);
    out.extend_from_slice(&pdf[..at]);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(PDF_CERT_LINE);
    out.extend_from_slice(qr_text.as_bytes());
    out.extend_from_slice(b"\nstartxref\n");
    out.extend_from_slice(offset);
    out.extend_from_slice(b"\n%%EOF\n");
    let signature = signer.sign(&seal_message(&out));
    out.extend_from_slice(PDF_SEAL_LINE);
    out.extend_from_slice(hex::encode(signature).as_bytes());
    out.push(b'\n');
    Ok(out)
}

/// The seal line of a sealed PDF: where it starts and its signature text.
fn seal_line(bytes: &[u8]) -> Result<(usize, &[u8]), CertError> {
    let body = bytes.strip_suffix(b"\n").ok_or(CertError::Unsealed)?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let hex = body[start..]
        .strip_prefix(PDF_SEAL_LINE)
        .ok_or(CertError::Unsealed)?;
    Ok((start, hex))
}

/// The last `%KESHI-CERT` line of the sealed bytes: its start and its text (without
/// the newline).
fn cert_line(sealed: &[u8]) -> Option<(usize, &[u8])> {
    let mut needle = vec![b'\n'];
    needle.extend_from_slice(PDF_CERT_LINE);
    let start = sealed.windows(needle.len()).rposition(|w| w == needle)? + 1;
    let len = sealed[start..].iter().position(|&b| b == b'\n')?;
    Some((start, &sealed[start..start + len]))
}

/// The statement of a certificate line (`%KESHI-CERT <qr text>`).
fn cert_line_statement(line: &[u8]) -> Result<(CertificateStatement, [u8; 64]), CertError> {
    let text = line
        .strip_prefix(PDF_CERT_LINE)
        .ok_or_else(|| malformed("no %KESHI-CERT line"))?;
    let text =
        std::str::from_utf8(text).map_err(|_| malformed("the certificate line is not UTF-8"))?;
    decode_qr(text)
}

/// Verifies an issued certificate PDF under the platform's public key and returns
/// its statement (R-AS-6). The seal is checked first: a byte changed anywhere
/// before it is [`CertError::Altered`] naming the part; a file without the seal at
/// its end is `Unsealed` (truncated, or never issued); a PDF sealed by the key its
/// statement names, not by `platform_key`, is `OtherPlatformKey`. Then the layout
/// ([`seal_pdf`]) and the statement, as [`verify_qr`].
pub fn verify_pdf(
    bytes: &[u8],
    platform_key: &[u8; 32],
) -> Result<CertificateStatement, CertError> {
    let key = PublicKey::parse(platform_key).map_err(CertError::InvalidPlatformKey)?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(CertError::NotPdf);
    }
    let (seal_start, seal_hex) = seal_line(bytes)?;
    let sealed = &bytes[..seal_start];
    let seal_sig = std::str::from_utf8(seal_hex)
        .ok()
        .filter(|s| is_lower_hex(s, 128))
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok());
    let Some(seal_sig) = seal_sig else {
        return Err(CertError::Altered {
            part: AlteredPart::Seal,
        });
    };
    let msg = seal_message(sealed);
    if !key.verify(&msg, &seal_sig) {
        return Err(diagnose(sealed, &msg, &seal_sig, &key));
    }
    // Sealed by this platform: the layout is the one seal_pdf writes.
    let (cert_start, line) = cert_line(sealed).ok_or_else(|| malformed("no %KESHI-CERT line"))?;
    let tail = &sealed[cert_start + line.len() + 1..];
    let offset = tail
        .strip_prefix(b"startxref\n")
        .and_then(|t| t.strip_suffix(b"\n%%EOF\n"))
        .filter(|o| !o.is_empty() && o.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| {
            malformed("the certificate line is not followed by startxref <offset> %%EOF")
        })?;
    let points_inside = std::str::from_utf8(offset)
        .ok()
        .and_then(|o| o.parse::<usize>().ok())
        .is_some_and(|o| o < cert_start);
    if !points_inside {
        return Err(malformed("startxref points past the document"));
    }
    let (stmt, sig) = cert_line_statement(line)?;
    check_signed(&stmt, &sig, &key)?;
    Ok(stmt)
}

/// Why a seal does not verify under `key`: the PDF was sealed by the key its
/// statement names (another platform, or a forger's own key), or a part changed.
fn diagnose(sealed: &[u8], msg: &[u8], seal_sig: &[u8; 64], key: &PublicKey) -> CertError {
    let line_changed = CertError::Altered {
        part: AlteredPart::CertificateLine,
    };
    let Some(Ok((stmt, sig))) = cert_line(sealed).map(|(_, line)| cert_line_statement(line)) else {
        return line_changed;
    };
    if check_signed(&stmt, &sig, key).is_ok() {
        // The statement is this platform's, unchanged: other bytes changed (or the
        // seal's signature did).
        return CertError::Altered {
            part: AlteredPart::Document,
        };
    }
    let named = hex::decode(&stmt.platform_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| PublicKey::parse(&b).ok());
    match named {
        Some(k) if k != *key && k.verify(msg, seal_sig) => CertError::OtherPlatformKey {
            named: stmt.platform_key,
        },
        _ => line_changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    struct Key(Ed25519KeyPair);

    impl Signer for Key {
        fn public_key(&self) -> [u8; 32] {
            self.0.public_key().as_ref().try_into().unwrap()
        }
        fn sign(&self, msg: &[u8]) -> [u8; 64] {
            self.0.sign(msg).as_ref().try_into().unwrap()
        }
    }

    fn key(seed: u8) -> Key {
        Key(Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap())
    }

    fn statement(platform: &Key) -> CertificateStatement {
        CertificateStatement {
            v: 1,
            serial: "KC-2026-000001".into(),
            learner: "zhangsan".into(),
            name: "张三".into(),
            id_number_masked: "110105********002X".into(),
            institution: "太原市职业技能培训中心".into(),
            course_id: "demo-safety".into(),
            course_title: "安全生产基础".into(),
            level: "初级".into(),
            class_hours: 16,
            credited_seconds: 43_200,
            score: 92,
            journal_head: "ab".repeat(32),
            checkpoint_size: 1234,
            checkpoint_root: "cd".repeat(32),
            issued_date: "2026-12-01".into(),
            platform_key: hex::encode(platform.public_key()),
        }
    }

    /// A small stand-in for a rendered PDF (the real one is tested in the platform).
    fn fake_pdf() -> Vec<u8> {
        let mut pdf =
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        pdf.extend_from_slice(b"trailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF");
        pdf
    }

    fn issued(platform: &Key, stmt: &CertificateStatement) -> Vec<u8> {
        let qr = sign_statement(stmt, platform).unwrap();
        seal_pdf(&fake_pdf(), &qr, platform).unwrap()
    }

    fn pk(k: &Key) -> [u8; 32] {
        k.public_key()
    }

    /// The signed bytes are the domain line and the canonical JSON, in this exact
    /// field order (a change here breaks every issued certificate).
    #[test]
    fn signing_bytes_are_pinned() {
        let p = key(1);
        let bytes = signing_bytes(&statement(&p));
        let text = String::from_utf8(bytes).unwrap();
        let expected = format!(
            "keshi-certificate-v1\n{{\"v\":1,\"serial\":\"KC-2026-000001\",\"learner\":\"zhangsan\",\
             \"name\":\"张三\",\"id_number_masked\":\"110105********002X\",\
             \"institution\":\"太原市职业技能培训中心\",\"course_id\":\"demo-safety\",\
             \"course_title\":\"安全生产基础\",\"level\":\"初级\",\"class_hours\":16,\
             \"credited_seconds\":43200,\"score\":92,\"journal_head\":\"{}\",\
             \"checkpoint_size\":1234,\"checkpoint_root\":\"{}\",\"issued_date\":\"2026-12-01\",\
             \"platform_key\":\"{}\"}}",
            "ab".repeat(32),
            "cd".repeat(32),
            hex::encode(p.public_key())
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn a_signed_statement_verifies_from_its_qr_text() {
        let p = key(1);
        let stmt = statement(&p);
        let qr = sign_statement(&stmt, &p).unwrap();
        assert!(qr.starts_with("KESHI-CERT1."));
        assert_eq!(qr.matches('.').count(), 2);
        assert_eq!(verify_qr(&qr, &pk(&p)).unwrap(), stmt);
        // A scanner's trailing newline is not part of the text.
        assert_eq!(verify_qr(&format!("{qr}\r\n"), &pk(&p)).unwrap(), stmt);
    }

    #[test]
    fn qr_refusals_name_what_failed() {
        let p = key(1);
        let other = key(2);
        let stmt = statement(&p);
        let qr = sign_statement(&stmt, &p).unwrap();
        let (json_b64, sig_b64) = qr[QR_PREFIX.len()..].split_once('.').unwrap();
        let e = |t: &str| verify_qr(t, &pk(&p)).unwrap_err();

        assert_eq!(e("hello"), CertError::NotKeshi);
        assert_eq!(e(""), CertError::NotKeshi);
        assert_eq!(e(&qr.replacen("CERT1", "CERT2", 1)), CertError::NotKeshi);
        assert_eq!(e(&format!("{QR_PREFIX}{json_b64}")).code(), "malformed");
        assert_eq!(e(&format!("{qr}.x")).code(), "malformed");
        assert_eq!(
            e(&format!("{QR_PREFIX}{json_b64}=.{sig_b64}")).code(),
            "malformed"
        );
        assert_eq!(
            e(&format!("{QR_PREFIX}{json_b64}.{}", &sig_b64[..80])).code(),
            "malformed"
        );
        assert_eq!(
            e(&format!("{QR_PREFIX}{json_b64}.{sig_b64}AA")).code(),
            "malformed"
        );

        // The JSON re-encoded: unknown field, another spelling, a newer version.
        let json = URL_SAFE_NO_PAD.decode(json_b64).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let reencode = |j: &[u8]| format!("{QR_PREFIX}{}.{sig_b64}", URL_SAFE_NO_PAD.encode(j));
        value["extra"] = serde_json::json!(1);
        let err = e(&reencode(&serde_json::to_vec(&value).unwrap()));
        assert!(err.to_string().contains("unknown field"), "{err}");
        let pretty = serde_json::to_vec_pretty(&stmt).unwrap();
        assert!(e(&reencode(&pretty)).to_string().contains("canonical"));
        let mut v2 = stmt.clone();
        v2.v = 2;
        assert_eq!(
            e(&reencode(&serde_json::to_vec(&v2).unwrap())),
            CertError::UnsupportedVersion(2)
        );

        // A value changed, signature kept: forged or altered.
        let mut more = stmt.clone();
        more.score = 100;
        assert_eq!(
            e(&reencode(&serde_json::to_vec(&more).unwrap())),
            CertError::BadSignature
        );
        // Signed by a forger's key, naming the real platform key.
        let forged = qr_text(&stmt, &other.sign(&signing_bytes(&stmt)));
        assert_eq!(e(&forged), CertError::BadSignature);
        // Re-signed under another key that the statement names.
        let mut theirs = stmt.clone();
        theirs.platform_key = hex::encode(other.public_key());
        let resigned = sign_statement(&theirs, &other).unwrap();
        assert_eq!(
            e(&resigned),
            CertError::OtherPlatformKey {
                named: theirs.platform_key.clone()
            }
        );
        assert_eq!(verify_qr(&resigned, &pk(&other)).unwrap(), theirs);
        // Signed by this platform, naming another key.
        let mismatched = qr_text(&theirs, &p.sign(&signing_bytes(&theirs)));
        assert_eq!(
            e(&mismatched),
            CertError::KeyMismatch {
                named: theirs.platform_key.clone()
            }
        );
        // Checked under the wrong key: signed by the key it names, not this one.
        assert_eq!(
            verify_qr(&qr, &pk(&other)).unwrap_err(),
            CertError::OtherPlatformKey {
                named: stmt.platform_key.clone()
            }
        );
        // A key no signature can be checked under.
        assert_eq!(
            verify_qr(&qr, &[0; 32]).unwrap_err().code(),
            "invalid_platform_key"
        );
    }

    #[test]
    fn every_edited_character_of_the_qr_text_is_refused() {
        let p = key(1);
        let qr = sign_statement(&statement(&p), &p).unwrap();
        for i in 0..qr.len() {
            for c in ['A', 'z', '0', '-', '_', '.', ' '] {
                if qr.as_bytes()[i] == c as u8 {
                    continue;
                }
                let mut t = qr.clone().into_bytes();
                t[i] = c as u8;
                let t = String::from_utf8(t).unwrap();
                // Trailing white space is trimmed: only an edit inside counts.
                if t.trim() != t && t.trim() == qr.as_str() {
                    continue;
                }
                assert!(
                    verify_qr(&t, &pk(&p)).is_err(),
                    "edit at {i} to {c:?} accepted"
                );
            }
        }
    }

    #[test]
    fn statements_with_bad_values_are_not_signed() {
        let p = key(1);
        type Edit = Box<dyn Fn(&mut CertificateStatement)>;
        let bad: Vec<(&str, Edit)> = vec![
            ("serial", Box::new(|s| s.serial = "a/b".into())),
            ("serial", Box::new(|s| s.serial = String::new())),
            ("serial", Box::new(|s| s.serial = "x".repeat(65))),
            ("name", Box::new(|s| s.name = String::new())),
            ("name", Box::new(|s| s.name = " 张三".into())),
            ("course_title", Box::new(|s| s.course_title = "a\nb".into())),
            (
                "institution",
                Box::new(|s| s.institution = "长".repeat(201)),
            ),
            ("score", Box::new(|s| s.score = 101)),
            (
                "journal_head",
                Box::new(|s| s.journal_head = "AB".repeat(32)),
            ),
            (
                "checkpoint_root",
                Box::new(|s| s.checkpoint_root = "cd".repeat(31)),
            ),
            (
                "issued_date",
                Box::new(|s| s.issued_date = "2026-02-29".into()),
            ),
            (
                "issued_date",
                Box::new(|s| s.issued_date = "2026-12-1".into()),
            ),
            (
                "issued_date",
                Box::new(|s| s.issued_date = "2026-13-01".into()),
            ),
        ];
        for (field, edit) in bad {
            let mut s = statement(&p);
            edit(&mut s);
            let err = sign_statement(&s, &p).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let mut s = statement(&p);
        s.level = String::new();
        s.issued_date = "2028-02-29".into();
        assert!(sign_statement(&s, &p).is_ok());
        s.issued_date = "2100-02-29".into();
        assert!(sign_statement(&s, &p).is_err());
        s.issued_date = "2000-02-29".into();
        assert!(sign_statement(&s, &p).is_ok());
        // Issuing needs the key the statement names.
        assert_eq!(
            sign_statement(&statement(&key(2)), &p).unwrap_err().code(),
            "key_mismatch"
        );
    }

    #[test]
    fn a_sealed_pdf_verifies_with_its_trailer_in_reach() {
        let p = key(1);
        let stmt = statement(&p);
        let pdf = issued(&p, &stmt);
        assert_eq!(verify_pdf(&pdf, &pk(&p)).unwrap(), stmt);
        let text = String::from_utf8_lossy(&pdf);
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        assert!(lines[0].starts_with("%KESHI-SEAL ") && lines[0].len() == 12 + 128);
        assert_eq!(lines[1..4], ["%%EOF", "9", "startxref"]);
        assert!(lines[4].starts_with("%KESHI-CERT KESHI-CERT1."));
        // The QR text in the PDF is the certificate's QR text.
        assert_eq!(verify_qr(&lines[4][12..], &pk(&p)).unwrap(), stmt);
        // The document before its startxref is unchanged.
        let pos = fake_pdf()
            .windows(9)
            .rposition(|w| w == b"startxref")
            .unwrap();
        assert_eq!(pdf[..pos], fake_pdf()[..pos]);
        // The seal line and startxref are within the last 1024 bytes (readers look
        // there).
        assert!(pdf.len() - text.rfind("startxref").unwrap() < 200);
    }

    /// The expected refusal of a PDF with byte `i` changed.
    fn assert_tamper_refused(pdf: &[u8], p: &Key, i: usize, mask: u8) {
        let find = |needle: &[u8]| {
            pdf.windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
        };
        let cert_start = find(b"\n%KESHI-CERT ") + 1;
        let tail_start = find(b"\nstartxref\n") + 1;
        let seal_start = find(b"\n%KESHI-SEAL ") + 1;
        let mut bad = pdf.to_vec();
        bad[i] ^= mask;
        let err = verify_pdf(&bad, &pk(p)).unwrap_err();
        let ok = match err {
            CertError::NotPdf => i < 5,
            CertError::Altered {
                part: AlteredPart::Document,
            } => i + 1 < cert_start || (tail_start..seal_start - 1).contains(&i) || i >= seal_start,
            // The line, the newline that starts it, or a newline put into it.
            CertError::Altered {
                part: AlteredPart::CertificateLine,
            } => i + 1 >= cert_start && i < tail_start,
            CertError::Altered {
                part: AlteredPart::Seal,
            } => i >= seal_start,
            // The seal line's prefix, its newlines, or a newline put into it: no
            // seal line at the end.
            CertError::Unsealed => i + 1 >= seal_start,
            _ => false,
        };
        assert!(
            ok,
            "byte {i} ^ {mask:#04x}: unexpected {err:?} (certificate line at {cert_start}, \
             startxref at {tail_start}, seal at {seal_start})"
        );
    }

    #[test]
    fn every_byte_of_a_sealed_pdf_is_covered() {
        let p = key(1);
        let pdf = issued(&p, &statement(&p));
        for i in 0..pdf.len() {
            for mask in [0x01, 0x80, 0xff] {
                assert_tamper_refused(&pdf, &p, i, mask);
            }
        }
    }

    #[test]
    fn a_truncated_pdf_is_unsealed() {
        let p = key(1);
        let pdf = issued(&p, &statement(&p));
        for len in 0..pdf.len() {
            let err = verify_pdf(&pdf[..len], &pk(&p)).unwrap_err();
            let expected = if len < 5 {
                CertError::NotPdf
            } else {
                CertError::Unsealed
            };
            assert_eq!(err, expected, "truncated to {len}");
        }
        // Something appended after the seal: the seal is no longer at the end.
        let mut longer = pdf.clone();
        longer.extend_from_slice(b"%more\n");
        assert_eq!(
            verify_pdf(&longer, &pk(&p)).unwrap_err(),
            CertError::Unsealed
        );
    }

    #[test]
    fn forged_and_foreign_pdfs_are_named() {
        let p = key(1);
        let forger = key(2);
        let stmt = statement(&p);
        // The real statement, a document sealed by the forger's key.
        let qr = sign_statement(&stmt, &p).unwrap();
        let resealed = seal_pdf(&fake_pdf(), &qr, &forger).unwrap();
        assert_eq!(
            verify_pdf(&resealed, &pk(&p)).unwrap_err(),
            CertError::Altered {
                part: AlteredPart::Document
            }
        );
        // A statement re-signed and sealed under the forger's key, naming it.
        let mut theirs = stmt.clone();
        theirs.platform_key = hex::encode(forger.public_key());
        let foreign = issued(&forger, &theirs);
        assert_eq!(
            verify_pdf(&foreign, &pk(&p)).unwrap_err(),
            CertError::OtherPlatformKey {
                named: theirs.platform_key.clone()
            }
        );
        assert_eq!(verify_pdf(&foreign, &pk(&forger)).unwrap(), theirs);
        // A forger's statement naming the real key, sealed by the forger.
        let forged_qr = qr_text(&stmt, &forger.sign(&signing_bytes(&stmt)));
        let forged = seal_pdf(&fake_pdf(), &forged_qr, &forger).unwrap();
        assert_eq!(verify_pdf(&forged, &pk(&p)).unwrap_err().code(), "altered");
        // The real certificate under the wrong key.
        let real = issued(&p, &stmt);
        assert_eq!(
            verify_pdf(&real, &pk(&forger)).unwrap_err(),
            CertError::OtherPlatformKey {
                named: stmt.platform_key.clone()
            }
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let p = key(1);
        assert_eq!(verify_pdf(b"", &pk(&p)).unwrap_err(), CertError::NotPdf);
        assert_eq!(
            verify_pdf(b"hello\n", &pk(&p)).unwrap_err(),
            CertError::NotPdf
        );
        assert_eq!(
            verify_pdf(&fake_pdf(), &pk(&p)).unwrap_err(),
            CertError::Unsealed
        );
        assert_eq!(
            verify_pdf(b"%PDF-1.7\n%KESHI-SEAL 00\n", &pk(&p))
                .unwrap_err()
                .code(),
            "altered"
        );
        let seal = format!("%PDF-1.7\n%KESHI-SEAL {}\n", "0".repeat(128));
        assert_eq!(
            verify_pdf(seal.as_bytes(), &pk(&p)).unwrap_err().code(),
            "altered"
        );
        // Only a PDF that ends with startxref and %%EOF is sealed.
        let qr = sign_statement(&statement(&p), &p).unwrap();
        assert_eq!(
            seal_pdf(b"%PDF-1.7\n", &qr, &p).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            seal_pdf(&fake_pdf(), "a\nb", &p).unwrap_err().code(),
            "malformed"
        );
        // Sealed by the platform key, but not laid out as seal_pdf does.
        let mut odd = format!("%PDF-1.7\n%KESHI-CERT {qr}\n%%EOF\n").into_bytes();
        let sig = p.sign(&seal_message(&odd));
        odd.extend_from_slice(format!("%KESHI-SEAL {}\n", hex::encode(sig)).as_bytes());
        let err = verify_pdf(&odd, &pk(&p)).unwrap_err();
        assert!(err.to_string().contains("startxref"), "{err}");
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9张三李四王五职业技能培训安全生产（）·]{1,40}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any valid statement round-trips through its QR text and its sealed PDF;
        /// any single changed byte of the PDF is refused.
        #[test]
        fn any_statement_round_trips_and_any_edit_is_refused(
            name in text(), institution in text(), title in text(),
            hours in 0u32..1000, secs in 0u64..10_000_000, score in 0u32..=100,
            size in any::<u64>(), pos in any::<prop::sample::Index>(), mask in 1u8..=255,
        ) {
            let p = key(7);
            let mut stmt = statement(&p);
            stmt.name = name;
            stmt.institution = institution;
            stmt.course_title = title;
            stmt.class_hours = hours;
            stmt.credited_seconds = secs;
            stmt.score = score;
            stmt.checkpoint_size = size;
            let qr = sign_statement(&stmt, &p).unwrap();
            prop_assert_eq!(verify_qr(&qr, &pk(&p)).unwrap(), stmt.clone());
            let pdf = seal_pdf(&fake_pdf(), &qr, &p).unwrap();
            prop_assert_eq!(verify_pdf(&pdf, &pk(&p)).unwrap(), stmt);
            assert_tamper_refused(&pdf, &p, pos.index(pdf.len()), mask);
        }
    }
}
