//! The Secret → connection index, kept up to date from the connection watch (instead of a scan
//! of every cached connection per Secret event), and the Secrets' resource versions as the
//! metadata-only Secret watch last saw them, so that a reconcile with nothing due can tell
//! without a GET that the token it read last is still the current one.
//!
//! Keys are (namespace, name) pairs: a connection only ever references Secrets of its own
//! namespace.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `namespace/name`: one allocation per key (names cannot contain `/`).
type Key = Box<str>;

fn key(ns: &str, name: &str) -> Key {
    format!("{ns}/{name}").into_boxed_str()
}

/// (Secret, resourceVersion) pairs of one read.
type Read = Box<[(Box<str>, Box<str>)]>;

/// A referenced Secret: who references it, and the version the watch last saw.
#[derive(Debug, Default)]
struct SecretEntry {
    /// Names of the connections of its namespace that reference it, sorted.
    users: Vec<Box<str>>,
    /// resourceVersion the watch last saw (None: not seen yet, or deleted).
    version: Option<Box<str>>,
}

/// An indexed connection: the Secrets it references and what it read last.
#[derive(Debug, Default)]
struct ConnectionEntry {
    /// The Secrets it references (token first, then app).
    secrets: Box<[Box<str>]>,
    /// (Secret, resourceVersion) pairs of its last read.
    last_read: Option<Read>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `namespace/Secret` → the entry, for referenced Secrets only (the unrelated ones cost
    /// nothing).
    secrets: HashMap<Key, SecretEntry>,
    /// `namespace/connection` → the entry.
    connections: HashMap<Key, ConnectionEntry>,
}

/// Which connections use which Secrets, and which Secret versions they last read.
///
/// Kept compact (one map entry per connection and per referenced Secret, boxed slices rather
/// than growable vectors): at 10,000 connections it is one of the operator's largest
/// structures.
#[derive(Debug, Default)]
pub struct SecretIndex {
    inner: RwLock<Inner>,
}

impl SecretIndex {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that connection `ns/name` references `secrets` (replacing what it referenced).
    pub fn upsert_connection(&self, ns: &str, name: &str, secrets: Vec<String>) {
        let mut inner = self.write();
        let ck = key(ns, name);
        if inner.connections.get(&ck).is_some_and(|c| c.secrets.iter().map(AsRef::as_ref).eq(secrets.iter().map(String::as_str))) {
            return;
        }
        let new: Box<[Box<str>]> = secrets.iter().map(|s| Box::from(s.as_str())).collect();
        // A changed reference makes the last read meaningless.
        let old = inner.connections.insert(ck, ConnectionEntry { secrets: new, last_read: None }).map(|c| c.secrets).unwrap_or_default();
        for s in old.iter().filter(|s| !secrets.iter().any(|n| n.as_str() == s.as_ref())) {
            drop_reference(&mut inner, ns, s, name);
        }
        for s in &secrets {
            let users = &mut inner.secrets.entry(key(ns, s)).or_default().users;
            if let Err(at) = users.binary_search_by(|u| u.as_ref().cmp(name)) {
                users.insert(at, Box::from(name));
                users.shrink_to_fit();
            }
        }
    }

    /// Forgets connection `ns/name`.
    pub fn remove_connection(&self, ns: &str, name: &str) {
        let mut inner = self.write();
        if let Some(entry) = inner.connections.remove(&key(ns, name)) {
            for s in entry.secrets.iter() {
                drop_reference(&mut inner, ns, s, name);
            }
        }
    }

    /// Names of the connections in `ns` that reference Secret `secret`.
    pub fn connections_using(&self, ns: &str, secret: &str) -> Vec<String> {
        self.read().secrets.get(&key(ns, secret)).map(|e| e.users.iter().map(|u| u.to_string()).collect()).unwrap_or_default()
    }

    /// The Secret watch saw `ns/secret` at `resource_version` (None: it was deleted).
    /// Returns whether a connection references it.
    pub fn secret_seen(&self, ns: &str, secret: &str, resource_version: Option<&str>) -> bool {
        let mut inner = self.write();
        let Some(entry) = inner.secrets.get_mut(&key(ns, secret)) else { return false };
        entry.version = resource_version.map(Box::from);
        true
    }

    /// Records what connection `ns/name` read: (Secret, resourceVersion) pairs. A referenced
    /// Secret the watch listed before any connection referenced it has no version yet: the
    /// read one is the current one until the watch reports another.
    pub fn remember_read(&self, ns: &str, name: &str, read: Vec<(String, String)>) {
        let mut inner = self.write();
        for (s, rv) in &read {
            if let Some(entry) = inner.secrets.get_mut(&key(ns, s))
                && entry.version.is_none()
            {
                entry.version = Some(Box::from(rv.as_str()));
            }
        }
        if let Some(entry) = inner.connections.get_mut(&key(ns, name)) {
            entry.last_read = Some(read.into_iter().map(|(s, rv)| (s.into_boxed_str(), rv.into_boxed_str())).collect());
        }
    }

