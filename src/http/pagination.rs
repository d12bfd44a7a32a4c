//! The one list envelope of the API and its cursor parameters.

use crate::kernel::bounded::PageLimit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=&cursor=` on every list endpoint.
#[derive(Debug, Default, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–100 (default 20).
    pub limit: Option<PageLimit>,
    /// Opaque cursor from the previous page's `next_cursor`.
    #[validate(length(max = 200, code = "invalid_cursor", message = "is not a cursor"))]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> u32 {
        self.limit.map_or(DEFAULT_LIMIT, |l| u32::try_from(l.get()).unwrap_or(MAX_LIMIT)).clamp(1, MAX_LIMIT)
    }
}

/// `{"data": [...], "has_more": bool, "next_cursor": …}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows fetched in cursor order: the extra row only tells that
    /// there is more. `cursor_of` gives the cursor of an item.
    pub fn from_overfetch<R>(
        mut rows: Vec<R>,
        limit: u32,
        cursor_of: impl Fn(&R) -> String,
        map: impl FnMut(R) -> T,
    ) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(&cursor_of) } else { None };
        Page { data: rows.into_iter().map(map).collect(), has_more, next_cursor }
    }
}
