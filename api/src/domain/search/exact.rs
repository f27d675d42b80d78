//! The default [`VectorIndex`]: exact search in memory. Items are grouped by owner; a query
//! filters the owner's items on their metadata, scores every survivor with an int8 dot
//! product (a quarter of the memory traffic of f32), and re-ranks the best
//! [`RERANK`] in f32, so the order returned is the f32 order.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{dot, Filter, Hit, Item, Results, VectorIndex};

/// How many int8 candidates are re-scored in f32.
const RERANK: usize = 50;

struct Slot {
    id: String,
    kind: u32,
    created_at: i64,
    importance: f32,
    scale: f32,
    quantized: Vec<i8>,
    vector: Vec<f32>,
}

#[derive(Default)]
struct Inner {
    /// Per owner, its items.
    owners: HashMap<String, Vec<Slot>>,
    /// id → owner, to find an item without its owner.
    where_is: HashMap<String, String>,
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

impl VectorIndex for ExactIndex {
    fn upsert(&self, item: Item) {
        let mut inner = self.inner.write().expect("index lock");
        let next_kind = inner.kinds.len() as u32;
        let kind = *inner.kinds.entry(item.kind).or_insert(next_kind);
        let (scale, quantized) = quantize(&item.vector);
        let slot = Slot {
            id: item.id.clone(),
            kind,
            created_at: item.created_at,
            importance: item.importance,
            scale,
            quantized,
            vector: item.vector,
        };
        if let Some(owner) = inner.where_is.get(&item.id).cloned() {
            if let Some(slots) = inner.owners.get_mut(&owner) {
                slots.retain(|s| s.id != item.id);
            }
        }
        inner.where_is.insert(item.id, item.owner.clone());
        inner.owners.entry(item.owner).or_default().push(slot);
    }

    fn remove(&self, id: &str) {
        let mut inner = self.inner.write().expect("index lock");
        if let Some(owner) = inner.where_is.remove(id) {
            if let Some(slots) = inner.owners.get_mut(&owner) {
                slots.retain(|s| s.id != id);
            }
        }
    }

    fn search(&self, filter: &Filter, query: &[f32], k: usize) -> Results {
        let inner = self.inner.read().expect("index lock");
        let Some(slots) = inner.owners.get(&filter.owner) else {
            return Results {
                hits: vec![],
                candidates: 0,
            };
        };
        let kinds: Vec<u32> = filter
            .kinds
            .iter()
            .filter_map(|k| inner.kinds.get(k).copied())
            .collect();
        if !filter.kinds.is_empty() && kinds.is_empty() {
            return Results {
                hits: vec![],
                candidates: 0,
            };
        }
        // The query's scale is the same for every item: it cannot change the order.
        let (_, query_q) = quantize(query);
        let mut candidates = 0;
        // The best RERANK by the int8 score, kept as a small sorted list.
        let keep = RERANK.max(k);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(keep + 1);
        for (index, slot) in slots.iter().enumerate() {
            if (!kinds.is_empty() && !kinds.contains(&slot.kind))
                || filter
                    .created_from
                    .is_some_and(|from| slot.created_at < from)
                || filter.created_to.is_some_and(|to| slot.created_at > to)
                || filter
                    .min_importance
                    .is_some_and(|min| slot.importance < min)
                || filter.exclude.as_deref() == Some(slot.id.as_str())
                || slot.vector.len() != query.len()
            {
                continue;
            }
            candidates += 1;
            // Scales differ per vector: compare on a common footing. (Quants lie within
            // ±127, the SIMD kernel's precondition.)
            let approx = orrery_inference::int8_dot(&slot.quantized, &query_q) as f32 * slot.scale;
            if best.len() == keep && best.last().is_some_and(|(s, _)| *s >= approx) {
                continue;
            }
            let at = best.partition_point(|(s, _)| *s >= approx);
            best.insert(at, (approx, index));
            best.truncate(keep);
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|(_, index)| {
                let slot = &slots[index];
                Hit {
                    id: slot.id.clone(),
                    score: dot(&slot.vector, query),
                }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(k);
        Results { hits, candidates }
    }

    fn count(&self, owner: &str) -> usize {
        let inner = self.inner.read().expect("index lock");
        inner.owners.get(owner).map_or(0, Vec::len)
    }

    fn len(&self) -> usize {
        self.inner.read().expect("index lock").where_is.len()
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
}
