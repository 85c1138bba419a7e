//! Learners in bulk (issue 12, R-SV-2, R-ID-1): a CSV file with the columns
//! `user,real_name,id_number,phone,class,password` (by header name, any order) is
//! checked row by row — every bad row is reported with its number (the header is
//! row 1) and a reason code — and imported in one transaction: all or nothing, or
//! the good rows only when asked (`--partial`). ID numbers are checked with the
//! GB 11643-1999 checksum and birth date; phones are mainland mobile numbers. An
//! empty password leaves the account without one (it cannot sign in until a
//! password is set). The file is read as a stream; only the good rows are kept.

use std::collections::HashSet;
use std::io::Read;

use serde::Serialize;

/// The columns, by header name.
pub const COLUMNS: &[&str] = &[
    "user",
    "real_name",
    "id_number",
    "phone",
    "class",
    "password",
];

/// Why a row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowCode {
    /// The header lacks a column (row 1).
    MissingColumn,
    /// The row does not parse as CSV, or has the wrong number of fields.
    BadRow,
    /// A required field is empty.
    EmptyField,
    /// The login name has characters other than letters, digits, `.`, `_`, `-`, or
    /// is longer than 64.
    BadUser,
    /// Not an 18-character resident ID number with a valid checksum and date.
    BadIdNumber,
    /// Not an 11-digit mainland mobile number.
    BadPhone,
    /// A password shorter than 8 characters.
    WeakPassword,
    /// The login name appears twice in the file.
    DuplicateUser,
    /// The ID number appears twice in the file.
    DuplicateIdNumber,
    /// The login name is taken on the platform.
    UserTaken,
    /// A photo in the `--photos` ZIP is refused: not JPEG or PNG, larger than
    /// 2 MiB, a name not `<ID>.jpg`, `<ID>-face.jpg` or `<ID>-idcard.jpg`, or a
    /// second photo of the same kind.
    BadPhoto,
    /// A photo names an ID number no row of the file has.
    PhotoWithoutLearner,
}

impl RowCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            RowCode::MissingColumn => "missing_column",
            RowCode::BadRow => "bad_row",
            RowCode::EmptyField => "empty_field",
            RowCode::BadUser => "bad_user",
            RowCode::BadIdNumber => "bad_id_number",
            RowCode::BadPhone => "bad_phone",
            RowCode::WeakPassword => "weak_password",
            RowCode::DuplicateUser => "duplicate_user",
            RowCode::DuplicateIdNumber => "duplicate_id_number",
            RowCode::UserTaken => "user_taken",
            RowCode::BadPhoto => "bad_photo",
            RowCode::PhotoWithoutLearner => "photo_without_learner",
        }
    }
}

/// A refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Row number in the file (the header is row 1).
    pub row: u64,
    /// Reason code.
    pub code: RowCode,
    /// In words.
    pub message: String,
    /// The ZIP entry a photo came from (`--photos`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// A good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Row number.
    pub row: u64,
    /// Login name.
    pub user: String,
    /// Real name.
    pub real_name: String,
    /// ID number (upper-case check character).
    pub id_number: String,
    /// Phone.
    pub phone: String,
    /// Class.
    pub class: String,
    /// Password (empty: none yet).
    pub password: String,
}

/// The good rows and the refused ones, in file order.
#[derive(Debug, Default)]
pub struct Checked {
    /// Good rows.
    pub rows: Vec<Row>,
    /// Refused rows.
    pub rejected: Vec<Rejected>,
    /// Every ID number in the file (good rows or not) and its first row: what
    /// photos are matched to.
    pub id_rows: std::collections::HashMap<String, u64>,
}

/// The GB 11643-1999 check character (`0`–`9` or `X`) of the first 17 digits of a
/// resident ID number: their weighted sum modulo 11. `None` unless `body` is 17
/// ASCII digits.
pub fn id_check_character(body: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = *b"10X98765432";
    let b = body.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(char::from(CHECK[(sum % 11) as usize]))
}

