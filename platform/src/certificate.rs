//! The certificate PDF (培训合格证明, R-AS-2, R-AS-6): one A4 page in Simplified
//! Chinese with English beside it, signed and sealed by the platform key.
//!
//! - [`render`] draws the page with krilla (a PDF library: the CJK font is subset
//!   and embedded, so the PDF shows the same everywhere): title, the learner's
//!   name and masked ID number, institution, course, level, class hours, score,
//!   issue date, serial, the record checkpoint (size, root abbreviated) and the
//!   statement's QR code — drawn as vector rectangles from the `qrcode` crate's
//!   matrix — captioned 扫码验证 / scan to verify.
//! - [`issue`] signs the statement ([`keshi_protocol::certificate::sign_statement`]),
//!   renders it and seals it: the `%KESHI-CERT` line before the final
//!   `startxref`, the `%KESHI-SEAL` line after `%%EOF`
//!   ([`keshi_protocol::certificate::seal_pdf`]); anyone holding the platform's
//!   public key checks it with [`keshi_protocol::certificate::verify_pdf`] (or
//!   `keshi verify-certificate`).
//! - [`bulk_zip`] / [`bulk_zip_to`]: many certificates as one ZIP ("bulk download").
//!
//! Architecture invariant: this module decides nothing. Who qualifies (all courses
//! completed, assessment at least 60 %, R-AS-2), the score, the serial and the
//! issue date come from the caller; the statement is validated
//! ([`CertificateStatement::validate`]) before anything is signed. Issuing is
//! deterministic: the same statement, font and key give the same bytes (Ed25519 is
//! deterministic, the PDF has no clock in it but the issue date).

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keshi_protocol::certificate::{seal_pdf, sign_statement, CertError, CertificateStatement};
use keshi_protocol::record::Signer;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use qrcode::{EcLevel, QrCode};
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

/// Where Debian's `fonts-wqy-microhei` puts WenQuanYi Micro Hei (a TrueType
/// collection; its first face is used). `scripts/deps.sh` installs the package.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
/// The Debian package of [`DEFAULT_FONT`], named in the error when it is missing.
pub const DEFAULT_FONT_PACKAGE: &str = "fonts-wqy-microhei";

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The font file does not exist.
    #[error("font file {} not found: install the Debian package {DEFAULT_FONT_PACKAGE} (apt-get install {DEFAULT_FONT_PACKAGE}) or give the path of another font with Chinese glyphs", path.display())]
    FontMissing {
        /// The path tried.
        path: PathBuf,
    },
    /// The font file could not be read.
    #[error("cannot read font file {}: {source}", path.display())]
    FontRead {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a font (or no face at that index).
    #[error("{} is not a TrueType/OpenType font with a face at index {index}", path.display())]
    FontInvalid {
        /// The path.
        path: PathBuf,
        /// The face index in a collection.
        index: u32,
    },
    /// A character the font cannot draw (it would print as an empty box).
    #[error("the font {} has no glyph for {ch:?} (U+{:04X}) in the {field}: use a font that covers it", font.display(), u32::from(*ch))]
    MissingGlyph {
        /// The character.
        ch: char,
        /// Which text: `name`, `course_title`, …
        field: &'static str,
        /// The font's path.
        font: PathBuf,
    },
    /// The statement cannot be signed (invalid value, or it names another key).
    #[error("certificate statement: {0}")]
    Statement(#[from] CertError),
    /// The QR text is too long for a QR code.
    #[error("the certificate's QR text ({len} bytes) does not fit in a QR code: {source}")]
    QrCode {
        /// Its length.
        len: usize,
        /// The encoder's reason.
        #[source]
        source: qrcode::types::QrError,
    },
    /// krilla could not write the PDF.
    #[error("writing the certificate PDF: {0}")]
    Pdf(String),
    /// A file name refused in a bulk ZIP.
    #[error("bulk download: {0}")]
    ZipName(String),
    /// Writing the ZIP failed.
    #[error("bulk download: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing a ZIP entry failed.
    #[error("bulk download: {0}")]
    Io(#[from] std::io::Error),
}

/// A font loaded for certificates: its bytes (shared, cheap to clone) and the face
/// krilla embeds. Load once, issue many.
#[derive(Clone)]
pub struct FontData {
    font: Font,
    bytes: Arc<Vec<u8>>,
    index: u32,
    path: PathBuf,
}

impl std::fmt::Debug for FontData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontData")
            .field("path", &self.path)
            .field("index", &self.index)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl FontData {
    /// Loads the first face of the font file at `path` ([`DEFAULT_FONT`] for the
    /// Debian package); a missing file is [`CertificateError::FontMissing`], naming
    /// the path and the package.
    pub fn load(path: impl AsRef<Path>) -> Result<FontData, CertificateError> {
        FontData::load_index(path, 0)
    }

    /// Loads face `index` of a font collection (`.ttc`) or font file.
    pub fn load_index(path: impl AsRef<Path>, index: u32) -> Result<FontData, CertificateError> {
        let path = path.as_ref().to_path_buf();
        let bytes = match std::fs::read(&path) {
            Ok(b) => Arc::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CertificateError::FontMissing { path })
            }
            Err(source) => return Err(CertificateError::FontRead { path, source }),
        };
        // skrifa reads it first: krilla's own parser assumes a font it accepted.
        let font = skrifa::FontRef::from_index(&bytes, index)
            .ok()
            .and_then(|_| Font::new(krilla::Data::from(bytes.clone()), index));
        let Some(font) = font else {
            return Err(CertificateError::FontInvalid { path, index });
        };
        Ok(FontData {
            font,
            bytes,
            index,
            path,
        })
    }

    /// The path it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn face(&self) -> Result<skrifa::FontRef<'_>, CertificateError> {
        skrifa::FontRef::from_index(&self.bytes, self.index).map_err(|_| {
            CertificateError::FontInvalid {
                path: self.path.clone(),
                index: self.index,
            }
        })
    }
}

