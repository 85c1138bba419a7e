//! Exports (issue 13, R-AS-6, R-SV-2): learners, hours, attendance, course-farming
//! findings and the settlement, as CSV or XLSX, within a scope, streamed in
//! constant memory however many rows there are.
//!
//! One producer reads the database as a stream of rows (never the whole answer in
//! memory) and hands them through a bounded channel to one writer on a blocking
//! thread: CSV straight to its sink (a file, or an HTTP body in 64 KiB chunks),
//! XLSX through `rust_xlsxwriter`'s constant-memory worksheets (rows go to a
//! temporary file as they come) to a file. The channel's bound is the memory
//! bound: a slow reader slows the database read, it does not fill memory.
//!
//! - ID numbers are decrypted and masked (R-ID-1): no export carries one whole.
//! - A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
//!   carriage return first) is written with a leading `'` in CSV; XLSX cells are
//!   typed strings, never formulas.
//! - CSV starts with a UTF-8 byte-order mark, so spreadsheet programs read the
//!   Chinese text as UTF-8.
//! - An XLSX sheet holds 1,048,576 rows: larger exports continue on further sheets,
//!   each with its header.
//! - Hours and attendance read the summary table (`course_results`) the service's
//!   jobs fill (`results.rs`); each row says when it was computed.

use std::io::Write;
use std::sync::Arc;

use futures_util::TryStreamExt;
use keshi_protocol::staff::mask_id_number;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::mpsc;

use crate::calendar::datetime_label;
use crate::catalogue::Catalogue;
use crate::staff::Scope;
use crate::store::{Store, StoreError};

/// Rows in flight between the database and the writer (the memory bound).
const IN_FLIGHT: usize = 1024;
/// Rows per XLSX sheet after its header (the format's limit less one).
const SHEET_ROWS: u32 = 1_048_575;
/// CSV bytes per chunk of an HTTP body.
pub const CHUNK: usize = 64 * 1024;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Learners: account, name, masked ID number, institution, class.
    Learners,
    /// Credited time and class hours per learner and course.
    Hours,
    /// Attendance per learner and course (R-AS-5), qualified and at risk.
    Attendance,
    /// Course-farming findings and their review (R-SV-3).
    Flags,
    /// The quarterly settlement (R-QA-3), by institution and level.
    Settlement,
}

impl Table {
    /// The name used in URLs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Table::Learners => "learners",
            Table::Hours => "hours",
            Table::Attendance => "attendance",
            Table::Flags => "flags",
            Table::Settlement => "settlement",
        }
    }

    /// From its name.
    pub fn parse(name: &str) -> Option<Table> {
        [
            Table::Learners,
            Table::Hours,
            Table::Attendance,
            Table::Flags,
            Table::Settlement,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }

    /// The columns: Chinese label, then the key scripts read (the header cell is
    /// `label key`, e.g. `账号 user`).
    pub fn columns(self) -> &'static [(&'static str, &'static str)] {
        const WHO: [(&str, &str); 4] = [
            ("机构", "institution"),
            ("班级", "class"),
            ("账号", "user"),
            ("姓名", "real_name"),
        ];
        match self {
            Table::Learners => &[
                WHO[0],
                WHO[1],
                WHO[2],
                WHO[3],
                ("身份证号", "id_number_masked"),
                ("注册时间", "registered_at"),
            ],
            Table::Hours => &[
                WHO[0],
                WHO[1],
                WHO[2],
                WHO[3],
                ("课程", "course"),
                ("等级", "level"),
                ("有效学习秒数", "credited_seconds"),
                ("完成学时", "class_hours_completed"),
                ("计划学时", "class_hours_planned"),
                ("计算时间", "computed_at"),
            ],
            Table::Attendance => &[
                WHO[0],
                WHO[1],
                WHO[2],
                WHO[3],
                ("课程", "course"),
                ("出勤率", "attendance"),
                ("成绩", "score"),
                ("合格", "qualified"),
                ("预警", "at_risk"),
                ("已确认违规", "confirmed_flags"),
                ("计算时间", "computed_at"),
            ],
            Table::Flags => &[
                WHO[0],
                WHO[1],
                WHO[2],
                WHO[3],
                ("编号", "id"),
                ("规则", "rule"),
                ("规则版本", "rules_version"),
                ("严重程度", "severity"),
                ("课程", "course"),
                ("观测值", "observed"),
                ("限值", "limit"),
                ("依据", "clause"),
                ("证据", "evidence"),
                ("影响秒数", "affected_seconds"),
                ("状态", "status"),
                ("复核人", "reviewer"),
                ("复核理由", "reason"),
                ("发现时间", "created_at"),
            ],
            Table::Settlement => &[
                ("季度", "quarter"),
                ("机构", "institution"),
                ("等级", "level"),
                ("合格人数", "learners"),
                ("学时", "class_hours"),
                ("每学时补贴(分)", "rate_fen"),
                ("依据", "clause"),
                ("金额(分)", "amount_fen"),
                ("检查点", "checkpoint"),
            ],
        }
    }
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// UTF-8 CSV (RFC 4180) with a byte-order mark.
    Csv,
    /// Office Open XML spreadsheet.
    Xlsx,
}

