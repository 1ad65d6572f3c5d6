//! Cursor paging as every list route does it: a page size between 1 and
//! 100, one row more read than asked (it tells whether a next page
//! exists), and the last row's id as the next cursor.

use uuid::Uuid;

use crate::error::ApiError;

/// The page size asked for, or `default`; 1 to 100.
pub fn limit(asked: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(default);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 100"));
    }
    Ok(limit)
}

/// How many rows to read for a page of `limit`.
pub fn fetch(limit: u32) -> u64 {
    u64::from(limit) + 1
}

/// `rows` (read with [`fetch`]) cut to the page, and the next cursor
/// (`None` on the last page).
pub fn split<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_where_the_rows_do() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let (page, next) = split(ids.clone(), 3, |u| *u);
        assert_eq!((page.len(), next), (3, Some(ids[2])));
        let (page, next) = split(ids[..3].to_vec(), 3, |u| *u);
        assert_eq!((page.len(), next), (3, None));
        assert_eq!(fetch(3), 4);
        assert!(limit(Some(0), 20).is_err());
        assert!(limit(Some(101), 20).is_err());
        assert_eq!(limit(None, 20).unwrap(), 20);
    }
}