/// The file name of a certificate's PDF: `<serial>.pdf` (serials are ASCII
/// letters, digits, `-`, `_`, `.`: safe as a file name).
pub fn file_name(stmt: &CertificateStatement) -> String {
    format!("{}.pdf", stmt.serial)
}

/// The platform key as the protocol's [`Signer`].
struct PlatformSigner<'a>(&'a ring::signature::Ed25519KeyPair);

impl Signer for PlatformSigner<'_> {
    fn public_key(&self) -> [u8; 32] {
        use ring::signature::KeyPair as _;
        let mut k = [0u8; 32];
        k.copy_from_slice(self.0.public_key().as_ref());
        k
    }
    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut s = [0u8; 64];
        s.copy_from_slice(self.0.sign(msg).as_ref());
        s
    }
}

/// Issues a certificate (R-AS-6): signs `stmt` with the platform key, renders the
/// PDF and seals it. The statement must be valid and name this key
/// (`platform_key`); the result verifies with
/// [`keshi_protocol::certificate::verify_pdf`] under the key's public half.
pub fn issue(
    key: &ring::signature::Ed25519KeyPair,
    stmt: &CertificateStatement,
    font: &FontData,
) -> Result<Vec<u8>, CertificateError> {
    let signer = PlatformSigner(key);
    let qr = sign_statement(stmt, &signer)?;
    let pdf = render(stmt, &qr, font)?;
    let sealed = seal_pdf(&pdf, &qr, &signer)?;
    tracing::debug!(serial = %stmt.serial, bytes = sealed.len(), "certificate issued");
    Ok(sealed)
}

// --- layout (points; krilla's origin is the top left, y grows downwards) ---

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 72.0;
const LABEL_X: f32 = MARGIN;
const VALUE_X: f32 = 200.0;
const ROW_H: f32 = 28.0;
const QR_SIZE: f32 = 170.0;
/// Modules of white around the QR code (the standard's quiet zone is 4).
const QR_QUIET: usize = 4;

const NAVY: (u8, u8, u8) = (24, 48, 96);
const INK: (u8, u8, u8) = (20, 20, 20);
const GREY: (u8, u8, u8) = (96, 96, 96);