impl Format {
    /// From its name.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Num(f64),
}

/// What is exported.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The table.
    pub table: Table,
    /// The staff member's scope.
    pub scope: Scope,
    /// One course only (hours, attendance, flags).
    pub course: Option<String>,
    /// The quarter, `YYYYQn` (the settlement).
    pub quarter: Option<String>,
    /// The settlement of simulated certificates (a demo platform's preview).
    pub simulated: bool,
}

/// What the settlement export needs besides the database.
#[derive(Clone, Debug)]
pub struct Signing {
    /// The platform's key (the settlement cites a signed checkpoint).
    pub key: Arc<ring::signature::Ed25519KeyPair>,
    /// The catalogue (the profiles' rates).
    pub catalogue: Arc<Catalogue>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the file.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// Writing the spreadsheet.
    #[error("writing the spreadsheet: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// CSV.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A request that names no valid quarter, or lacks one.
    #[error("{0}")]
    BadRequest(String),
    /// The reader went away (an HTTP client that closed the download).
    #[error("the reader went away")]
    Closed,
}

/// Streams the rows of `req` into `tx`, in order; returns how many. Stops early,
/// with [`ExportError::Closed`], when the receiver is dropped.
pub async fn produce(
    store: &Store,
    signing: &Signing,
    req: &ExportRequest,
    now: i64,
    tx: mpsc::Sender<Vec<Cell>>,
) -> Result<u64, ExportError> {
    if req.table == Table::Settlement {
        return settlement(store, signing, req, now, tx).await;
    }
    let (cond, values) = req.scope.condition(1);
    let course_at = values.len() + 1;
    let course_cond = |col: &str| {
        if req.course.is_some() {
            format!(" AND {col} = ${course_at}")
        } else {
            String::new()
        }
    };
    let who = "i.name, l.class, l.username, l.real_name";
    let sql = match req.table {
        Table::Learners => format!(
            "SELECT {who}, l.id, l.id_number, l.created_ms FROM learners l \
             JOIN institutions i ON i.id = l.institution_id WHERE {cond} \
             ORDER BY i.name, l.class, l.username"
        ),
        Table::Hours | Table::Attendance => format!(
            "SELECT {who}, r.course, r.level, r.credited_ms, r.class_hours_completed, \
             r.class_hours_planned, r.attendance_permille, r.score, r.qualified, r.at_risk, \
             r.confirmed_flags, r.computed_ms FROM course_results r \
             JOIN learners l ON l.id = r.learner_id JOIN institutions i ON i.id = l.institution_id \
             WHERE {cond}{} ORDER BY i.name, l.class, l.username, r.course",
            course_cond("r.course")
        ),
        Table::Flags => format!(
            "SELECT {who}, f.id, f.rule, f.rules_version, f.severity, f.course, f.observed, \
             f.limit_value, f.clause, f.evidence, f.affected_ms, f.status, f.reviewer, f.reason, \
             f.created_ms FROM findings f \
             JOIN learners l ON l.id = f.learner_id JOIN institutions i ON i.id = l.institution_id \
             WHERE {cond}{} ORDER BY f.created_ms DESC, f.id",
            course_cond("f.course")
        ),
        Table::Settlement => unreachable!("handled above"),
    };
    let mut q = sqlx::query(&sql);
    for v in &values {
        q = q.bind(v);
    }
    if let Some(c) = &req.course {
        q = q.bind(c);
    }
    let mut rows = q.fetch(&store.pool);
    let mut n = 0u64;
    while let Some(r) = rows.try_next().await.map_err(StoreError::from)? {
        let cells = match req.table {
            Table::Learners => learner_cells(store, &r)?,
            Table::Hours | Table::Attendance => result_cells(req.table, &r)?,
            _ => flag_cells(&r)?,
        };
        tx.send(cells).await.map_err(|_| ExportError::Closed)?;
        n += 1;
    }
    Ok(n)
}

