//! The store's error type, [`StoreError`], and the classification of RocksDB open
//! failures into actionable variants. Nothing here ever touches files on disk.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the raft store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) holds the database lock.
    #[error(
        "the database at {path} is locked: another shoal node seems to be running on this home"
    )]
    Locked { path: PathBuf },

    /// RocksDB reported corruption. Nothing was changed on disk.
    #[error(
        "the database at {path} is corrupt ({detail}); it was left untouched. A member of a \
         cluster gets a good copy from the others: `shoal node --rejoin` sets this one aside \
         (never deletes it) and joins again as a new member. A cluster's only node can only \
         restore it from a backup"
    )]
    Corrupt { path: PathBuf, detail: String },

    #[error("permission denied on the database at {path}: {detail}")]
    Permission { path: PathBuf, detail: String },

    #[error("I/O error on the database at {path}: {detail}")]
    Io { path: PathBuf, detail: String },

    /// A stored value did not encode or decode.
    #[error("cannot encode or decode {what}: {detail}")]
    Codec { what: &'static str, detail: String },
}

impl StoreError {
    /// Classifies a RocksDB error by its message text.
    pub fn from_rocks(path: &Path, e: rocksdb::Error) -> StoreError {
        let detail = e.into_string();
        let lower = detail.to_ascii_lowercase();
        let path = path.to_path_buf();
        if lower.contains("lock") && !lower.contains("corruption") {
            StoreError::Locked { path }
        } else if lower.contains("corruption") {
            StoreError::Corrupt { path, detail }
        } else if lower.contains("permission denied") {
            StoreError::Permission { path, detail }
        } else {
            StoreError::Io { path, detail }
        }
    }

    pub(crate) fn codec(what: &'static str, detail: impl ToString) -> StoreError {
        StoreError::Codec {
            what,
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_actionable() {
        let p = Path::new("/h/db");
        let locked = StoreError::Locked { path: p.into() };
        assert!(locked.to_string().contains("another shoal node"));
        let corrupt = StoreError::Corrupt {
            path: p.into(),
            detail: "x".into(),
        };
        assert!(corrupt.to_string().contains("left untouched"));
        assert!(corrupt.to_string().contains("backup"));
    }
}
