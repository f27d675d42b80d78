//! The default [`VectorIndex`]: exact search in memory. Each owner's items are kept in
//! partitions by type and width, each partition's int8 vectors in one contiguous buffer, so
//! a type filter skips whole partitions and a scan streams memory instead of chasing one
//! allocation per item. Survivors of the metadata filter are scored with an int8 dot product
//! (a quarter of the memory traffic of f32) and the best [`RERANK`] re-ranked in f32, so the
//! order returned is the f32 order.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{dot, Filter, Hit, Item, Results, VectorIndex};

/// How many int8 candidates are re-scored in f32.
const RERANK: usize = 50;

thread_local! {
    /// A partition's int8 scores, reused by every search on this thread.
    static SCORES: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Items of one owner, type and width, in parallel arrays.
#[derive(Default)]
struct Partition {
    ids: Vec<String>,
    created_at: Vec<i64>,
    importance: Vec<f32>,
    scales: Vec<f32>,
    /// `len × width` quants, item after item.
    quantized: Vec<i8>,
    vectors: Vec<f32>,
    /// id → position, to update and remove in place.
    positions: HashMap<String, usize>,
}

impl Partition {
    fn push(&mut self, item: Item, width: usize) {
        let (scale, quantized) = quantize(&item.vector);
        self.positions.insert(item.id.clone(), self.ids.len());
        self.ids.push(item.id);
        self.created_at.push(item.created_at);
        self.importance.push(item.importance);
        self.scales.push(scale);
        self.quantized.extend(quantized);
        self.vectors.extend(&item.vector[..width]);
    }

    /// Removes `id` by moving the last item into its place.
    fn remove(&mut self, id: &str, width: usize) {
        let Some(at) = self.positions.remove(id) else {
            return;
        };
        let last = self.ids.len() - 1;
        self.ids.swap_remove(at);
        self.created_at.swap_remove(at);
        self.importance.swap_remove(at);
        self.scales.swap_remove(at);
        if at != last {
            self.quantized
                .copy_within(last * width..(last + 1) * width, at * width);
            self.vectors
                .copy_within(last * width..(last + 1) * width, at * width);
            self.positions.insert(self.ids[at].clone(), at);
        }
        self.quantized.truncate(last * width);
        self.vectors.truncate(last * width);
    }

    fn len(&self) -> usize {
        self.ids.len()
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
pub struct ExactIndex {
    inner: RwLock<Inner>,
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
                partition.remove(id, key.1);
            }
        }
    }
}

impl VectorIndex for ExactIndex {
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
            .or_default()
            .push(item, key.1);
    }

    fn remove(&self, id: &str) {
        self.inner.write().expect("index lock").remove(id);
    }

    fn search(&self, filter: &Filter, query: &[f32], k: usize) -> Results {
        let inner = self.inner.read().expect("index lock");
        let empty = Results {
            hits: vec![],
            candidates: 0,
        };
        let Some(shelf) = inner.owners.get(&filter.owner) else {
            return empty;
        };
        let kinds: Vec<u32> = filter
            .kinds
            .iter()
            .filter_map(|k| inner.kinds.get(k).copied())
            .collect();
        if !filter.kinds.is_empty() && kinds.is_empty() {
            return empty;
        }
        let width = query.len();
        // The query's scale is the same for every item: it cannot change the order.
        let (_, query_q) = quantize(query);
        let mut candidates = 0;
        // The best RERANK by the int8 score, kept as a small sorted list.
        let keep = RERANK.max(k);
        let mut best: Vec<(f32, &Partition, usize)> = Vec::with_capacity(keep + 1);
        let partitions = shelf
            .iter()
            .filter(|((kind, w), _)| *w == width && (kinds.is_empty() || kinds.contains(kind)));
        let passes = |partition: &Partition, i: usize| {
            let created_at = partition.created_at[i];
            !(filter.created_from.is_some_and(|from| created_at < from)
                || filter.created_to.is_some_and(|to| created_at > to)
                || filter
                    .min_importance
                    .is_some_and(|min| partition.importance[i] < min)
                || filter.exclude.as_deref() == Some(partition.ids[i].as_str()))
        };
        let mut offer = |approx: f32, partition, i| {
            if best.len() == keep && best.last().is_some_and(|(s, _, _)| *s >= approx) {
                return;
            }
            let at = best.partition_point(|(s, _, _)| *s >= approx);
            best.insert(at, (approx, partition, i));
            best.truncate(keep);
        };
        SCORES.with_borrow_mut(|scores| {
            for (_, partition) in partitions {
                // Every item's int8 score in one kernel call (a scan is bound by memory
                // traffic; the call's dispatch is paid once); the filter is applied after.
                orrery_inference::int8_dots(&partition.quantized, &query_q, scores);
                for (i, (score, scale)) in scores.iter().zip(&partition.scales).enumerate() {
                    if passes(partition, i) {
                        candidates += 1;
                        // Scales differ per vector: compare on a common footing.
                        offer(*score as f32 * scale, partition, i);
                    }
                }
            }
        });
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|(_, partition, i)| Hit {
                id: partition.ids[i].clone(),
                score: dot(&partition.vectors[i * width..(i + 1) * width], query),
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(k);
        Results { hits, candidates }
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
        let index = ExactIndex::default();
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
    fn recall(vectors: Vec<Vec<f32>>, queries: Vec<Vec<f32>>) -> f64 {
        let index = ExactIndex::default();
        for (id, vector) in vectors.iter().enumerate() {
            index.upsert(item(id, "ada", "semantic", vector.clone()));
        }
        let filter = Filter {
            owner: "ada".into(),
            ..Default::default()
        };
        let mut found_total = 0;
        for query in &queries {
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
    fn a_large_partition_finds_the_exact_top_ten() {
        // Random dense vectors: the hardest case (no structure; the tenth best is barely
        // above the rest).
        let mut seed = 7;
        let vectors: Vec<Vec<f32>> = (0..4_000).map(|_| random_vector(&mut seed, 384)).collect();
        let queries: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut seed, 384)).collect();
        let dense = recall(vectors, queries);
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
        let texts = recall(vectors, queries);
        assert_eq!(dense, 1.0, "random vectors: recall@10 {dense}");
        assert_eq!(texts, 1.0, "texts: recall@10 {texts}");
    }

    #[test]
    fn filters_owners_kinds_dates_importance_and_updates_apply() {
        let index = ExactIndex::default();
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
        let index = ExactIndex::default();
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
}