fn text(r: &sqlx::any::AnyRow, i: usize) -> Result<Cell, StoreError> {
    Ok(Cell::Text(
        r.try_get::<Option<String>, _>(i)?.unwrap_or_default(),
    ))
}

fn int(r: &sqlx::any::AnyRow, i: usize) -> Result<i64, StoreError> {
    Ok(r.try_get::<i64, _>(i)?)
}

fn who(r: &sqlx::any::AnyRow) -> Result<Vec<Cell>, StoreError> {
    (0..4).map(|i| text(r, i)).collect()
}

fn learner_cells(store: &Store, r: &sqlx::any::AnyRow) -> Result<Vec<Cell>, StoreError> {
    let mut cells = who(r)?;
    let id: String = r.try_get(4)?;
    let sealed: String = r.try_get(5)?;
    let id_number = store.data_key.decrypt("id_number", &id, &sealed)?;
    cells.push(Cell::Text(mask_id_number(&id_number)));
    cells.push(Cell::Text(datetime_label(int(r, 6)?)));
    Ok(cells)
}

fn result_cells(table: Table, r: &sqlx::any::AnyRow) -> Result<Vec<Cell>, StoreError> {
    let mut cells = who(r)?;
    cells.push(text(r, 4)?);
    if table == Table::Hours {
        cells.push(text(r, 5)?);
        cells.push(Cell::Int(int(r, 6)? / 1000));
        cells.push(Cell::Int(int(r, 7)?));
        cells.push(Cell::Int(int(r, 8)?));
    } else {
        #[allow(clippy::cast_precision_loss)] // permille: three digits
        cells.push(Cell::Num(int(r, 9)? as f64 / 1000.0));
        cells.push(Cell::Int(int(r, 10)?));
        cells.push(Cell::Int(int(r, 11)?));
        cells.push(Cell::Int(int(r, 12)?));
        cells.push(Cell::Int(int(r, 13)?));
    }
    cells.push(Cell::Text(datetime_label(int(r, 14)?)));
    Ok(cells)
}

fn flag_cells(r: &sqlx::any::AnyRow) -> Result<Vec<Cell>, StoreError> {
    let mut cells = who(r)?;
    for i in 4..13 {
        cells.push(text(r, i)?);
    }
    cells.push(Cell::Int(int(r, 13)? / 1000));
    for i in 14..17 {
        cells.push(text(r, i)?);
    }
    cells.push(Cell::Text(datetime_label(int(r, 17)?)));
    Ok(cells)
}

