//! Identifiers in SQLite: stored as the text they were made from (the columns stay `TEXT`),
//! read back as their own types, so a row's columns come out typed in one place.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::ids::{AccessKeyId, IamUser, RequestPath, SecretName};

macro_rules! text_column {
    ($($name:ident),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str().map($name::new)
            }
        }
    )+};
}

text_column!(AccessKeyId, IamUser, RequestPath, SecretName);