/// Whether `id` is a valid 18-character resident ID number (GB 11643-1999): 17
/// digits, a check character (`0`–`9` or `X`) matching the weighted sum modulo
/// 11, and a real birth date in characters 7–14.
pub fn id_number_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !id.is_char_boundary(17) {
        return false;
    }
    if id_check_character(&id[..17]) != Some(char::from(b[17].to_ascii_uppercase())) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    (1900..=2100).contains(&y) && d >= 1 && d <= days
}

/// Whether `phone` is an 11-digit mainland mobile number (`1[3-9]…`).
pub fn phone_valid(phone: &str) -> bool {
    let b = phone.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

fn user_valid(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Login names and ID numbers already on the platform (what an import must not
/// reuse).
pub struct Taken<'a> {
    /// Whether a login name exists.
    pub user: &'a dyn Fn(&str) -> bool,
    /// Whether an ID number (upper-case check character) belongs to a learner.
    pub id_number: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for Taken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taken").finish_non_exhaustive()
    }
}

impl Taken<'_> {
    /// Nothing is taken (an empty platform).
    pub const NONE: Taken<'static> = Taken {
        user: &|_| false,
        id_number: &|_| false,
    };
}

/// The one row checker CSV and XLSX feed: the header is checked once, then every
/// row by the same rules, in file order.
#[derive(Debug)]
pub struct RowChecker<'a> {
    at: [usize; 6],
    users: HashSet<String>,
    ids: HashSet<String>,
    taken: Taken<'a>,
    out: Checked,
}

