//! Cursor pagination. Lists are ordered by id (ULIDs sort by creation time)
//! and the cursor is the last id of the previous page.

use serde::Serialize;

/// How many items a page may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The largest page a caller may ask for.
    pub const MAX: u32 = 1000;
    /// The page size used when none is asked for.
    pub const DEFAULT: PageLimit = PageLimit(100);

    /// Validates a requested page size: 1 to [`PageLimit::MAX`].
    pub fn new(limit: u32) -> Result<Self, &'static str> {
        if (1..=Self::MAX).contains(&limit) { Ok(Self(limit)) } else { Err("must be between 1 and 1000") }
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One page of a list request: at most `limit` items with ids greater than
/// `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<Id> {
    /// How many items at most.
    pub limit: PageLimit,
    /// Only items whose id sorts after this one (the previous page's cursor).
    pub after: Option<Id>,
}

impl<Id> PageRequest<Id> {
    /// The first page of the default size.
    pub fn first() -> Self {
        Self { limit: PageLimit::DEFAULT, after: None }
    }
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items, ordered by id.
    pub items: Vec<T>,
    /// The cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched by a store: the
    /// extra row, if present, only tells that there is a next page.
    pub fn from_overfetched(mut rows: Vec<T>, limit: PageLimit, id_of: impl Fn(&T) -> String) -> Self {
        let limit = limit.get() as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(id_of)
        } else {
            None
        };
        Self { items: rows, next_cursor }
    }
}