/// A page being drawn: the surface, the font, and which statement field the text
/// comes from (for [`CertificateError::MissingGlyph`]).
struct Pen<'a, 'b> {
    surface: &'a mut Surface<'b>,
    font: &'a FontData,
}

impl Pen<'_, '_> {
    fn fill(&mut self, (r, g, b): (u8, u8, u8)) {
        self.surface.set_fill(Some(Fill {
            paint: rgb::Color::new(r, g, b).into(),
            opacity: NormalizedF32::ONE,
            rule: FillRule::NonZero,
        }));
    }

    /// Width of `text` at `size`, every character checked against the font.
    fn measure(&self, field: &'static str, text: &str, size: f32) -> Result<f32, CertificateError> {
        let face = self.font.face()?;
        let charmap = face.charmap();
        let metrics = face.glyph_metrics(Size::new(size), LocationRef::default());
        let mut width = 0.0;
        for ch in text.chars() {
            let glyph = charmap
                .map(ch)
                .ok_or_else(|| CertificateError::MissingGlyph {
                    ch,
                    field,
                    font: self.font.path.clone(),
                })?;
            width += metrics.advance_width(glyph).unwrap_or(size / 2.0);
        }
        Ok(width)
    }

    /// Draws `text` with its baseline at `y`, starting at `x`, shrunk (down to 60 %)
    /// to fit `max_width`.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        field: &'static str,
        text: &str,
        x: f32,
        y: f32,
        size: f32,
        max_width: f32,
        colour: (u8, u8, u8),
    ) -> Result<f32, CertificateError> {
        let width = self.measure(field, text, size)?;
        let size = if width > max_width {
            (size * max_width / width).max(size * 0.6)
        } else {
            size
        };
        self.fill(colour);
        self.surface.draw_text(
            Point::from_xy(x, y),
            self.font.font.clone(),
            size,
            text,
            false,
            TextDirection::LeftToRight,
        );
        Ok(width.min(max_width))
    }

    /// Draws `text` centred on the page.
    fn centred(
        &mut self,
        field: &'static str,
        text: &str,
        y: f32,
        size: f32,
        colour: (u8, u8, u8),
    ) -> Result<(), CertificateError> {
        let max = PAGE_W - 2.0 * MARGIN;
        let width = self.measure(field, text, size)?.min(max);
        self.text(field, text, (PAGE_W - width) / 2.0, y, size, max, colour)?;
        Ok(())
    }

    /// Draws text centred on `centre_x`.
    fn centred_at(
        &mut self,
        field: &'static str,
        text: &str,
        centre_x: f32,
        y: f32,
        size: f32,
        colour: (u8, u8, u8),
    ) -> Result<(), CertificateError> {
        let width = self.measure(field, text, size)?;
        self.text(field, text, centre_x - width / 2.0, y, size, width, colour)?;
        Ok(())
    }

    fn frame(&mut self, inset: f32, width: f32) {
        let Some(rect) = Rect::from_ltrb(inset, inset, PAGE_W - inset, PAGE_H - inset) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(rect);
        if let Some(path) = pb.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                paint: rgb::Color::new(NAVY.0, NAVY.1, NAVY.2).into(),
                width,
                ..Stroke::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    fn rule(&mut self, y: f32) {
        let Some(rect) = Rect::from_xywh(MARGIN, y, PAGE_W - 2.0 * MARGIN, 0.6) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(rect);
        if let Some(path) = pb.finish() {
            self.fill(NAVY);
            self.surface.draw_path(&path);
        }
    }

    /// The QR code at (`x`, `y`), `size` wide, quiet zone included: one filled path
    /// of the dark modules, a rectangle per horizontal run.
    fn qr(&mut self, code: &QrCode, x: f32, y: f32, size: f32) {
        let n = code.width();
        let module = size / (n + 2 * QR_QUIET) as f32;
        let colours = code.to_colors();
        let mut pb = PathBuilder::new();
        for row in 0..n {
            let mut col = 0;
            while col < n {
                if colours[row * n + col] != qrcode::Color::Dark {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < n && colours[row * n + col] == qrcode::Color::Dark {
                    col += 1;
                }
                if let Some(r) = Rect::from_xywh(
                    x + (start + QR_QUIET) as f32 * module,
                    y + (row + QR_QUIET) as f32 * module,
                    (col - start) as f32 * module,
                    module,
                ) {
                    pb.push_rect(r);
                }
            }
        }
        if let Some(path) = pb.finish() {
            self.fill((0, 0, 0));
            self.surface.draw_path(&path);
        }
    }
}

/// `abcdef12…34567890`: the first and last 8 hex digits of a hash.
fn abbreviate(hex: &str) -> String {
    if hex.len() <= 20 {
        return hex.to_owned();
    }
    format!("{}…{}", &hex[..8], &hex[hex.len() - 8..])
}

/// The QR code of `text`: error correction M (15 %) when it fits, else L.
fn qr_code(text: &str) -> Result<QrCode, CertificateError> {
    QrCode::with_error_correction_level(text, EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(text, EcLevel::L))
        .map_err(|source| CertificateError::QrCode {
            len: text.len(),
            source,
        })
}

/// Renders the certificate page of `stmt` with `qr_text` as its QR code (R-AS-6):
/// an unsigned, unsealed A4 PDF — [`issue`] signs and seals. The statement is
/// validated first; text the font cannot draw is an error, never an empty box.
pub fn render(
    stmt: &CertificateStatement,
    qr_text: &str,
    font: &FontData,
) -> Result<Vec<u8>, CertificateError> {
    stmt.validate()?;
    let code = qr_code(qr_text)?;

    let mut metadata = Metadata::new()
        .title(format!(
            "培训合格证明 Certificate of completion {}",
            stmt.serial
        ))
        .language("zh-CN".to_owned())
        .creator("Keshi".to_owned())
        .authors(vec![stmt.institution.clone()])
        .document_id(format!("keshi-certificate-{}", stmt.serial));
    if let Some(date) = issue_date(&stmt.issued_date) {
        metadata = metadata.creation_date(date);
    }
    let mut document = Document::new();
    document.set_metadata(metadata);
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| CertificateError::Pdf("A4 page size refused".into()))?;
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    let mut pen = Pen {
        surface: &mut surface,
        font,
    };
    draw(&mut pen, stmt, &code)?;
    surface.finish();
    page.finish();
    document
        .finish()
        .map_err(|e| CertificateError::Pdf(e.to_string()))
}

