//! `GET /tile/...`: C2SP tlog-tiles, hash tiles and entry bundles.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use provenix_formats::log::tile::{TILE_WIDTH, TilePath, hashes_at};

use super::{blocking, latest_size};
use crate::AppState;
use crate::error::AppError;

pub(super) async fn tile(
    State(state): State<AppState>,
    Path(rest): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let text = format!("tile/{rest}");
    let path = TilePath::parse(&text).map_err(|e| AppError::bad_request("bad-tile-path", e.to_string()))?;
    let bytes = blocking(&state, move |s| {
        let size = latest_size(s)?;
        let width = u64::from(path.width);
        let missing = || AppError::not_found(format!("{text} is beyond the tree"));
        let level = path.level.unwrap_or(0);
        // The tile must lie within the latest checkpoint's tree.
        if path.index.saturating_mul(TILE_WIDTH).saturating_add(width) > hashes_at(level, size) {
            return Err(missing());
        }
        match path.level {
            Some(level) => {
                let data = s.tile(level, path.index)?.unwrap_or_default();
                let want = usize::from(path.width) * 32;
                data.get(..want).map(<[u8]>::to_vec).ok_or_else(missing)
            }
            None => {
                let mut out = Vec::new();
                for (_, e) in s.entries(path.index * TILE_WIDTH, width)? {
                    let len = u16::try_from(e.len()).map_err(|_| missing())?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&e);
                }
                Ok(out)
            }
        }
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
