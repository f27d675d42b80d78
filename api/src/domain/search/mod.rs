//! Search over embeddings. The database holds the vectors (the source of truth); a
//! [`VectorIndex`] answers queries from memory and is rebuilt from the database at start.

mod lexical;
mod pool;
mod scan;
pub mod sync;
pub mod terms;

pub use lexical::{LexicalIndex, SqlLexicalIndex};
pub use pool::SearchPool;
pub use scan::ScanIndex;

/// Reciprocal rank fusion of ranked id lists (`k` = 60, as in the original paper), scaled so
/// that first in every list is 1.0.
pub fn fuse(lists: &[Vec<String>]) -> Vec<(String, f64)> {
    const K: f64 = 60.0;
    let mut scores: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for list in lists {
        for (rank, id) in list.iter().enumerate() {
            *scores.entry(id.as_str()).or_default() += 1.0 / (K + rank as f64 + 1.0);
        }
    }
    let best = lists.len().max(1) as f64 / (K + 1.0);
    let mut fused: Vec<(String, f64)> = scores
        .into_iter()
        .map(|(id, score)| (id.to_string(), score / best))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    fused
}

/// What the index keeps of one item: compact metadata to filter on, and its vector.
#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub owner: String,
    pub kind: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub importance: f32,
    pub vector: Vec<f32>,
}

/// Which items a query may see. `owner` always applies.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub owner: String,
    pub kinds: Vec<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub min_importance: Option<f32>,
    pub exclude: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: String,
    /// Cosine similarity of unit vectors (the dot product), computed in f32.
    pub score: f32,
}

pub struct Results {
    pub hits: Vec<Hit>,
    /// How many items passed the filter (each was compared with the query, exactly or by
    /// sketch).
    pub candidates: usize,
}

/// One search of [`VectorIndex::search_many`].
pub struct Query<'a> {
    pub filter: &'a Filter,
    pub vector: &'a [f32],
    pub k: usize,
}

pub trait VectorIndex: Send + Sync {
    fn upsert(&self, item: Item);
    fn remove(&self, id: &str);
    /// The `k` best items passing `filter`, best first.
    fn search(&self, filter: &Filter, query: &[f32], k: usize) -> Results;
    /// Several searches, each answered as [`Self::search`] would; an index that can share
    /// one pass over its items between them does.
    fn search_many(&self, queries: &[Query<'_>]) -> Vec<Results> {
        queries
            .iter()
            .map(|q| self.search(q.filter, q.vector, q.k))
            .collect()
    }
    fn len(&self) -> usize;
    /// How many items `owner` has.
    fn count(&self, owner: &str) -> usize;
    /// Every item's id, to find what a resynchronisation must drop.
    fn ids(&self) -> Vec<String>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Over the common length (the inference crate's lane-accumulating kernel).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    orrery_inference::f32_dot(&a[..len], &b[..len])
}

/// f32 little-endian bytes, as stored.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
