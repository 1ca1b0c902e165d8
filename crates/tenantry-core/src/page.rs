//! Cursor pagination. Lists are ordered by id (ULIDs sort by creation time)
//! and the cursor is the last id of the previous page.

use serde::Serialize;

/// How many items a page may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The largest page any server answers; a server may be configured to
    /// answer less (`--max-page-size`), never more.
    pub const MAX: u32 = 1000;
    /// The largest page, as a limit.
    pub const LARGEST: PageLimit = PageLimit(Self::MAX);
    /// The page size used when none is asked for (or the server's largest
    /// page, when that is smaller).
    pub const DEFAULT: PageLimit = PageLimit(100);

    /// Validates a requested page size: 1 to [`PageLimit::MAX`].
    pub fn new(limit: u32) -> Result<Self, &'static str> {
        if (1..=Self::MAX).contains(&limit) { Ok(Self(limit)) } else { Err("must be between 1 and 1000") }
    }

    /// Validates a requested page size against a server's largest page:
    /// 1 to `largest`.
    pub fn at_most(limit: u32, largest: PageLimit) -> Result<Self, String> {
        if (1..=largest.0).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(format!("must be an integer between 1 and {}", largest.0))
        }
    }

    /// The page size for a request that asks for none: [`PageLimit::DEFAULT`],
    /// or `largest` when that is smaller.
    pub fn default_at_most(largest: PageLimit) -> Self {
        Self::DEFAULT.min(largest)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_largest_page_bounds_requests_and_the_default() {
        let fifty = PageLimit::new(50).unwrap();
        assert_eq!(PageLimit::at_most(50, fifty), Ok(fifty));
        assert_eq!(PageLimit::at_most(51, fifty), Err("must be an integer between 1 and 50".to_owned()));
        assert!(PageLimit::at_most(0, fifty).is_err());
        assert_eq!(PageLimit::at_most(1000, PageLimit::LARGEST).map(PageLimit::get), Ok(1000));
        assert_eq!(PageLimit::default_at_most(fifty), fifty);
        assert_eq!(PageLimit::default_at_most(PageLimit::LARGEST), PageLimit::DEFAULT);
    }
}