impl<'a> RowChecker<'a> {
    /// Checks the header (row `row`): `Err` names every missing column.
    pub fn new(header: &[String], row: u64, taken: Taken<'a>) -> Result<Self, Vec<Rejected>> {
        let header: Vec<String> = header
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect();
        let mut at = [0usize; 6];
        let mut missing = Vec::new();
        for (k, name) in COLUMNS.iter().enumerate() {
            match header.iter().position(|h| h == name) {
                Some(i) => at[k] = i,
                None => missing.push(Rejected {
                    row,
                    code: RowCode::MissingColumn,
                    message: format!(
                        "the header has no `{name}` column (columns: {})",
                        COLUMNS.join(",")
                    ),
                    entry: None,
                }),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(RowChecker {
            at,
            users: HashSet::new(),
            ids: HashSet::new(),
            taken,
            out: Checked::default(),
        })
    }

    /// Refuses row `row` as a whole (it does not parse).
    pub fn bad_row(&mut self, row: u64, message: String) {
        self.out.rejected.push(Rejected {
            row,
            code: RowCode::BadRow,
            message,
            entry: None,
        });
    }

    /// Checks one row of fields (trimmed), in header order.
    pub fn row(&mut self, row: u64, fields: &[String]) {
        let field = |i: usize| fields.get(self.at[i]).map_or("", |f| f.trim()).to_owned();
        let r = Row {
            row,
            user: field(0),
            real_name: field(1),
            id_number: field(2).to_uppercase(),
            phone: field(3),
            class: field(4),
            password: field(5),
        };
        if !r.id_number.is_empty() {
            self.out.id_rows.entry(r.id_number.clone()).or_insert(row);
        }
        let problem = if let Some(name) = [
            ("user", &r.user),
            ("real_name", &r.real_name),
            ("id_number", &r.id_number),
        ]
        .iter()
        .find(|(_, v)| v.is_empty())
        .map(|(n, _)| *n)
        {
            Some((RowCode::EmptyField, format!("`{name}` is empty")))
        } else if !user_valid(&r.user) {
            Some((
                RowCode::BadUser,
                format!(
                    "login name {:?}: letters, digits, . _ - only, at most 64",
                    r.user
                ),
            ))
        } else if !id_number_valid(&r.id_number) {
            Some((
                RowCode::BadIdNumber,
                "the ID number's checksum or birth date is wrong (GB 11643)".into(),
            ))
        } else if !r.phone.is_empty() && !phone_valid(&r.phone) {
            Some((
                RowCode::BadPhone,
                format!("phone {:?} is not an 11-digit mobile number", r.phone),
            ))
        } else if r.password.is_empty() && r.phone.is_empty() {
            // Without a password the learner sets one with the ID number and the
            // phone on record: without either, nobody could ever sign in.
            Some((
                RowCode::EmptyField,
                "`phone` is needed when `password` is empty (the learner sets a password with the ID number and phone)".into(),
            ))
        } else if !r.password.is_empty() && r.password.chars().count() < 8 {
            Some((
                RowCode::WeakPassword,
                "a password has at least 8 characters (or is left empty)".into(),
            ))
        } else if !self.users.insert(r.user.clone()) {
            Some((
                RowCode::DuplicateUser,
                format!("login name {:?} is on an earlier row", r.user),
            ))
        } else if !self.ids.insert(r.id_number.clone()) {
            Some((
                RowCode::DuplicateIdNumber,
                "the ID number is on an earlier row".into(),
            ))
        } else if (self.taken.user)(&r.user) {
            Some((
                RowCode::UserTaken,
                format!("login name {:?} exists on the platform", r.user),
            ))
        } else if (self.taken.id_number)(&r.id_number) {
            Some((
                RowCode::DuplicateIdNumber,
                "the ID number belongs to a learner on the platform".into(),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => self.out.rejected.push(Rejected {
                row,
                code,
                message,
                entry: None,
            }),
            None => self.out.rows.push(r),
        }
    }

    /// The good rows and the refused ones.
    pub fn finish(self) -> Checked {
        self.out
    }
}

/// Checks a CSV stream (UTF-8, a BOM allowed), row by row as it is read: only
/// the good rows are kept, so memory grows with them, not with the file.
pub fn check_csv(input: impl Read, taken: Taken<'_>) -> Checked {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => {
            return Checked {
                rejected: vec![Rejected {
                    row: 1,
                    code: RowCode::BadRow,
                    message: format!("the header does not parse: {e}"),
                    entry: None,
                }],
                ..Checked::default()
            }
        }
    };
    let mut checker = match RowChecker::new(&header, 1, taken) {
        Ok(c) => c,
        Err(rejected) => {
            return Checked {
                rejected,
                ..Checked::default()
            }
        }
    };
    for (k, record) in reader.records().enumerate() {
        let row = k as u64 + 2;
        match record {
            Ok(r) if r.len() == header.len() => {
                let fields: Vec<String> = r.iter().map(str::to_owned).collect();
                checker.row(row, &fields);
            }
            Ok(r) => checker.bad_row(
                row,
                format!("{} fields; the header has {}", r.len(), header.len()),
            ),
            Err(e) => checker.bad_row(row, format!("does not parse: {e}")),
        }
    }
    checker.finish()
}

/// Why an XLSX file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XlsxError {
    /// Not a readable XLSX workbook.
    #[error("reading the workbook: {0}")]
    Read(#[from] calamine::XlsxError),
    /// The workbook has no worksheet.
    #[error("the workbook has no worksheet")]
    NoSheet,
    /// Writing the template failed.
    #[error("writing the workbook: {0}")]
    Write(#[from] rust_xlsxwriter::XlsxError),
}

/// A cell as text: numbers typed into Excel (an ID number or phone stored as a
/// number, `13800000000.0`) lose their `.0`; a cell error is `Err`.
fn cell_text(cell: &calamine::Data) -> Result<String, String> {
    use calamine::Data;
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => return Err(format!("a cell holds the error {e}")),
    })
}

/// Checks the first worksheet of an XLSX workbook by the same rules as a CSV
/// file (one [`RowChecker`]). Rows are numbered as Excel shows them (the header
/// in the first row is row 1); empty rows are skipped. Unlike CSV this is not a
/// stream: calamine loads the whole worksheet (about 100 bytes a cell, some
/// 60 MB for 100,000 learners) before the rows are checked.
pub fn check_xlsx(path: &std::path::Path, taken: Taken<'_>) -> Result<Checked, XlsxError> {
    let book: calamine::Xlsx<_> = calamine::open_workbook(path)?;
    check_workbook(book, taken)
}

/// [`check_xlsx`] on a workbook's bytes (an upload through the console).
pub fn check_xlsx_bytes(bytes: &[u8], taken: Taken<'_>) -> Result<Checked, XlsxError> {
    use calamine::Reader as _;
    let book = calamine::Xlsx::new(std::io::Cursor::new(bytes))?;
    check_workbook(book, taken)
}

/// Rows of a worksheet as they are read: the first non-empty one is the header.
struct SheetRows<'a> {
    taken: Option<Taken<'a>>,
    checker: Option<RowChecker<'a>>,
    refused: Option<Vec<Rejected>>,
}