/// The issue date as PDF metadata (the statement's date was validated).
fn issue_date(date: &str) -> Option<DateTime> {
    let mut parts = date.split('-').map(str::parse::<u16>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(
        DateTime::new(y)
            .month(u8::try_from(m).ok()?)
            .day(u8::try_from(d).ok()?),
    )
}

fn draw(
    pen: &mut Pen<'_, '_>,
    s: &CertificateStatement,
    code: &QrCode,
) -> Result<(), CertificateError> {
    pen.frame(24.0, 2.0);
    pen.frame(30.0, 0.6);

    pen.centred("title", "培训合格证明", 112.0, 34.0, NAVY)?;
    pen.centred("title", "CERTIFICATE OF COMPLETION", 138.0, 13.0, NAVY)?;
    pen.rule(152.0);

    pen.centred(
        "text",
        "兹证明 · This is to certify that",
        186.0,
        11.0,
        GREY,
    )?;
    pen.centred("name", &s.name, 224.0, 28.0, INK)?;
    pen.centred(
        "id_number_masked",
        &format!("身份证号 ID number  {}", s.id_number_masked),
        248.0,
        10.5,
        GREY,
    )?;
    pen.centred(
        "text",
        "已完成下列职业技能培训课程的全部学时，考核合格。",
        282.0,
        13.0,
        INK,
    )?;
    pen.centred(
        "text",
        "has completed all class hours of the vocational training course below and passed its assessment.",
        299.0,
        9.5,
        GREY,
    )?;

    let hours = s.credited_seconds / 3600;
    let minutes = s.credited_seconds % 3600 / 60;
    let level = if s.level.is_empty() {
        "—"
    } else {
        s.level.as_str()
    };
    let rows: [(&str, &str, &'static str, String); 9] = [
        (
            "培训机构",
            "Institution",
            "institution",
            s.institution.clone(),
        ),
        ("培训课程", "Course", "course_title", s.course_title.clone()),
        ("课程编号", "Course ID", "course_id", s.course_id.clone()),
        ("等级", "Level", "level", level.to_owned()),
        (
            "学时",
            "Class hours",
            "class_hours",
            format!("{} 学时 / {} class hours", s.class_hours, s.class_hours),
        ),
        (
            "学习时长",
            "Credited study time",
            "credited_seconds",
            format!("{hours} 小时 {minutes} 分 / {hours} h {minutes} min"),
        ),
        (
            "考核成绩",
            "Score",
            "score",
            format!("{} 分 / {} out of 100", s.score, s.score),
        ),
        (
            "发证日期",
            "Date of issue",
            "issued_date",
            s.issued_date.clone(),
        ),
        ("证书编号", "Serial number", "serial", s.serial.clone()),
    ];
    let value_width = PAGE_W - MARGIN - VALUE_X;
    let mut y = 340.0;
    for (zh, en, field, value) in &rows {
        pen.text("label", zh, LABEL_X, y, 12.0, VALUE_X - LABEL_X - 8.0, INK)?;
        pen.text(
            "label",
            en,
            LABEL_X,
            y + 12.0,
            8.0,
            VALUE_X - LABEL_X - 8.0,
            GREY,
        )?;
        pen.text(field, value, VALUE_X, y, 12.5, value_width, INK)?;
        y += ROW_H;
    }
    pen.rule(y - 6.0);

    // The learning record and the key, left; the QR code, right.
    let qr_x = PAGE_W - MARGIN - QR_SIZE + 12.0;
    let qr_y = y + 8.0;
    pen.qr(code, qr_x, qr_y, QR_SIZE);
    pen.centred_at(
        "caption",
        "扫码验证 · scan to verify",
        qr_x + QR_SIZE / 2.0,
        qr_y + QR_SIZE + 10.0,
        10.0,
        NAVY,
    )?;

    let left_width = qr_x - MARGIN - 12.0;
    let mut ly = y + 30.0;
    let record = [
        ("学习记录 Learning record", "text", String::new()),
        (
            "检查点 checkpoint",
            "checkpoint_size",
            format!("{} 条记录 records", s.checkpoint_size),
        ),
        (
            "根哈希 root",
            "checkpoint_root",
            abbreviate(&s.checkpoint_root),
        ),
        (
            "记录链头 journal head",
            "journal_head",
            abbreviate(&s.journal_head),
        ),
        (
            "平台公钥 platform key",
            "platform_key",
            abbreviate(&s.platform_key),
        ),
        ("学员账号 learner", "learner", s.learner.clone()),
    ];
    for (i, (label, field, value)) in record.iter().enumerate() {
        if i == 0 {
            pen.text("label", label, MARGIN, ly, 11.0, left_width, NAVY)?;
            ly += 20.0;
            continue;
        }
        pen.text("label", label, MARGIN, ly, 8.5, 110.0, GREY)?;
        pen.text(
            field,
            value,
            MARGIN + 112.0,
            ly,
            8.5,
            left_width - 112.0,
            INK,
        )?;
        ly += 15.0;
    }
    ly += 10.0;
    pen.text(
        "text",
        "本证明由培训平台数字签名。扫描二维码，或运行",
        MARGIN,
        ly,
        8.5,
        left_width,
        GREY,
    )?;
    pen.text(
        "text",
        "keshi verify-certificate 文件 --platform-key 公钥 验证真伪。",
        MARGIN,
        ly + 13.0,
        8.5,
        left_width,
        GREY,
    )?;
    pen.text(
        "text",
        "Signed by the training platform: scan the code or run",
        MARGIN,
        ly + 28.0,
        8.0,
        left_width,
        GREY,
    )?;
    pen.text(
        "text",
        "keshi verify-certificate FILE --platform-key KEY to verify it.",
        MARGIN,
        ly + 40.0,
        8.0,
        left_width,
        GREY,
    )?;
    Ok(())
}

/// Many certificates as one ZIP in memory ("bulk download"): `(file name, PDF)`
/// pairs, see [`bulk_zip_to`].
pub fn bulk_zip<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, CertificateError> {
    Ok(bulk_zip_to(std::io::Cursor::new(Vec::new()), items)?.into_inner())
}

/// Writes `(file name, PDF)` pairs as a ZIP to `writer` and returns it. Names are
/// plain file names (no directories, `..`, control characters; at most 255 bytes)
/// and distinct; entries are stored uncompressed (a PDF's streams are already
/// compressed) with no timestamp of their own (1980-01-01), so the same
/// certificates give the same ZIP.
pub fn bulk_zip_to<'a, W: Write + Seek>(
    writer: W,
    items: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<W, CertificateError> {
    let mut zip = BulkZip::new(writer);
    for (name, pdf) in items {
        zip.add(name, pdf)?;
    }
    zip.finish()
}

/// A bulk download written one certificate at a time (as each is rendered), so a
/// class of any size takes the memory of one PDF: see [`bulk_zip_to`] for names
/// and entries.
pub struct BulkZip<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
    seen: std::collections::HashSet<String>,
}

impl<W: Write + Seek> std::fmt::Debug for BulkZip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkZip")
            .field("entries", &self.seen.len())
            .finish()
    }
}