async fn settlement(
    store: &Store,
    signing: &Signing,
    req: &ExportRequest,
    now: i64,
    tx: mpsc::Sender<Vec<Cell>>,
) -> Result<u64, ExportError> {
    let quarter = req
        .quarter
        .as_deref()
        .ok_or_else(|| ExportError::BadRequest("name the quarter: YYYYQn, e.g. 2026Q4".into()))?;
    let s = crate::reports::settlement(
        store,
        &signing.key,
        &signing.catalogue,
        &req.scope,
        quarter,
        req.simulated,
        now,
    )
    .await?
    .ok_or_else(|| {
        ExportError::BadRequest(format!(
            "{quarter:?} is not a quarter: write YYYYQn, e.g. 2026Q4"
        ))
    })?;
    let checkpoint = format!("{}:{}", s.checkpoint.size, hex::encode(s.checkpoint.root));
    let mut n = 0;
    for line in &s.lines {
        let cells = vec![
            Cell::Text(s.quarter.clone()),
            Cell::Text(line.institution.clone()),
            Cell::Text(line.level.clone()),
            Cell::Int(crate::store::i(line.learners)),
            Cell::Int(crate::store::i(line.class_hours)),
            Cell::Int(crate::store::i(line.rate_fen)),
            Cell::Text(line.clause.clone()),
            Cell::Int(crate::store::i(line.amount_fen)),
            Cell::Text(checkpoint.clone()),
        ];
        tx.send(cells).await.map_err(|_| ExportError::Closed)?;
        n += 1;
    }
    Ok(n)
}

/// The header cells of `table`.
pub fn header(table: Table) -> Vec<String> {
    table
        .columns()
        .iter()
        .map(|(zh, key)| format!("{zh} {key}"))
        .collect()
}

/// A text cell as CSV carries it: one a spreadsheet would evaluate as a formula
/// gets a leading `'` (OWASP's CSV injection advice).
fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Writes CSV from `rx` to `out` until the producer is done; returns the rows.
/// Runs on a blocking thread.
pub fn write_csv<W: Write>(
    table: Table,
    mut rx: mpsc::Receiver<Vec<Cell>>,
    out: W,
) -> Result<u64, ExportError> {
    let mut out = out;
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header(table))?;
    let mut n = 0u64;
    let mut record: Vec<String> = Vec::new();
    while let Some(cells) = rx.blocking_recv() {
        record.clear();
        record.extend(cells.iter().map(|c| match c {
            Cell::Text(s) => csv_text(s).into_owned(),
            Cell::Int(v) => v.to_string(),
            Cell::Num(v) => format!("{v:.3}"),
        }));
        w.write_record(&record)?;
        n += 1;
        if n % 100_000 == 0 {
            tracing::info!(table = table.name(), rows = n, "exporting");
        }
    }
    w.flush()?;
    Ok(n)
}

