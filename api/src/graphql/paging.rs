//! Forward pagination over a store's `limit`/`offset`: cursors are positions.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::OutputType;

use super::errors::{coded, ErrorCode};
use super::identity::ConnectionTotal;

/// `(limit, offset)` from `first` (1–100, default 10) and `after`.
pub fn window(first: Option<i32>, after: Option<String>) -> async_graphql::Result<(u64, u64)> {
    let first = first.unwrap_or(10);
    if !(1..=100).contains(&first) {
        return Err(coded(
            "`first` must be between 1 and 100",
            ErrorCode::BadUserInput,
        ));
    }
    let offset = match after {
        Some(cursor) => cursor
            .parse::<u64>()
            .map(|c| c + 1)
            .map_err(|_| coded("invalid cursor", ErrorCode::BadUserInput))?,
        None => 0,
    };
    Ok((first as u64, offset))
}

/// The page of `items` found at `offset` of `total`.
pub fn connection<T: OutputType>(
    items: Vec<T>,
    offset: u64,
    total: u64,
) -> Connection<String, T, ConnectionTotal, EmptyFields> {
    let end = offset + items.len() as u64;
    let mut connection = Connection::with_additional_fields(
        offset > 0,
        end < total,
        ConnectionTotal {
            total_count: total as usize,
        },
    );
    connection.edges.extend(
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Edge::new((offset + i as u64).to_string(), item)),
    );
    connection
}
