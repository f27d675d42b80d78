//! The default [`VectorIndex`]: a scan of every item in memory. Each owner's items are kept
//! in partitions by type and width, so a type filter skips whole partitions.
//!
//! A partition of at most [`SearchConfig::exact_up_to`] items is scanned exactly. Its items
//! sit in chunks of [`CHUNK_ROWS`], each chunk's int8 vectors interleaved in blocks
//! ([`orrery_inference::int8_block_dots`]): a scan streams memory, scores sixteen items per
//! instruction, and scores every query of a [`VectorIndex::search_many`] against a block
//! while it is in cache, so searches that arrive together read the rows once. Survivors of
//! the metadata filter are scored in int8 (a quarter of the memory traffic of f32) and the
//! best [`RERANK`] re-ranked in f32, so the order returned is the f32 order.
//!
//! A larger partition is scanned by its sign sketches ([`orrery_inference::sign_sketch`]:
//! the signs of the rotated vector, 512 bits for 384 dimensions, a sixth of the int8 bytes),
//! and the [`SearchConfig::rescored`] items nearest by sketch are scored in f32. A scan of
//! 100 000 memories is bound by the bytes it reads, so this is several times faster, and
//! approximate: which items make the top `k` may differ (recall measured on real text
//! embeddings in docs/PERFORMANCE.md), every score returned is exact. An `exact_up_to`
//! larger than any partition keeps every scan exact.
//!
//! Chunks are shared (`Arc`) with the searches that read them: a search holds the index's
//! lock only to take the chunks it will scan, and a change copies the one chunk it touches
//! if a search still holds it. A write never waits for a scan, nor a scan for a write.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::SearchConfig;
use orrery_inference::{
    block_offset, blocked_len, int8_block_dots, sign_distances, sign_sketch, sign_words, LANES,
};

use super::{dot, Filter, Hit, Item, Query, Results, VectorIndex};

/// How many int8 candidates are re-scored in f32.
const RERANK: usize = 50;
/// Items a chunk holds: small enough that copying one on a change is cheap (~250 KB at 384
/// dimensions), large enough that a scan's per-chunk work is noise.
const CHUNK_ROWS: usize = 128;