/// Writes an XLSX workbook from `rx` to `path` until the producer is done, in
/// constant memory (rows spill to temporary files in `tmp`); returns the rows.
/// Runs on a blocking thread.
pub fn write_xlsx(
    table: Table,
    mut rx: mpsc::Receiver<Vec<Cell>>,
    path: &std::path::Path,
    tmp: &std::path::Path,
) -> Result<u64, ExportError> {
    use rust_xlsxwriter::{Format as XFormat, Workbook};
    let mut book = Workbook::new();
    book.set_tempdir(tmp)?;
    let bold = XFormat::new().set_bold();
    let head = header(table);
    let mut n = 0u64;
    let mut sheet_no = 0u32;
    let mut row = SHEET_ROWS; // forces the first sheet
    while let Some(cells) = rx.blocking_recv() {
        if row >= SHEET_ROWS {
            sheet_no += 1;
            let sheet = book.add_worksheet_with_constant_memory();
            let name = if sheet_no == 1 {
                table.name().to_owned()
            } else {
                format!("{} {sheet_no}", table.name())
            };
            sheet.set_name(name)?;
            for (c, h) in head.iter().enumerate() {
                sheet.write_string_with_format(0, col(c), h, &bold)?;
            }
            sheet.set_freeze_panes(1, 0)?;
            row = 0;
        }
        row += 1;
        let sheet = book
            .worksheets_mut()
            .last_mut()
            .ok_or_else(|| ExportError::BadRequest("no worksheet".into()))?;
        for (c, cell) in cells.iter().enumerate() {
            match cell {
                Cell::Text(s) => sheet.write_string(row, col(c), s)?,
                #[allow(clippy::cast_precision_loss)] // counts far below 2^53
                Cell::Int(v) => sheet.write_number(row, col(c), *v as f64)?,
                Cell::Num(v) => sheet.write_number(row, col(c), *v)?,
            };
        }
        n += 1;
        if n % 100_000 == 0 {
            tracing::info!(table = table.name(), rows = n, "exporting");
        }
    }
    if sheet_no == 0 {
        let sheet = book.add_worksheet_with_constant_memory();
        sheet.set_name(table.name())?;
        for (c, h) in head.iter().enumerate() {
            sheet.write_string_with_format(0, col(c), h, &bold)?;
        }
    }
    book.save(path)?;
    Ok(n)
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// Exports `req` to the file `out` in `format`: written beside it under a temporary
/// name and renamed into place once complete, so a failed export leaves no half
/// file. Returns the rows.
pub async fn to_file(
    store: &Store,
    signing: &Signing,
    req: &ExportRequest,
    format: Format,
    out: &std::path::Path,
    now: i64,
) -> Result<u64, ExportError> {
    let part = crate::temp_beside(out, ".keshi-export-")?;
    let dir = part
        .path()
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .to_path_buf();
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let table = req.table;
    let path = part.path().to_path_buf();
    let writer = tokio::task::spawn_blocking(move || -> Result<u64, ExportError> {
        match format {
            Format::Csv => {
                let f = std::fs::OpenOptions::new().write(true).open(&path)?;
                let mut buf = std::io::BufWriter::new(f);
                let n = write_csv(table, rx, &mut buf)?;
                buf.flush()?;
                buf.get_ref().sync_all()?;
                Ok(n)
            }
            Format::Xlsx => write_xlsx(table, rx, &path, &dir),
        }
    });
    let produced = produce(store, signing, req, now, tx).await;
    let written = writer
        .await
        .map_err(|e| ExportError::Io(std::io::Error::other(e.to_string())))?;
    let n = produced?;
    let w = written?;
    debug_assert_eq!(n, w);
    part.persist(out).map_err(|e| ExportError::Io(e.error))?;
    Ok(n)
}

/// A `Write` that hands CSV to an HTTP body in [`CHUNK`]-byte pieces (blocking
/// on the body's bounded channel: a slow client slows the export).
#[derive(Debug)]
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>,
}

impl ChunkWriter {
    /// Writes into `tx`.
    pub fn new(tx: mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>) -> ChunkWriter {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk =
            axum::body::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_in_csv_and_text_stays_text() {
        let (tx, rx) = mpsc::channel(8);
        tx.try_send(vec![
            Cell::Text("=HYPERLINK(\"http://x\")".into()),
            Cell::Text("张三, \"小张\"".into()),
            Cell::Int(-3),
            Cell::Num(0.8),
            Cell::Text("@SUM(A1)".into()),
            Cell::Text("-1+1".into()),
            Cell::Text("普通".into()),
            Cell::Int(0),
            Cell::Text(String::new()),
        ])
        .unwrap();
        drop(tx);
        let mut out = Vec::new();
        let n = write_csv(Table::Settlement, rx, &mut out).unwrap();
        assert_eq!(n, 1);
        let s = String::from_utf8(out).unwrap();
        let mut lines = s.lines();
        let head = lines.next().unwrap();
        assert!(
            head.starts_with("\u{feff}季度 quarter,机构 institution,"),
            "{head}"
        );
        assert_eq!(
            lines.next().unwrap(),
            "\"'=HYPERLINK(\"\"http://x\"\")\",\"张三, \"\"小张\"\"\",-3,0.800,'@SUM(A1),'-1+1,普通,0,"
        );
    }

    #[test]
    fn tables_and_formats_parse_by_name() {
        for t in [
            Table::Learners,
            Table::Hours,
            Table::Attendance,
            Table::Flags,
            Table::Settlement,
        ] {
            assert_eq!(Table::parse(t.name()), Some(t));
        }
        assert_eq!(Table::parse("passwords"), None);
        assert_eq!(Format::parse("xlsx"), Some(Format::Xlsx));
        assert_eq!(Format::parse("xls"), None);
    }
}
