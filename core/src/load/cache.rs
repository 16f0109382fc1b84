//! A bounded cache of verified shards, so that tensors which share a shard (lazy loading under a
//! `shards` signature) read and verify it once.
//!
//! Guarantee: it holds only bytes that matched their signed shard digest when read, keyed by the
//! file's signed name and the shard's index in the pinned statement, so a hit returns the signed
//! bytes whatever the file holds now; it never holds more than [`SHARD_CACHE_BYTES`] of shards
//! (least recently used first out; a shard larger than that is not kept).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The memory ceiling of one opened model's shard cache: 64 MiB.
pub const SHARD_CACHE_BYTES: usize = 64 << 20;

type Key = (String, usize);

/// Verified shards by (file, shard index), least recently used evicted first.
#[derive(Default)]
pub(super) struct ShardCache {
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Shard → (its verified bytes, when it was last used).
    shards: HashMap<Key, (Arc<Vec<u8>>, u64)>,
    /// When last used → shard: the eviction order.
    order: BTreeMap<u64, Key>,
    bytes: usize,
    clock: u64,
}

impl std::fmt::Debug for ShardCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.inner.lock().map(|lru| lru.bytes).unwrap_or(0);
        f.debug_struct("ShardCache").field("bytes", &bytes).finish()
    }
}

impl ShardCache {
    /// The verified bytes of shard `index` of `name`, if cached.
    pub(super) fn get(&self, name: &str, index: usize) -> Option<Arc<Vec<u8>>> {
        let mut lru = self.inner.lock().ok()?;
        let key = (name.to_string(), index);
        let used = lru.clock + 1;
        let (bytes, last) = lru.shards.get_mut(&key)?;
        let bytes = Arc::clone(bytes);
        let previous = std::mem::replace(last, used);
        lru.clock = used;
        lru.order.remove(&previous);
        lru.order.insert(used, key);
        Some(bytes)
    }

    /// Keeps `shard`, which the caller verified, evicting the least recently used shards to
    /// stay under [`SHARD_CACHE_BYTES`].
    pub(super) fn insert(&self, name: &str, index: usize, shard: Arc<Vec<u8>>) {
        let Ok(mut lru) = self.inner.lock() else {
            return;
        };
        let key = (name.to_string(), index);
        if shard.len() > SHARD_CACHE_BYTES || lru.shards.contains_key(&key) {
            return;
        }
        while lru.bytes + shard.len() > SHARD_CACHE_BYTES {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = lru.shards.remove(&oldest) {
                lru.bytes -= evicted.len();
            }
        }
        lru.clock += 1;
        let used = lru.clock;
        lru.bytes += shard.len();
        lru.order.insert(used, key.clone());
        lru.shards.insert(key, (shard, used));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_the_ceiling_and_evicts_the_least_recently_used() {
        let cache = ShardCache::default();
        let shard = |b: u8| -> Arc<Vec<u8>> { vec![b; SHARD_CACHE_BYTES / 4].into() };
        for i in 0..4 {
            cache.insert("w", i, shard(i as u8));
        }
        assert!(cache.get("w", 0).is_some()); // 0 is now the most recently used
        cache.insert("w", 4, shard(4));
        assert!(
            cache.get("w", 1).is_none(),
            "the least recently used goes first"
        );
        for i in [0, 2, 3, 4] {
            assert_eq!(cache.get("w", i).unwrap()[0], i as u8);
        }
        assert_eq!(cache.inner.lock().unwrap().bytes, SHARD_CACHE_BYTES);
        cache.insert("w", 9, vec![0; SHARD_CACHE_BYTES + 1].into());
        assert!(
            cache.get("w", 9).is_none(),
            "larger than the ceiling: not kept"
        );
    }
}