thread_local! {
    /// A chunk's int8 scores per query, reused by every search on this thread.
    static SCORES: std::cell::RefCell<Vec<Vec<i32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Up to [`CHUNK_ROWS`] items of one partition, in parallel arrays.
#[derive(Clone, Default)]
struct Chunk {
    ids: Vec<Arc<str>>,
    created_at: Vec<i64>,
    importance: Vec<f32>,
    scales: Vec<f32>,
    /// The int8 vectors, blocked ([`block_offset`]) at the partition's padded width.
    blocks: Vec<i8>,
    /// The sign sketches, item after item ([`Shape::words`] each).
    signs: Vec<u64>,
    /// The f32 vectors, item after item, to re-rank.
    vectors: Vec<f32>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn push(&mut self, id: Arc<str>, item: &Item, shape: Shape) {
        let (scale, quantized) = quantize(&item.vector);
        let row = self.len();
        if row.is_multiple_of(LANES) {
            self.blocks.resize(blocked_len(row + 1, shape.padded), 0);
        }
        for (at, value) in quantized.into_iter().enumerate() {
            self.blocks[block_offset(row, at, shape.padded)] = value;
        }
        sign_sketch(&item.vector[..shape.width], &mut self.signs);
        self.ids.push(id);
        self.created_at.push(item.created_at);
        self.importance.push(item.importance);
        self.scales.push(scale);
        self.vectors.extend(&item.vector[..shape.width]);
    }

    /// Removes row `at` by moving the last item into its place; returns the moved item's id.
    fn swap_remove(&mut self, at: usize, shape: Shape) -> Option<Arc<str>> {
        let last = self.len() - 1;
        for d in 0..shape.padded {
            let from = block_offset(last, d, shape.padded);
            self.blocks[block_offset(at, d, shape.padded)] = self.blocks[from];
            self.blocks[from] = 0;
        }
        self.blocks.truncate(blocked_len(last, shape.padded));
        self.signs.copy_within(
            last * shape.words..(last + 1) * shape.words,
            at * shape.words,
        );
        self.signs.truncate(last * shape.words);
        self.vectors.copy_within(
            last * shape.width..(last + 1) * shape.width,
            at * shape.width,
        );
        self.vectors.truncate(last * shape.width);
        self.ids.swap_remove(at);
        self.created_at.swap_remove(at);
        self.importance.swap_remove(at);
        self.scales.swap_remove(at);
        (at != last).then(|| self.ids[at].clone())
    }
}

/// A partition's vector width, the int8 width padded to whole groups of the kernel, and the
/// words of a sign sketch.
#[derive(Clone, Copy)]
struct Shape {
    width: usize,
    padded: usize,
    words: usize,
}

impl Shape {
    fn of(width: usize) -> Self {
        Self {
            width,
            padded: width.next_multiple_of(orrery_inference::GROUP),
            words: sign_words(width),
        }
    }
}

/// Items of one owner, type and width.
struct Partition {
    shape: Shape,
    chunks: Vec<Arc<Chunk>>,
    /// id → (chunk, row), to update and remove in place.
    positions: HashMap<Arc<str>, (usize, usize)>,
}

impl Partition {
    fn new(width: usize) -> Self {
        Self {
            shape: Shape::of(width),
            chunks: Vec::new(),
            positions: HashMap::new(),
        }
    }

    fn push(&mut self, item: Item) {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_ROWS) {
            self.chunks.push(Arc::default());
        }
        let at = self.chunks.len() - 1;
        // Copies the chunk only when a search still reads it.
        let chunk = Arc::make_mut(&mut self.chunks[at]);
        let id: Arc<str> = item.id.as_str().into();
        self.positions.insert(id.clone(), (at, chunk.len()));
        chunk.push(id, &item, self.shape);
    }

    fn remove(&mut self, id: &str) {
        let Some((at, row)) = self.positions.remove(id) else {
            return;
        };
        let chunk = Arc::make_mut(&mut self.chunks[at]);
        if let Some(moved) = chunk.swap_remove(row, self.shape) {
            self.positions.insert(moved, (at, row));
        }
        if chunk.len() == 0 {
            self.chunks.swap_remove(at);
            if let Some(moved) = self.chunks.get(at) {
                for (row, id) in moved.ids.iter().enumerate() {
                    self.positions.insert(id.clone(), (at, row));
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.positions.len()
    }
}

/// A partition's key: the item's type (interned) and its vector's width.
type Shelf = HashMap<(u32, usize), Partition>;

#[derive(Default)]
struct Inner {
    owners: HashMap<String, Shelf>,
    /// id → where it is, to find an item without its owner.
    where_is: HashMap<String, (String, (u32, usize))>,
    kinds: HashMap<String, u32>,
}

#[derive(Default)]
pub struct ScanIndex {
    inner: RwLock<Inner>,
    settings: SearchConfig,
}

impl ScanIndex {
    pub fn new(settings: SearchConfig) -> Self {
        Self {
            inner: RwLock::default(),
            settings,
        }
    }
}

fn quantize(vector: &[f32]) -> (f32, Vec<i8>) {
    let max = vector.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (0.0, vec![0; vector.len()]);
    }
    let scale = max / 127.0;
    (
        scale,
        vector
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect(),
    )
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some((owner, key)) = self.where_is.remove(id) {
            if let Some(partition) = self.owners.get_mut(&owner).and_then(|s| s.get_mut(&key)) {
                partition.remove(id);
            }
        }
    }

    /// The partitions `filter` may see at `width`: their chunks as they are now.
    fn taken(&self, filter: &Filter, width: usize, settings: SearchConfig) -> Vec<Taken> {
        let Some(shelf) = self.owners.get(&filter.owner) else {
            return Vec::new();
        };
        let kinds: Vec<u32> = filter
            .kinds
            .iter()
            .filter_map(|k| self.kinds.get(k).copied())
            .collect();
        if !filter.kinds.is_empty() && kinds.is_empty() {
            return Vec::new();
        }
        shelf
            .iter()
            .filter(|((kind, w), _)| *w == width && (kinds.is_empty() || kinds.contains(kind)))
            .map(|(key, partition)| Taken {
                key: (filter.owner.clone(), *key),
                shape: partition.shape,
                chunks: partition.chunks.clone(),
                sketched: partition.len() > settings.exact_up_to,
            })
            .collect()
    }
}

/// A partition's chunks as a search took them.
struct Taken {
    key: (String, (u32, usize)),
    shape: Shape,
    chunks: Vec<Arc<Chunk>>,
    /// Scanned by sign sketches (larger than [`SearchConfig::exact_up_to`]).
    sketched: bool,
}

/// Where an item is during a pass: (partition, chunk, row).
type At = (usize, usize, usize);

/// One query's state during a pass.
struct Search<'a> {
    query: &'a Query<'a>,
    /// The best int8 scores of exactly scanned partitions so far, highest first.
    best: Vec<(f32, At)>,
    keep: usize,
    candidates: usize,
    /// No filter beyond owner and type: every item of a partition is a candidate.
    unfiltered: bool,
    /// The sketch distance of every row of the sketched partitions it reads, in scan order
    /// ([`FILTERED`] for a row the filter refuses).
    distances: Vec<u16>,
    /// How many rows the filter passed are at each distance.
    histogram: Vec<u32>,
    /// The chunks those rows belong to, in scan order: (partition, chunk).
    measured: Vec<(usize, usize)>,
}

