//! A check for the enums stored in `text` columns: each variant is written
//! as the name that the migrations' CHECK constraints and the static SQL
//! use (and, for enums the API shows, the name it serialises as).

use sqlx::postgres::PgArgumentBuffer;
use sqlx::{Encode, Postgres};

/// Every variant is written to Postgres as `names[i]`.
pub(crate) fn assert_stored_as<T>(variants: &[T], names: &[&str])
where
    T: for<'q> Encode<'q, Postgres> + std::fmt::Debug,
{
    assert_eq!(variants.len(), names.len(), "one name per variant");
    for (variant, name) in variants.iter().zip(names) {
        let mut buf = PgArgumentBuffer::default();
        let null = variant.encode_by_ref(&mut buf).unwrap();
        assert!(matches!(null, sqlx::encode::IsNull::No), "{variant:?}");
        assert_eq!(std::str::from_utf8(&buf).unwrap(), *name, "{variant:?}");
    }
}