impl<W: Write + Seek> BulkZip<W> {
    /// Starts a ZIP on `writer`.
    pub fn new(writer: W) -> BulkZip<W> {
        BulkZip {
            zip: zip::ZipWriter::new(writer),
            seen: std::collections::HashSet::new(),
        }
    }

    /// Adds one PDF as `name`.
    pub fn add(&mut self, name: &str, pdf: &[u8]) -> Result<(), CertificateError> {
        let bad = name.is_empty()
            || name.len() > 255
            || name == "."
            || name == ".."
            || name
                .chars()
                .any(|c| c.is_control() || matches!(c, '/' | '\\' | ':'));
        if bad {
            return Err(CertificateError::ZipName(format!(
                "{name:?} is not a plain file name"
            )));
        }
        if !self.seen.insert(name.to_owned()) {
            return Err(CertificateError::ZipName(format!("{name:?} twice")));
        }
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        self.zip.start_file(name, options)?;
        self.zip.write_all(pdf)?;
        Ok(())
    }

    /// Entries so far.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// No entries yet.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Writes the central directory; returns the writer.
    pub fn finish(self) -> Result<W, CertificateError> {
        Ok(self.zip.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_abbreviated_at_both_ends() {
        assert_eq!(abbreviate(&"ab".repeat(32)), "abababab…abababab");
        assert_eq!(abbreviate("abc"), "abc");
    }

    #[test]
    fn a_missing_font_names_the_path_and_the_package() {
        let err = FontData::load("/nonexistent/wqy.ttc").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CertificateError::FontMissing { .. }));
        assert!(
            msg.contains("/nonexistent/wqy.ttc") && msg.contains("fonts-wqy-microhei"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_no_font_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ttf");
        std::fs::write(&p, b"not a font").unwrap();
        assert!(matches!(
            FontData::load(&p).unwrap_err(),
            CertificateError::FontInvalid { index: 0, .. }
        ));
    }

    #[test]
    fn issue_dates_become_pdf_dates() {
        assert!(issue_date("2026-12-01").is_some());
        assert!(issue_date("2026-12").is_none());
    }

    #[test]
    fn bulk_zip_refuses_paths_and_duplicates() {
        let pdf: &[u8] = b"%PDF-1.7";
        for bad in ["", "..", "a/b.pdf", "..\\x.pdf", "c:x.pdf", "a\nb.pdf"] {
            assert!(bulk_zip([(bad, pdf)]).is_err(), "{bad:?}");
        }
        assert!(bulk_zip([("a.pdf", pdf), ("a.pdf", pdf)]).is_err());
        let zip = bulk_zip([("a.pdf", pdf), ("b.pdf", pdf)]).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 2);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name("b.pdf").unwrap(), &mut out).unwrap();
        assert_eq!(out, pdf);
    }
}