impl SheetRows<'_> {
    /// One finished row (`row` 0-based as calamine counts; Excel shows `row + 1`).
    fn row(&mut self, row: u32, cells: Vec<String>, error: Option<String>) {
        if self.refused.is_some() || (error.is_none() && cells.iter().all(String::is_empty)) {
            return;
        }
        let number = u64::from(row) + 1;
        match &mut self.checker {
            Some(c) => match error {
                Some(e) => c.bad_row(number, e),
                None => c.row(number, &cells),
            },
            None => {
                if let Some(t) = self.taken.take() {
                    match RowChecker::new(&cells, number, t) {
                        Ok(c) => self.checker = Some(c),
                        Err(r) => self.refused = Some(r),
                    }
                }
            }
        }
    }
}

/// Columns read from a worksheet: cells further right are ignored (a learner row
/// has six), so a sheet claiming 16,384 columns costs nothing.
const MAX_XLSX_COLUMNS: u32 = 32;

/// Reads the first worksheet cell by cell (calamine's cell reader): one row is held
/// at a time, whatever the sheet's declared dimensions say — building the whole
/// grid first lets a 2 KB file with two far-apart cells ask for hundreds of GB.
fn check_workbook<R: std::io::Read + std::io::Seek>(
    mut book: calamine::Xlsx<R>,
    taken: Taken<'_>,
) -> Result<Checked, XlsxError> {
    use calamine::Reader as _;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(XlsxError::NoSheet)?;
    let mut reader = book.worksheet_cells_reader(&name)?;
    let mut sheet = SheetRows {
        taken: Some(taken),
        checker: None,
        refused: None,
    };
    let mut current: Option<(u32, Vec<String>, Option<String>)> = None;
    while let Some(cell) = reader.next_cell()? {
        let (row, col) = cell.get_position();
        if col >= MAX_XLSX_COLUMNS {
            continue;
        }
        if current.as_ref().is_some_and(|(r, _, _)| *r != row) {
            if let Some((r, cells, error)) = current.take() {
                sheet.row(r, cells, error);
            }
        }
        let (_, cells, error) = current.get_or_insert_with(|| (row, Vec::new(), None));
        let width = usize::try_from(col).unwrap_or(usize::MAX).saturating_add(1);
        if cells.len() < width {
            cells.resize(width, String::new());
        }
        match cell_text(&calamine::Data::from(cell.get_value().clone())) {
            Ok(text) => cells[width - 1] = text,
            Err(e) => *error = Some(e),
        }
    }
    if let Some((r, cells, error)) = current.take() {
        sheet.row(r, cells, error);
    }
    if let Some(rejected) = sheet.refused {
        return Ok(Checked {
            rejected,
            ..Checked::default()
        });
    }
    match sheet.checker {
        Some(c) => Ok(c.finish()),
        None => Ok(Checked {
            rejected: vec![Rejected {
                row: 1,
                code: RowCode::MissingColumn,
                message: format!("the worksheet is empty (columns: {})", COLUMNS.join(",")),
                entry: None,
            }],
            ..Checked::default()
        }),
    }
}