    /// Forgets what connection `ns/name` read (the next reconcile reads again).
    pub fn forget_read(&self, ns: &str, name: &str) {
        if let Some(entry) = self.write().connections.get_mut(&key(ns, name)) {
            entry.last_read = None;
        }
    }

    /// True when connection `ns/name` read exactly `secrets` last time and the watch has seen
    /// no other version of any of them since. False whenever unsure (never read, a Secret
    /// the watch has not listed yet, or deleted).
    pub fn unchanged_since_read(&self, ns: &str, name: &str, secrets: &[&str]) -> bool {
        let inner = self.read();
        let Some(read) = inner.connections.get(&key(ns, name)).and_then(|c| c.last_read.as_ref()) else { return false };
        read.len() == secrets.len()
            && read.iter().zip(secrets).all(|((s, rv), want)| {
                s.as_ref() == *want && inner.secrets.get(&key(ns, s)).and_then(|e| e.version.as_ref()).is_some_and(|current| current == rv)
            })
    }

    /// How many connections are indexed.
    pub fn len(&self) -> usize {
        self.read().connections.len()
    }

    /// Whether no connection is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn drop_reference(inner: &mut Inner, ns: &str, secret: &str, connection: &str) {
    let sk = key(ns, secret);
    if let Some(entry) = inner.secrets.get_mut(&sk) {
        entry.users.retain(|u| u.as_ref() != connection);
        if entry.users.is_empty() {
            inner.secrets.remove(&sk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_secret_maps_to_the_connections_of_its_own_namespace_that_reference_it() {
        let ix = SecretIndex::default();
        ix.upsert_connection("a", "c1", v(&["tok1", "app"]));
        ix.upsert_connection("a", "c2", v(&["tok2", "app"]));
        ix.upsert_connection("b", "c3", v(&["app"]));
        let cases: [(&str, &str, &[&str]); 5] =
            [("a", "app", &["c1", "c2"]), ("a", "tok1", &["c1"]), ("b", "app", &["c3"]), ("b", "tok1", &[]), ("a", "other", &[])];
        for (ns, secret, want) in cases {
            assert_eq!(ix.connections_using(ns, secret), v(want), "{ns}/{secret}");
        }
    }

    #[test]
    fn changing_or_deleting_a_connection_moves_its_references() {
        let ix = SecretIndex::default();
        ix.upsert_connection("a", "c1", v(&["old", "app"]));
        ix.upsert_connection("a", "c1", v(&["new", "app"]));
        assert_eq!(ix.connections_using("a", "old"), Vec::<String>::new());
        assert_eq!(ix.connections_using("a", "new"), v(&["c1"]));
        ix.remove_connection("a", "c1");
        assert_eq!(ix.connections_using("a", "app"), Vec::<String>::new());
        assert!(ix.is_empty());
    }

    #[test]
    fn only_referenced_secret_versions_are_kept() {
        let ix = SecretIndex::default();
        ix.upsert_connection("a", "c1", v(&["tok"]));
        assert!(ix.secret_seen("a", "tok", Some("5")));
        assert!(!ix.secret_seen("a", "unrelated", Some("6")));
        assert_eq!(ix.read().secrets.len(), 1);
    }

    #[test]
    fn a_read_counts_as_current_until_the_watch_sees_another_version_or_a_deletion() {
        let ix = SecretIndex::default();
        ix.upsert_connection("a", "c1", v(&["tok", "app"]));
        // Never read: unsure.
        assert!(!ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        // The watch listed the token Secret before c1 referenced it: the read version counts.
        ix.remember_read("a", "c1", vec![("tok".into(), "5".into()), ("app".into(), "7".into())]);
        assert!(ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        ix.secret_seen("a", "tok", Some("5"));
        ix.secret_seen("a", "app", Some("7"));
        assert!(ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        // A spec that now names other Secrets is not what was read.
        assert!(!ix.unchanged_since_read("a", "c1", &["tok"]));
        // A new version of the token Secret.
        ix.secret_seen("a", "tok", Some("9"));
        assert!(!ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        ix.remember_read("a", "c1", vec![("tok".into(), "9".into()), ("app".into(), "7".into())]);
        assert!(ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        // Deleted.
        ix.secret_seen("a", "app", None);
        assert!(!ix.unchanged_since_read("a", "c1", &["tok", "app"]));
        // A changed reference forgets the read.
        ix.secret_seen("a", "app", Some("7"));
        ix.upsert_connection("a", "c1", v(&["tok2", "app"]));
        assert!(!ix.unchanged_since_read("a", "c1", &["tok2", "app"]));
    }
}