/// The distance recorded for a row the filter refuses: farther than any sketch can be.
const FILTERED: u16 = u16::MAX;

impl Search<'_> {
    fn passes(&self, chunk: &Chunk, row: usize) -> bool {
        let filter = self.query.filter;
        let created_at = chunk.created_at[row];
        !(filter.created_from.is_some_and(|from| created_at < from)
            || filter.created_to.is_some_and(|to| created_at > to)
            || filter
                .min_importance
                .is_some_and(|min| chunk.importance[row] < min)
            || filter.exclude.as_deref() == Some(&*chunk.ids[row]))
    }

    fn offer(&mut self, approx: f32, at: At) {
        if self.best.len() == self.keep && self.best.last().is_some_and(|b| b.0 >= approx) {
            return;
        }
        let place = self.best.partition_point(|b| b.0 >= approx);
        self.best.insert(place, (approx, at));
        self.best.truncate(self.keep);
    }

    /// Sketch distances of chunk `c` of partition `p`, the filter applied, and counted.
    fn measure(&mut self, (p, c): (usize, usize), chunk: &Chunk, query: &[u64]) {
        let start = self.distances.len();
        sign_distances(&chunk.signs, query, &mut self.distances);
        let mut passed = chunk.len();
        if !self.unfiltered {
            for row in 0..chunk.len() {
                if !self.passes(chunk, row) {
                    self.distances[start + row] = FILTERED;
                    passed -= 1;
                }
            }
        }
        self.candidates += passed;
        if self.histogram.is_empty() {
            // Every distance is at most the sketch's bits.
            self.histogram.resize(query.len() * 64 + 1, 0);
        }
        for &distance in self.distances[start..].iter().filter(|&&d| d != FILTERED) {
            self.histogram[usize::from(distance)] += 1;
        }
        self.measured.push((p, c));
    }

    /// Its `wanted` nearest rows by sketch: every row under the cutoff distance, and the
    /// first rows at it that complete them.
    fn nearest_by_sketch(&self, partitions: &[Taken], wanted: usize) -> Vec<At> {
        let (cutoff, mut at_cutoff) = cutoff(&self.histogram, wanted);
        let mut nearest = Vec::with_capacity(wanted.min(self.distances.len()));
        let mut start = 0;
        for &(p, c) in &self.measured {
            let rows = partitions[p].chunks[c].len();
            for (row, &distance) in self.distances[start..start + rows].iter().enumerate() {
                if distance < cutoff || (distance == cutoff && at_cutoff > 0) {
                    at_cutoff -= usize::from(distance == cutoff);
                    nearest.push((p, c, row));
                }
            }
            start += rows;
        }
        nearest
    }
}

/// From how many rows are at each distance, the distance under which fewer than `wanted`
/// rows lie and how many of the rows at it complete them; ([`FILTERED`], 0) — every row —
/// when fewer than `wanted` rows were counted.
fn cutoff(histogram: &[u32], wanted: usize) -> (u16, usize) {
    let mut below = 0;
    for (distance, &count) in histogram.iter().enumerate() {
        let count = count as usize;
        if below + count >= wanted {
            return (distance as u16, wanted - below);
        }
        below += count;
    }
    (FILTERED, 0)
}

