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
}

/// Whether `id` is a valid 18-character resident ID number (GB 11643-1999): 17
/// digits, a check character (`0`–`9` or `X`) matching the weighted sum modulo
/// 11, and a real birth date in characters 7–14.
pub fn id_number_valid(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = *b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if CHECK[(sum % 11) as usize] != b[17].to_ascii_uppercase() {
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

/// Checks a CSV stream (UTF-8, a BOM allowed). `taken` says whether a login name
/// exists on the platform already.
pub fn check_csv(input: impl Read, taken: &dyn Fn(&str) -> bool) -> Checked {
    let mut out = Checked::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect(),
        Err(e) => {
            out.rejected.push(Rejected {
                row: 1,
                code: RowCode::BadRow,
                message: format!("the header does not parse: {e}"),
            });
            return out;
        }
    };
    let mut at = [0usize; 6];
    for (k, name) in COLUMNS.iter().enumerate() {
        match header.iter().position(|h| h == name) {
            Some(i) => at[k] = i,
            None => {
                out.rejected.push(Rejected {
                    row: 1,
                    code: RowCode::MissingColumn,
                    message: format!(
                        "the header has no `{name}` column (columns: {})",
                        COLUMNS.join(",")
                    ),
                });
            }
        }
    }
    if !out.rejected.is_empty() {
        return out;
    }
    let mut users = HashSet::new();
    let mut ids = HashSet::new();
    for (k, record) in reader.records().enumerate() {
        let row = k as u64 + 2;
        let reject = |code: RowCode, message: String| Rejected { row, code, message };
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.rejected
                    .push(reject(RowCode::BadRow, format!("does not parse: {e}")));
                continue;
            }
        };
        if record.len() != header.len() {
            out.rejected.push(reject(
                RowCode::BadRow,
                format!("{} fields; the header has {}", record.len(), header.len()),
            ));
            continue;
        }
        let field = |i: usize| record.get(at[i]).unwrap_or("").to_owned();
        let r = Row {
            row,
            user: field(0),
            real_name: field(1),
            id_number: field(2).to_uppercase(),
            phone: field(3),
            class: field(4),
            password: field(5),
        };
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
        } else if !r.password.is_empty() && r.password.chars().count() < 8 {
            Some((
                RowCode::WeakPassword,
                "a password has at least 8 characters (or is left empty)".into(),
            ))
        } else if !users.insert(r.user.clone()) {
            Some((
                RowCode::DuplicateUser,
                format!("login name {:?} is on an earlier row", r.user),
            ))
        } else if !ids.insert(r.id_number.clone()) {
            Some((
                RowCode::DuplicateIdNumber,
                "the ID number is on an earlier row".into(),
            ))
        } else if taken(&r.user) {
            Some((
                RowCode::UserTaken,
                format!("login name {:?} exists on the platform", r.user),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => out.rejected.push(reject(code, message)),
            None => out.rows.push(r),
        }
    }
    out
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

    /// Stores `rows` as learners of `institution_id` in one transaction, with one
    /// audit entry (`learner.import`) by `actor`. Returns how many.
    pub async fn import_learners(
        &self,
        actor: &str,
        institution_id: &str,
        rows: &[Ready],
        now: i64,
    ) -> Result<u64, crate::store::StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO learners(id, institution_id, username, real_name, id_number, face_photo_ref, \
                 password_hash, created_ms, phone, class, must_set_password) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10)",
            )
            .bind(crate::store::random_id())
            .bind(institution_id)
            .bind(&r.row.user)
            .bind(&r.row.real_name)
            .bind(&r.row.id_number)
            .bind(&r.password_hash)
            .bind(now)
            .bind(&r.row.phone)
            .bind(&r.row.class)
            .bind(i64::from(r.password_hash.is_empty()))
            .execute(&mut *tx)
            .await?;
        }
        let after = serde_json::json!({"imported": rows.len()});
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
                   a1,王五,320106199003071234,,二班,\n\
                   a3,,320106199003071234,,二班,\n\
                   a4,赵六,320106199003071234,1234,二班,\n\
                   a5,钱七,320106199003071234,,二班,short\n\
                   a6,孙八,320106199003071234,,二班\n\
                   taken,周九,320106199003071234,,二班,\n";
        let c = check_csv(csv.as_bytes(), &|u| u == "taken");
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
        let c = check_csv("user,real_name\na,b\n".as_bytes(), &|_| false);
        assert!(c.rows.is_empty());
        assert!(c
            .rejected
            .iter()
            .all(|r| r.row == 1 && r.code == RowCode::MissingColumn));
        assert_eq!(c.rejected.len(), 4);
    }
}