/// The import template (issue 12): one worksheet with the header row, the ID
/// number and phone columns formatted as text (so Excel keeps an 18-digit ID
/// number and a leading digit as typed).
pub fn template() -> Result<rust_xlsxwriter::Workbook, XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("learners")?;
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    for (k, name) in COLUMNS.iter().enumerate() {
        let col = u16::try_from(k).unwrap_or(0);
        sheet.write_string_with_format(0, col, *name, &bold)?;
        sheet.set_column_width(col, if k == 2 { 22 } else { 14 })?;
    }
    sheet.set_column_format(2, &text)?;
    sheet.set_column_format(3, &text)?;
    sheet.set_freeze_panes(1, 0)?;
    Ok(book)
}

/// Writes [`template`] to `path`.
pub fn write_template(path: &std::path::Path) -> Result<(), XlsxError> {
    template()?.save(path)?;
    Ok(())
}

/// A row ready to store: its password hashed (empty: no password yet).
#[derive(Debug, Clone)]
pub struct Ready {
    /// The row.
    pub row: Row,
    /// Argon2id PHC string, or empty.
    pub password_hash: String,
}

/// Hashes the rows' passwords on `threads` threads (Argon2 is the cost of an
/// import).
pub fn hash_passwords(
    rows: Vec<Row>,
    threads: usize,
) -> Result<Vec<Ready>, crate::auth::HashError> {
    let threads = threads.max(1);
    let chunk = rows.len().div_ceil(threads).max(1);
    let mut out: Vec<Ready> = Vec::with_capacity(rows.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|r| {
                            let password_hash = if r.password.is_empty() {
                                String::new()
                            } else {
                                crate::auth::hash_password(&r.password)?
                            };
                            Ok(Ready {
                                row: r.clone(),
                                password_hash,
                            })
                        })
                        .collect::<Result<Vec<_>, crate::auth::HashError>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part?),
                Err(_) => return Err(crate::auth::HashError::new("a hashing thread failed")),
            }
        }
        Ok(())
    })?;
    Ok(out)
}