impl VectorIndex for ScanIndex {
    fn upsert(&self, item: Item) {
        let mut inner = self.inner.write().expect("index lock");
        let next_kind = inner.kinds.len() as u32;
        let kind = *inner.kinds.entry(item.kind.clone()).or_insert(next_kind);
        inner.remove(&item.id);
        let key = (kind, item.vector.len());
        inner
            .where_is
            .insert(item.id.clone(), (item.owner.clone(), key));
        inner
            .owners
            .entry(item.owner.clone())
            .or_default()
            .entry(key)
            .or_insert_with(|| Partition::new(key.1))
            .push(item);
    }

    fn remove(&self, id: &str) {
        self.inner.write().expect("index lock").remove(id);
    }

    fn search(&self, filter: &Filter, query: &[f32], k: usize) -> Results {
        self.search_many(&[Query {
            filter,
            vector: query,
            k,
        }])
        .pop()
        .expect("one result a query")
    }

    fn search_many(&self, queries: &[Query<'_>]) -> Vec<Results> {
        // Each partition once, with the queries that read it; the lock only while taking.
        let mut partitions: Vec<Taken> = Vec::new();
        let mut readers: Vec<Vec<usize>> = Vec::new();
        {
            let inner = self.inner.read().expect("index lock");
            for (q, query) in queries.iter().enumerate() {
                for taken in inner.taken(query.filter, query.vector.len(), self.settings) {
                    match partitions.iter().position(|p| p.key == taken.key) {
                        Some(at) => readers[at].push(q),
                        None => {
                            partitions.push(taken);
                            readers.push(vec![q]);
                        }
                    }
                }
            }
        }
        // A query's scale is the same for every item: it cannot change the order.
        let quantized: Vec<Vec<i8>> = queries
            .iter()
            .map(|query| {
                let (_, mut quantized) = quantize(query.vector);
                quantized.resize(Shape::of(query.vector.len()).padded, 0);
                quantized
            })
            .collect();
        let sketches: Vec<Vec<u64>> = queries
            .iter()
            .map(|query| {
                let mut sketch = Vec::new();
                sign_sketch(query.vector, &mut sketch);
                sketch
            })
            .collect();
        let mut searches: Vec<Search> = queries
            .iter()
            .map(|query| {
                let filter = query.filter;
                Search {
                    query,
                    best: Vec::new(),
                    keep: RERANK.max(query.k),
                    candidates: 0,
                    unfiltered: filter.created_from.is_none()
                        && filter.created_to.is_none()
                        && filter.min_importance.is_none()
                        && filter.exclude.is_none(),
                    distances: Vec::new(),
                    histogram: Vec::new(),
                    measured: Vec::new(),
                }
            })
            .collect();
        SCORES.with_borrow_mut(|scores| {
            for (p, (partition, readers)) in partitions.iter().zip(&readers).enumerate() {
                if partition.sketched {
                    for (c, chunk) in partition.chunks.iter().enumerate() {
                        for &q in readers {
                            searches[q].measure((p, c), chunk, &sketches[q]);
                        }
                    }
                    continue;
                }
                let read: Vec<&[i8]> = readers.iter().map(|&q| quantized[q].as_slice()).collect();
                for (c, chunk) in partition.chunks.iter().enumerate() {
                    // Every reader's int8 scores of the chunk in one kernel call; the
                    // filter is applied after.
                    int8_block_dots(&chunk.blocks, partition.shape.padded, &read, scores);
                    for (&q, scored) in readers.iter().zip(scores.iter()) {
                        let search = &mut searches[q];
                        for (row, (score, scale)) in scored.iter().zip(&chunk.scales).enumerate() {
                            if search.unfiltered || search.passes(chunk, row) {
                                search.candidates += 1;
                                // Scales differ per vector: compare on a common footing.
                                search.offer(*score as f32 * scale, (p, c, row));
                            }
                        }
                    }
                }
            }
        });
        searches
            .into_iter()
            .map(|search| {
                let query = search.query.vector;
                let width = query.len();
                let wanted = self.settings.rescored.max(search.query.k);
                let nearest = search.nearest_by_sketch(&partitions, wanted);
                let mut scored: Vec<(f32, &str)> = search
                    .best
                    .iter()
                    .map(|&(_, at)| at)
                    .chain(nearest)
                    .map(|(p, c, row)| {
                        let chunk = &partitions[p].chunks[c];
                        let score = dot(&chunk.vectors[row * width..(row + 1) * width], query);
                        (score, &*chunk.ids[row])
                    })
                    .collect();
                // Highest score first, ties by id; only the `k` returned are sorted and
                // copied out of the index (a sketch scan re-scores a thousand).
                let order =
                    |a: &(f32, &str), b: &(f32, &str)| b.0.total_cmp(&a.0).then(a.1.cmp(b.1));
                let k = search.query.k;
                if scored.len() > k && k > 0 {
                    scored.select_nth_unstable_by(k - 1, order);
                }
                scored.truncate(k);
                scored.sort_unstable_by(order);
                Results {
                    hits: scored
                        .into_iter()
                        .map(|(score, id)| Hit {
                            id: id.to_string(),
                            score,
                        })
                        .collect(),
                    candidates: search.candidates,
                }
            })
            .collect()
    }

    fn count(&self, owner: &str) -> usize {
        let inner = self.inner.read().expect("index lock");
        inner
            .owners
            .get(owner)
            .map_or(0, |shelf| shelf.values().map(Partition::len).sum())
    }

    fn len(&self) -> usize {
        self.inner.read().expect("index lock").where_is.len()
    }

    fn ids(&self) -> Vec<String> {
        let inner = self.inner.read().expect("index lock");
        inner.where_is.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalized;
    use super::*;

    fn random_vector(seed: &mut u64, dims: usize) -> Vec<f32> {
        normalized(
            (0..dims)
                .map(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    (*seed % 2000) as f32 / 1000.0 - 1.0
                })
                .collect(),
        )
    }

    /// An index that scans every partition by sketch and re-scores the `rescored` nearest.
    fn sketched(rescored: usize) -> ScanIndex {
        ScanIndex::new(SearchConfig {
            exact_up_to: 0,
            rescored,
        })
    }

    fn item(id: usize, owner: &str, kind: &str, vector: Vec<f32>) -> Item {
        Item {
            id: format!("m{id}"),
            owner: owner.into(),
            kind: kind.into(),
            created_at: id as i64,
            importance: (id % 10) as f32 / 10.0,
            vector,
        }
    }

    #[test]
    fn top_ten_equals_the_exact_f32_order() {
        let index = ScanIndex::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut all = Vec::new();
        for id in 0..3000 {
            let vector = random_vector(&mut seed, 64);
            all.push((format!("m{id}"), vector.clone()));
            index.upsert(item(id, "ada", "semantic", vector));
        }
        for _ in 0..20 {
            let query = random_vector(&mut seed, 64);
            let mut exact: Vec<(f32, &String)> =
                all.iter().map(|(id, v)| (dot(v, &query), id)).collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let filter = Filter {
                owner: "ada".into(),
                ..Default::default()
            };
            let got = index.search(&filter, &query, 10);
            let want: Vec<&String> = exact.iter().take(10).map(|(_, id)| *id).collect();
            let got_ids: Vec<&String> = got.hits.iter().map(|h| &h.id).collect();
            assert_eq!(got_ids, want, "recall@10 is 1.0");
            assert_eq!(got.candidates, 3000);
        }
    }

    /// The share of the exact f32 top ten a large partition returns over `queries` queries
    /// (ties with the tenth count as found); every item is a candidate.
    fn recall(index: ScanIndex, vectors: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
        for (id, vector) in vectors.iter().enumerate() {
            index.upsert(item(id, "ada", "semantic", vector.clone()));
        }
        let filter = Filter {
            owner: "ada".into(),
            ..Default::default()
        };
        let mut found_total = 0;
        for query in queries {
            let mut exact: Vec<(f32, usize)> = vectors
                .iter()
                .enumerate()
                .map(|(id, v)| (dot(v, query), id))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let found = index.search(&filter, query, 10);
            assert_eq!(found.candidates, vectors.len());
            // Tie-aware: a hit scoring as well as the exact tenth is as good as it.
            let tenth = exact[9].0 - 1e-6;
            found_total += found.hits.iter().filter(|h| h.score >= tenth).count();
        }
        found_total as f64 / (10 * queries.len()) as f64
    }

    #[test]
    fn the_cutoff_takes_the_nearest_rows_and_the_first_of_a_tie() {
        // Rows at distances 0, 1, 3, 3, 3, 5, 9.
        let mut histogram = vec![0u32; 10];
        for d in [5, 1, 3, 3, 3, 0, 9] {
            histogram[d] += 1;
        }
        assert_eq!(cutoff(&histogram, 1), (0, 1));
        assert_eq!(cutoff(&histogram, 3), (3, 1), "0 and 1, then one of the 3s");
        assert_eq!(cutoff(&histogram, 5), (3, 3));
        assert_eq!(cutoff(&histogram, 7), (9, 1));
        assert_eq!(
            cutoff(&histogram, 8),
            (FILTERED, 0),
            "fewer rows than wanted: all"
        );
        assert_eq!(cutoff(&[], 4), (FILTERED, 0));
    }

    #[test]
    fn a_large_partition_finds_the_exact_top_ten() {
        // Random dense vectors: the hardest case (no structure; the tenth best is barely
        // above the rest).
        let mut seed = 7;
        let vectors: Vec<Vec<f32>> = (0..4_000).map(|_| random_vector(&mut seed, 384)).collect();
        let queries: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut seed, 384)).collect();
        let dense = recall(ScanIndex::default(), &vectors, &queries);
        let dense_everything = recall(sketched(usize::MAX), &vectors, &queries);
        let dense_sketched = recall(sketched(200), &vectors, &queries);
        // Texts through the builtin provider's embedding, as memories are stored.
        let words = [
            "ledger", "chain", "token", "policy", "review", "memory", "quantum", "photon", "river",
            "forest", "engine", "signal", "garden", "market", "planet", "crystal",
        ];
        let text = |n: usize| {
            format!(
                "note {n}: the {} near the {} and the {}",
                words[n % 16],
                words[(n * 7) % 16],
                words[(n * 13 + n / 16) % 16]
            )
        };
        let embed =
            |t: &str| super::super::normalized(crate::providers::builtin_hash_embedding(t, 384));
        let vectors: Vec<Vec<f32>> = (0..4_000).map(|n| embed(&text(n))).collect();
        let queries: Vec<Vec<f32>> = (0..20)
            .map(|n| {
                embed(&format!(
                    "the {} and the {}",
                    words[n % 16],
                    words[(n * 5 + 3) % 16]
                ))
            })
            .collect();
        let texts = recall(ScanIndex::default(), &vectors, &queries);
        let texts_sketched = recall(sketched(200), &vectors, &queries);
        assert_eq!(dense, 1.0, "random vectors: recall@10 {dense}");
        assert_eq!(texts, 1.0, "texts: recall@10 {texts}");
        assert_eq!(dense_everything, 1.0, "every item re-scored is exact");
        // Sketches re-scoring 5 % of the items (the default re-scores 1 % of 100 000). Random
        // vectors have no near neighbours to tell apart from the rest: 0.765 when written.
        // Texts have: 1.0 when written (real embeddings: docs/PERFORMANCE.md).
        assert!(
            dense_sketched >= 0.7,
            "random vectors, sketched: recall@10 {dense_sketched}"
        );
        assert!(
            texts_sketched >= 0.95,
            "texts, sketched: recall@10 {texts_sketched}"
        );
    }

    #[test]
    fn filters_owners_kinds_dates_importance_and_updates_apply() {
        filters_apply(ScanIndex::default());
        filters_apply(sketched(usize::MAX));
        filters_apply(sketched(3));
    }

    fn filters_apply(index: ScanIndex) {
        let mut seed = 42;
        for id in 0..100 {
            let kind = if id % 2 == 0 { "episodic" } else { "semantic" };
            let owner = if id < 80 { "ada" } else { "bob" };
            index.upsert(item(id, owner, kind, random_vector(&mut seed, 16)));
        }
        let query = random_vector(&mut seed, 16);
        let filter = Filter {
            owner: "ada".into(),
            kinds: vec!["episodic".into()],
            created_from: Some(10),
            created_to: Some(49),
            min_importance: Some(0.5),
            exclude: Some("m16".into()),
        };
        let found = index.search(&filter, &query, 100);
        // Even ids 10..=48 whose last digit is ≥ 5: 16, 18, 26, 28, 36, 38, 46, 48 but not 16.
        assert_eq!(found.candidates, 7);
        assert!(found.hits.iter().all(|h| h.id != "m16"));
        let bob = index.search(
            &Filter {
                owner: "bob".into(),
                ..Default::default()
            },
            &query,
            100,
        );
        assert_eq!(bob.candidates, 20);
        assert!(index
            .search(
                &Filter {
                    owner: "eve".into(),
                    ..Default::default()
                },
                &query,
                5
            )
            .hits
            .is_empty());

        index.upsert(item(3, "ada", "semantic", query.clone()));
        let top = index.search(
            &Filter {
                owner: "ada".into(),
                ..Default::default()
            },
            &query,
            1,
        );
        assert_eq!(top.hits[0].id, "m3");
        assert!((top.hits[0].score - 1.0).abs() < 1e-5);
        assert_eq!(index.len(), 100);
        index.remove("m3");
        assert_eq!(index.len(), 99);
        let top = index.search(
            &Filter {
                owner: "ada".into(),
                ..Default::default()
            },
            &query,
            1,
        );
        assert_ne!(top.hits[0].id, "m3");
    }

    /// Removing from the middle of a partition moves its last item into the gap: every
    /// remaining item must still be found with its own vector, and a moved item updated.
    #[test]
    fn removals_and_moves_keep_every_item_where_it_is_found() {
        removals_and_moves(ScanIndex::default());
        removals_and_moves(sketched(2));
    }

    fn removals_and_moves(index: ScanIndex) {
        let mut seed = 7;
        let vectors: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut seed, 16)).collect();
        for (id, vector) in vectors.iter().enumerate() {
            index.upsert(item(id, "ada", "episodic", vector.clone()));
        }
        for id in [0, 7, 19, 3] {
            index.remove(&format!("m{id}"));
        }
        // m18 moved into a gap; it changes type and width on update.
        index.upsert(item(18, "ada", "semantic", random_vector(&mut seed, 8)));
        assert_eq!(index.len(), 16);
        assert_eq!(index.count("ada"), 16);
        let all = Filter {
            owner: "ada".into(),
            ..Default::default()
        };
        for (id, vector) in vectors.iter().enumerate() {
            let top = index.search(&all, vector, 1);
            if [0, 7, 19, 3, 18].contains(&id) {
                assert!(top
                    .hits
                    .iter()
                    .all(|h| h.id != format!("m{id}") || h.score < 0.999));
            } else {
                assert_eq!(top.hits[0].id, format!("m{id}"));
                assert!((top.hits[0].score - 1.0).abs() < 1e-5);
            }
        }
        assert_eq!(index.search(&all, &vectors[1], 100).candidates, 15);
    }

    /// Removals across many chunks (whole chunks emptied, rows moved inside others): every
    /// remaining item is still found by its own vector, and none removed is.
    #[test]
    fn removals_across_chunks_keep_every_item_findable() {
        removals_across_chunks(ScanIndex::default());
        removals_across_chunks(sketched(2));
    }

    fn removals_across_chunks(index: ScanIndex) {
        let mut seed = 11;
        let n = CHUNK_ROWS * 5 + 7;
        let vectors: Vec<Vec<f32>> = (0..n).map(|_| random_vector(&mut seed, 24)).collect();
        for (id, vector) in vectors.iter().enumerate() {
            index.upsert(item(id, "ada", "episodic", vector.clone()));
        }
        // The whole second chunk, and every third item elsewhere.
        let gone: Vec<usize> = (0..n)
            .filter(|id| (CHUNK_ROWS..2 * CHUNK_ROWS).contains(id) || id % 3 == 0)
            .collect();
        for id in &gone {
            index.remove(&format!("m{id}"));
        }
        let all = Filter {
            owner: "ada".into(),
            ..Default::default()
        };
        assert_eq!(index.count("ada"), n - gone.len());
        assert_eq!(
            index.search(&all, &vectors[1], 1).candidates,
            n - gone.len()
        );
        for (id, vector) in vectors.iter().enumerate() {
            let top = &index.search(&all, vector, 1).hits[0];
            if gone.contains(&id) {
                assert_ne!(top.id, format!("m{id}"));
            } else {
                assert_eq!(top.id, format!("m{id}"));
                assert!((top.score - 1.0).abs() < 1e-5);
            }
        }
        // Added again after the removals: found again.
        index.upsert(item(
            CHUNK_ROWS + 1,
            "ada",
            "episodic",
            vectors[CHUNK_ROWS + 1].clone(),
        ));
        let top = &index.search(&all, &vectors[CHUNK_ROWS + 1], 1).hits[0];
        assert_eq!(top.id, format!("m{}", CHUNK_ROWS + 1));
    }

    /// Searches answered together in one pass get what each would alone, whatever their
    /// owners, types, widths and filters.
    #[test]
    fn searches_in_one_pass_equal_searches_alone() {
        one_pass_equals_alone(ScanIndex::default());
        one_pass_equals_alone(sketched(20));
        // Partitions of both kinds in one pass.
        one_pass_equals_alone(ScanIndex::new(SearchConfig {
            exact_up_to: 120,
            rescored: 20,
        }));
    }

    fn one_pass_equals_alone(index: ScanIndex) {
        let mut seed = 5;
        for id in 0..900 {
            let kind = ["episodic", "semantic", "procedural"][id % 3];
            let owner = ["ada", "bob"][id % 2];
            let width = if id % 10 == 0 { 8 } else { 40 };
            index.upsert(item(id, owner, kind, random_vector(&mut seed, width)));
        }
        let filters: Vec<Filter> = (0..12)
            .map(|n| Filter {
                owner: ["ada", "bob", "eve"][n % 3].into(),
                kinds: match n % 4 {
                    0 => vec![],
                    1 => vec!["semantic".into()],
                    2 => vec!["episodic".into(), "procedural".into()],
                    _ => vec!["unknown".into()],
                },
                created_from: (n % 5 == 1).then_some(300),
                min_importance: (n % 5 == 2).then_some(0.5),
                exclude: (n % 5 == 3).then(|| "m4".into()),
                ..Default::default()
            })
            .collect();
        let vectors: Vec<Vec<f32>> = (0..12)
            .map(|n| random_vector(&mut seed, if n % 6 == 5 { 8 } else { 40 }))
            .collect();
        let queries: Vec<Query> = filters
            .iter()
            .zip(&vectors)
            .enumerate()
            .map(|(n, (filter, vector))| Query {
                filter,
                vector,
                k: 1 + n % 7,
            })
            .collect();
        let together = index.search_many(&queries);
        for (n, (query, got)) in queries.iter().zip(together).enumerate() {
            let alone = index.search(query.filter, query.vector, query.k);
            assert_eq!(got.hits, alone.hits, "query {n}");
            assert_eq!(got.candidates, alone.candidates, "query {n}");
        }
    }

    /// Writers and searchers at once: a search sees each chunk as it was when taken, so
    /// every hit is an item that existed, with its own score, and nothing panics.
    #[test]
    fn searches_during_writes_see_whole_items() {
        writes_during_searches(ScanIndex::default());
        writes_during_searches(sketched(50));
    }

    fn writes_during_searches(index: ScanIndex) {
        let index = std::sync::Arc::new(index);
        let mut seed = 3;
        let vectors: Vec<Vec<f32>> = (0..2_000).map(|_| random_vector(&mut seed, 32)).collect();
        let vectors = std::sync::Arc::new(vectors);
        for id in 0..1_000 {
            index.upsert(item(id, "ada", "semantic", vectors[id].clone()));
        }
        let writer = {
            let (index, vectors) = (index.clone(), vectors.clone());
            std::thread::spawn(move || {
                for id in 1_000..2_000 {
                    index.upsert(item(id, "ada", "semantic", vectors[id].clone()));
                    index.remove(&format!("m{}", id - 1_000));
                }
            })
        };
        let all = Filter {
            owner: "ada".into(),
            ..Default::default()
        };
        while !writer.is_finished() {
            for probe in [17, 1_500, 999] {
                let found = index.search(&all, &vectors[probe], 3);
                for hit in &found.hits {
                    let id: usize = hit.id[1..].parse().unwrap();
                    assert!((hit.score - dot(&vectors[id], &vectors[probe])).abs() < 1e-5);
                }
            }
        }
        writer.join().unwrap();
        assert_eq!(index.count("ada"), 1_000);
    }
}
