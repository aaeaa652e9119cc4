//! [`Txn`]: the write overlay of one `apply` call. Reads see the database plus every
//! write made earlier in the same call, so later entries of a batch observe earlier
//! entries' effects; at the end everything becomes one `WriteBatch`.

use std::collections::BTreeMap;

use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use crate::db::{cf, rocks_err};
use crate::sm_meta::SmMeta;
use crate::StoreError;

/// A raw (key, value) pair of one column family.
pub type KeyValue = (Vec<u8>, Vec<u8>);

type Key = (&'static str, Vec<u8>);

/// Pending writes (`None` = delete) over a database, plus the loaded metadata.
pub struct Txn<'a> {
    db: &'a DB,
    writes: BTreeMap<Key, Option<Vec<u8>>>,
    pub meta: SmMeta,
    /// A `queue` key below which no queued entry lives (`None`: not known). Leases
    /// take the queue's front and leave tombstones there; scanning from this key
    /// instead of the start skips them. Kept in memory only (see `QueueFloor`).
    pub queue_floor: Option<Vec<u8>>,
}

impl<'a> Txn<'a> {
    pub fn begin(db: &'a DB) -> Result<Txn<'a>, StoreError> {
        Ok(Txn {
            db,
            writes: BTreeMap::new(),
            meta: SmMeta::load(db)?,
            queue_floor: None,
        })
    }

    pub fn get(&self, cf_name: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.writes.get(&(cf_name, key.to_vec())) {
            return Ok(v.clone());
        }
        let h = cf(self.db, cf_name)?;
        self.db.get_cf(h, key).map_err(|e| rocks_err(self.db, e))
    }

    pub fn put(&mut self, cf_name: &'static str, key: &[u8], value: Vec<u8>) {
        self.writes.insert((cf_name, key.to_vec()), Some(value));
    }

    pub fn delete(&mut self, cf_name: &'static str, key: &[u8]) {
        self.writes.insert((cf_name, key.to_vec()), None);
    }

    /// Up to `limit` live (key, value) pairs under `prefix`, in key order.
    pub fn scan(
        &self,
        cf_name: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        self.scan_from(cf_name, prefix, prefix, limit)
    }

    /// [`Txn::scan`] starting at key `from` (at or after `prefix`).
    pub fn scan_from(
        &self,
        cf_name: &'static str,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let from = if from < prefix { prefix } else { from };
        let h = cf(self.db, cf_name)?;
        let mut db_it = self
            .db
            .iterator_cf(h, IteratorMode::From(from, Direction::Forward))
            .map(|r| r.map_err(|e| rocks_err(self.db, e)))
            .take_while(|r| {
                r.as_ref()
                    .map(|(k, _)| k.starts_with(prefix))
                    .unwrap_or(true)
            });
        let mut ov = self
            .writes
            .range((cf_name, from.to_vec())..)
            .take_while(|((c, k), _)| *c == cf_name && k.starts_with(prefix))
            .peekable();
        let mut next_db = db_it.next().transpose()?;
        let mut out = Vec::new();
        while out.len() < limit {
            let ov_key = ov.peek().map(|((_, k), _)| k.as_slice());
            match (&next_db, ov_key) {
                (None, None) => break,
                (Some((dk, _)), Some(ok)) if ok <= &dk[..] => {
                    if ok == &dk[..] {
                        next_db = db_it.next().transpose()?;
                    }
                    if let Some(((_, k), Some(v))) = ov.next() {
                        out.push((k.clone(), v.clone()));
                    }
                }
                (Some((dk, dv)), _) => {
                    out.push((dk.to_vec(), dv.to_vec()));
                    next_db = db_it.next().transpose()?;
                }
                (None, Some(_)) => {
                    if let Some(((_, k), Some(v))) = ov.next() {
                        out.push((k.clone(), v.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every write and the metadata, as one batch.
    pub fn into_batch(self) -> Result<WriteBatch, StoreError> {
        let mut batch = WriteBatch::default();
        for ((cf_name, key), value) in &self.writes {
            let h = cf(self.db, cf_name)?;
            match value {
                Some(v) => batch.put_cf(h, key, v),
                None => batch.delete_cf(h, key),
            }
        }
        self.meta.write(self.db, &mut batch)?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{open_db, CF_QUEUE};

    #[test]
    fn scan_merges_overlay_over_db() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path()).unwrap();
        let h = cf(&db, CF_QUEUE).unwrap();
        for k in [1u8, 3, 5] {
            db.put_cf(h, [k], [k]).unwrap();
        }
        let mut t = Txn::begin(&db).unwrap();
        t.put(CF_QUEUE, &[2], vec![22]);
        t.delete(CF_QUEUE, &[3]);
        t.put(CF_QUEUE, &[5], vec![55]);
        t.put(CF_QUEUE, &[6], vec![66]);
        let all = t.scan(CF_QUEUE, &[], usize::MAX).unwrap();
        let got: Vec<(u8, u8)> = all.iter().map(|(k, v)| (k[0], v[0])).collect();
        assert_eq!(got, [(1, 1), (2, 22), (5, 55), (6, 66)]);
        assert_eq!(t.scan(CF_QUEUE, &[], 2).unwrap().len(), 2);
        assert_eq!(t.get(CF_QUEUE, &[3]).unwrap(), None);
        assert_eq!(t.get(CF_QUEUE, &[1]).unwrap(), Some(vec![1]));
        let later = t.scan_from(CF_QUEUE, &[], &[2], 10).unwrap();
        let got: Vec<u8> = later.iter().map(|(k, _)| k[0]).collect();
        assert_eq!(got, [2, 5, 6]);
        let later = t.scan_from(CF_QUEUE, &[], &[3], 10).unwrap();
        assert_eq!(later.len(), 2);
    }
}