impl crate::store::Store {
    /// Whether `user` is a learner imported without a password (it must set one
    /// before signing in).
    pub async fn must_set_password(&self, user: &str) -> Result<bool, crate::store::StoreError> {
        use sqlx::Row;
        Ok(
            sqlx::query("SELECT must_set_password FROM learners WHERE username = $1")
                .bind(user)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<i64, _>(0))
                .transpose()?
                .is_some_and(|v| v != 0),
        )
    }

    /// For a learner still to set a password: `(id, ID number, phone)` on record,
    /// decrypted.
    pub async fn first_password_check(
        &self,
        user: &str,
    ) -> Result<Option<(String, String, String)>, crate::store::StoreError> {
        use sqlx::Row;
        let Some(r) = sqlx::query(
            "SELECT id, id_number, phone FROM learners WHERE username = $1 AND must_set_password <> 0",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let id: String = r.try_get(0)?;
        let id_number = self
            .data_key
            .decrypt("id_number", &id, &r.try_get::<String, _>(1)?)?;
        let phone = self
            .data_key
            .decrypt("phone", &id, &r.try_get::<String, _>(2)?)?;
        Ok(Some((id, id_number, phone)))
    }

    /// Sets the first password of a learner imported without one (only while it
    /// has none), with an audit entry; `false` when it had one already.
    pub async fn set_first_password(
        &self,
        learner_id: &str,
        user: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, crate::store::StoreError> {
        use sqlx::Row;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE learners SET password_hash = $1, must_set_password = 0 WHERE id = $2 AND must_set_password <> 0",
        )
        .bind(hash)
        .bind(learner_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            let institution: String =
                sqlx::query("SELECT institution_id FROM learners WHERE id = $1")
                    .bind(learner_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            crate::staff::append_audit(
                &mut tx,
                &crate::staff::AuditRow {
                    actor: &format!("learner:{user}"),
                    action: "learner.password_set",
                    target: &format!("learner:{user}"),
                    institution_id: Some(&institution),
                    region: None,
                    before: None,
                    after: None,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Every learner's login name (what an import must not reuse).
    pub async fn learner_names(&self) -> Result<HashSet<String>, crate::store::StoreError> {
        use sqlx::Row as _;
        sqlx::query("SELECT username FROM learners")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// A learner's `(face photo, ID-card photo)` references (SHA-256 hex in the
    /// blob store, R-ID-1), by login name.
    pub async fn learner_photo_refs(
        &self,
        user: &str,
    ) -> Result<Option<(Option<String>, Option<String>)>, crate::store::StoreError> {
        use sqlx::Row as _;
        sqlx::query("SELECT face_photo_ref, idcard_photo_ref FROM learners WHERE username = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
    }

    /// The blind index of every learner's ID number (what an import must not
    /// reuse, R-ID-1): see [`crate::datakey::DataKey::blind_index`].
    pub async fn learner_id_indexes(&self) -> Result<HashSet<String>, crate::store::StoreError> {
        use sqlx::Row as _;
        sqlx::query("SELECT id_number_index FROM learners WHERE id_number_index IS NOT NULL")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Stores `rows` as learners of `institution_id` in one transaction, with one
    /// audit entry (`learner.import`) by `actor`: ID numbers and phones encrypted
    /// (R-SV-2), each row's photos from `photos` (by ID number) linked (R-ID-1).
    /// Returns how many.
    pub async fn import_learners(
        &self,
        actor: &str,
        institution_id: &str,
        rows: &[Ready],
        photos: &std::collections::HashMap<String, crate::photos::LearnerPhotos>,
        now: i64,
    ) -> Result<u64, crate::store::StoreError> {
        let mut tx = self.begin_write().await?;
        let mut linked = 0u64;
        for r in rows {
            let id = crate::store::random_id();
            let p = photos.get(&r.row.id_number);
            linked += p.map_or(0, |p| {
                u64::from(p.face.is_some()) + u64::from(p.idcard.is_some())
            });
            sqlx::query(
                "INSERT INTO learners(id, institution_id, username, real_name, id_number, face_photo_ref, \
                 password_hash, created_ms, phone, class, must_set_password, id_number_index, idcard_photo_ref) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&id)
            .bind(institution_id)
            .bind(&r.row.user)
            .bind(&r.row.real_name)
            .bind(self.data_key.encrypt("id_number", &id, &r.row.id_number)?)
            .bind(p.and_then(|p| p.face.as_ref().map(|f| f.sha256.clone())))
            .bind(&r.password_hash)
            .bind(now)
            .bind(self.data_key.encrypt("phone", &id, &r.row.phone)?)
            .bind(&r.row.class)
            .bind(i64::from(r.password_hash.is_empty()))
            .bind(self.data_key.blind_index(&r.row.id_number))
            .bind(p.and_then(|p| p.idcard.as_ref().map(|f| f.sha256.clone())))
            .execute(&mut *tx)
            .await?;
        }
        let after = serde_json::json!({"imported": rows.len(), "photos": linked});
        crate::staff::append_audit(
            &mut tx,
            &crate::staff::AuditRow {
                actor,
                action: "learner.import",
                target: &format!("institution:{institution_id}"),
                institution_id: Some(institution_id),
                region: None,
                before: None,
                after: Some(&after),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn gb_11643_checksums_and_dates() {
        assert!(id_number_valid("11010519491231002X"));
        assert!(id_number_valid(
            "11010519491231002x".to_uppercase().as_str()
        ));
        assert!(
            !id_number_valid("110105194912310021"),
            "wrong check character"
        );
        assert!(!id_number_valid("11010519491331002X"), "month 13");
        assert!(!id_number_valid("1101051949123100"), "too short");
        assert!(id_number_valid("320106199003071234"));
        assert!(phone_valid("13800138000"));
        assert!(!phone_valid("12800138000"));
        assert!(!phone_valid("1380013800"));
    }

    #[test]
    fn every_bad_row_is_named_and_the_good_ones_kept() {
        let csv = "\u{feff}user,real_name,id_number,phone,class,password\n\
                   a1,张三,11010519491231002X,13800138000,一班,password-1\n\
                   a2,李四,110105194912310021,,一班,\n\
                   a1,王五,320106199003071234,13800138001,二班,\n\
                   a3,,320106199003071234,,二班,\n\
                   a4,赵六,320106199003071234,1234,二班,\n\
                   a5,钱七,320106199003071234,,二班,short\n\
                   a6,孙八,320106199003071234,,二班\n\
                   taken,周九,320106199003071234,13800138002,二班,\n";
        let c = check_csv(
            csv.as_bytes(),
            Taken {
                user: &|u| u == "taken",
                id_number: &|_| false,
            },
        );
        let got: Vec<(u64, &str)> = c
            .rejected
            .iter()
            .map(|r| (r.row, r.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "bad_id_number"),
                (4, "duplicate_user"),
                (5, "empty_field"),
                (6, "bad_phone"),
                (7, "weak_password"),
                (8, "bad_row"),
                (9, "user_taken"),
            ]
        );
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.rows[0].user, "a1");
        assert_eq!(c.rows[0].class, "一班");
    }

    #[test]
    fn a_header_without_a_column_refuses_the_file() {
        let c = check_csv("user,real_name\na,b\n".as_bytes(), Taken::NONE);
        assert!(c.rows.is_empty());
        assert!(c
            .rejected
            .iter()
            .all(|r| r.row == 1 && r.code == RowCode::MissingColumn));
        assert_eq!(c.rejected.len(), 4);
    }

    #[test]
    fn a_sheet_claiming_the_whole_grid_is_read_cell_by_cell() {
        // Two far-apart cells make calamine's whole-sheet grid ask for hundreds of
        // GB; read cell by cell, the file costs what its cells cost.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, name) in COLUMNS.iter().enumerate() {
            sheet
                .write_string(0, u16::try_from(c).unwrap(), *name)
                .unwrap();
        }
        sheet.write_string(1_048_575, 16_383, "far away").unwrap();
        sheet.write_string(1_048_575, 0, "far-user").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let no = |_: &str| false;
        let checked = check_xlsx_bytes(
            &bytes,
            Taken {
                user: &no,
                id_number: &no,
            },
        )
        .unwrap();
        assert!(checked.rows.is_empty());
        assert_eq!(checked.rejected.len(), 1, "{:?}", checked.rejected);
        assert_eq!(checked.rejected[0].row, 1_048_576);
        assert_eq!(checked.rejected[0].code, RowCode::EmptyField);
    }

    #[test]
    fn the_template_with_rows_added_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        let mut book = template().unwrap();
        let sheet = book.worksheet_from_index(0).unwrap();
        // As typed: the ID number as text, the phone as a number (Excel's habit).
        sheet.write_string(1, 0, "a1").unwrap();
        sheet.write_string(1, 1, "张三").unwrap();
        sheet.write_string(1, 2, "11010519491231002x").unwrap();
        sheet.write_number(1, 3, 13_800_138_000.0).unwrap();
        sheet.write_string(1, 4, "一班").unwrap();
        sheet.write_string(1, 5, "password-1").unwrap();
        sheet.write_string(3, 0, "a2").unwrap();
        sheet.write_string(3, 1, "李四").unwrap();
        sheet.write_number(3, 2, 320_106_199_003_071_234.0).unwrap();
        book.save(&path).unwrap();
        let c = check_xlsx(&path, Taken::NONE).unwrap();
        assert_eq!(c.rows.len(), 1, "{:?}", c.rejected);
        let r = &c.rows[0];
        assert_eq!(
            (
                r.row,
                r.user.as_str(),
                r.id_number.as_str(),
                r.phone.as_str()
            ),
            (2, "a1", "11010519491231002X", "13800138000")
        );
        assert_eq!(
            (r.class.as_str(), r.password.as_str()),
            ("一班", "password-1")
        );
        // An 18-digit ID number typed as a number lost its last digits in Excel:
        // refused by its checksum, on the row Excel shows (the empty row skipped).
        assert_eq!(c.rejected.len(), 1);
        assert_eq!(
            (c.rejected[0].row, c.rejected[0].code),
            (4, RowCode::BadIdNumber)
        );
        write_template(&path).unwrap();
        let c = check_xlsx(&path, Taken::NONE).unwrap();
        assert!(c.rows.is_empty() && c.rejected.is_empty());
    }
}
