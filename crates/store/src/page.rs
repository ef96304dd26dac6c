//! Cursor pagination shared by every list query.

use serde::Serialize;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// One page of a list, and the cursor of the next one if there is more.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with `LIMIT limit + 1`: the extra row
    /// only tells that another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<C> {
    pub after: Option<C>,
    pub limit: i64,
}

impl<C> PageRequest<C> {
    pub fn new(after: Option<C>, limit: Option<i64>) -> Self {
        Self {
            after,
            limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        }
    }

    /// The SQL `LIMIT`: one more than asked, to learn whether more exist.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_row_yields_a_cursor() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
    }

    #[test]
    fn last_page_has_no_cursor() {
        let page = Page::from_rows(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(PageRequest::<()>::new(None, Some(0)).limit, 1);
        assert_eq!(PageRequest::<()>::new(None, Some(10_000)).limit, MAX_LIMIT);
        assert_eq!(PageRequest::<()>::new(None, None).limit, DEFAULT_LIMIT);
    }
}
