//! The watch streams of one controller for every watched namespace: per-namespace (or one
//! cluster-wide) watches of SocialConnections, merged into a single store and a single trigger
//! stream, and metadata-only watches of Secrets, turned into triggers through the
//! [`SecretIndex`]. Cached connections are slimmed (no `managedFields`, no kubectl
//! last-applied copy of the spec) and packed ([`PackedConnection`]); Secrets are never cached.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};

use super::index::SecretIndex;
use super::packed::PackedConnection;
use super::reconcile::referenced_secrets;
use crate::api::SocialConnection;

/// kubectl's client-side-apply copy of the whole object, which the controller never reads.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops the parts of a cached connection that the controller never reads.
pub fn slim(obj: &mut SocialConnection) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(LAST_APPLIED);
}

/// Applies the events of several connection watches (one per namespace) to one store, keeps the
/// [`SecretIndex`] in step, and yields the objects to reconcile.
///
/// A store's own list handling replaces the whole store when one watch finishes a (re)list,
/// which would drop the other namespaces; here each watch's relist removes only the objects of
/// its own scope that it no longer lists.
pub struct ConnectionFeed {
    writer: Writer<PackedConnection>,
    reader: Store<PackedConnection>,
    index: Arc<SecretIndex>,
    /// Per watch: the objects it holds in the store.
    held: Vec<HashSet<ObjectRef<PackedConnection>>>,
    /// Per watch: the objects of a relist under way.
    relisting: Vec<Option<HashSet<ObjectRef<PackedConnection>>>>,
}

impl ConnectionFeed {
    /// A feed for `watches` watches; the store is marked ready at once (the operator's
    /// readiness is [`crate::server::readiness`]'s: every watch listed, none failing).
    pub fn new(watches: usize, index: Arc<SecretIndex>) -> (Self, Store<PackedConnection>) {
        let (reader, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        let feed = ConnectionFeed {
            writer,
            reader: reader.clone(),
            index,
            held: (0..watches).map(|_| HashSet::new()).collect(),
            relisting: (0..watches).map(|_| None).collect(),
        };
        (feed, reader)
    }

    fn upsert(&mut self, i: usize, obj: SocialConnection) -> Option<PackedConnection> {
        let ns = obj.namespace().unwrap_or_default();
        self.index.upsert_connection(&ns, &obj.name_any(), referenced_secrets(&obj));
        let packed = match PackedConnection::pack(obj) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(namespace = %ns, error = %e, "a SocialConnection could not be cached");
                return None;
            }
        };
        let key = ObjectRef::from_obj(&packed);
        if let Some(set) = self.relisting.get_mut(i).and_then(Option::as_mut) {
            set.insert(key.clone());
        }
        if let Some(held) = self.held.get_mut(i) {
            held.insert(key);
        }
        self.writer.apply_watcher_event(&Event::Apply(packed.clone()));
        Some(packed)
    }

    fn remove(&mut self, key: &ObjectRef<PackedConnection>) {
        self.index.remove_connection(key.namespace.as_deref().unwrap_or_default(), &key.name);
        if let Some(obj) = self.reader.get(key) {
            self.writer.apply_watcher_event(&Event::Delete(obj.as_ref().clone()));
        }
    }

    /// Applies one event of watch `i` (watching `scope`); returns the object to reconcile.
    pub fn apply(&mut self, i: usize, scope: &str, event: watcher::Result<Event<SocialConnection>>) -> Option<PackedConnection> {
        // Errors are logged and shown by the watch's health handle.
        let Ok(event) = event else { return None };
        match event {
            Event::Init => {
                if let Some(r) = self.relisting.get_mut(i) {
                    *r = Some(HashSet::new());
                }
                None
            }
            Event::InitApply(obj) | Event::Apply(obj) => self.upsert(i, obj),
            Event::Delete(obj) => {
                let key = ObjectRef::new(&obj.name_any()).within(obj.namespace().as_deref().unwrap_or_default());
                if let Some(held) = self.held.get_mut(i) {
                    held.remove(&key);
                }
                self.remove(&key);
                None
            }
            Event::InitDone => {
                let listed = self.relisting.get_mut(i).and_then(Option::take).unwrap_or_default();
                let gone: Vec<ObjectRef<PackedConnection>> =
                    self.held.get(i).map(|h| h.difference(&listed).cloned().collect()).unwrap_or_default();
                for key in gone {
                    self.remove(&key);
                }
                if let Some(held) = self.held.get_mut(i) {
                    *held = listed;
                }
                tracing::debug!(scope, connections = self.held.get(i).map_or(0, HashSet::len), "SocialConnections listed");
                None
            }
        }
    }
}

/// Records one event of a Secret metadata watch in the index; yields the Secret when a
/// connection references it (unrelated Secrets stop here).
///
/// A Secret deleted while a watch was down and relisted is not noticed here; the connection's
/// next due check reads it again and finds it missing.
pub fn secret_event(index: &SecretIndex, event: watcher::Result<Event<PartialObjectMeta<Secret>>>) -> Option<PartialObjectMeta<Secret>> {
    // Errors are logged and shown by the watch's health handle.
    let Ok(event) = event else { return None };
    let (secret, deleted) = match event {
        Event::Apply(s) | Event::InitApply(s) => (s, false),
        Event::Delete(s) => (s, true),
        Event::Init | Event::InitDone => return None,
    };
    let ns = secret.namespace().unwrap_or_default();
    let rv = if deleted { None } else { secret.resource_version() };
    index.secret_seen(&ns, &secret.name_any(), rv.as_deref()).then_some(secret)
}

/// The connections to reconcile after a change of `secret`.
pub fn connections_using(index: &SecretIndex, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<PackedConnection>> {
    let Some(ns) = secret.namespace() else { return vec![] };
    let name = secret.name_any();
    let refs: Vec<ObjectRef<PackedConnection>> =
        index.connections_using(&ns, &name).iter().map(|c| ObjectRef::new(c).within(&ns)).collect();
    tracing::debug!(namespace = %ns, secret = %name, connections = refs.len(), "secret changed");
    refs
}

/// The cached connections in the namespace of `obj` (a SocialNotificationPolicy that changed).
pub fn connections_in_namespace_of<K: kube::Resource>(store: &Store<PackedConnection>, obj: &K) -> Vec<ObjectRef<PackedConnection>> {
    let Some(ns) = obj.meta().namespace.as_deref() else { return vec![] };
    store.state().iter().filter(|c| c.namespace().as_deref() == Some(ns)).map(|c| ObjectRef::from_obj(c.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(ns: &str, name: &str, secret: &str) -> SocialConnection {
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialConnection",
            "metadata": {
                "name": name, "namespace": ns, "resourceVersion": "1",
                "annotations": {LAST_APPLIED: "{\"spec\":{}}", "social.connections.dev/check-requested-at": "now"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {"provider": "facebook", "account": {"id": "1"}, "secretRef": {"name": secret}},
        }))
        .unwrap()
    }

    fn names(store: &Store<PackedConnection>) -> Vec<String> {
        let mut v: Vec<String> = store.state().iter().map(|o| format!("{}/{}", o.namespace().unwrap(), o.name_any())).collect();
        v.sort();
        v
    }

    #[test]
    fn a_changed_policy_wakes_the_connections_of_its_namespace_only() {
        let (mut feed, store) = ConnectionFeed::new(1, Arc::new(SecretIndex::default()));
        for c in [conn("a", "c1", "s"), conn("a", "c2", "s"), conn("b", "c3", "s")] {
            feed.apply(0, "all namespaces", Ok(Event::Apply(c)));
        }
        let policy = |ns: Option<&str>| {
            let mut p = crate::api::SocialNotificationPolicy::new("p", serde_json::from_value(json!({"receivers": []})).unwrap());
            p.metadata.namespace = ns.map(str::to_string);
            p
        };
        let mut woken: Vec<String> = connections_in_namespace_of(&store, &policy(Some("a"))).iter().map(|r| r.name.clone()).collect();
        woken.sort();
        assert_eq!(woken, ["c1", "c2"]);
        assert!(connections_in_namespace_of(&store, &policy(Some("c"))).is_empty());
        assert!(connections_in_namespace_of(&store, &policy(None)).is_empty());
    }

    #[test]
    fn cached_connections_lose_managed_fields_and_the_last_applied_copy_but_keep_other_annotations() {
        let index = Arc::new(SecretIndex::default());
        let (mut feed, store) = ConnectionFeed::new(1, index);
        feed.apply(0, "a", Ok(Event::Apply(conn("a", "c1", "s1"))));
        let cached = store.state().pop().unwrap().unpack().unwrap();
        assert!(cached.managed_fields().is_empty());
        assert!(!cached.annotations().contains_key(LAST_APPLIED));
        assert!(cached.annotations().contains_key("social.connections.dev/check-requested-at"));
    }

    #[test]
    fn a_relist_of_one_namespace_removes_only_its_own_vanished_connections() {
        let index = Arc::new(SecretIndex::default());
        let (mut feed, store) = ConnectionFeed::new(2, index.clone());
        for (i, ns, events) in [
            (0, "a", vec![Event::Init, Event::InitApply(conn("a", "c1", "s1")), Event::InitApply(conn("a", "c2", "s2")), Event::InitDone]),
            (1, "b", vec![Event::Init, Event::InitApply(conn("b", "c3", "s3")), Event::InitDone]),
        ] {
            for e in events {
                feed.apply(i, ns, Ok(e));
            }
        }
        assert_eq!(names(&store), ["a/c1", "a/c2", "b/c3"]);
        // Namespace a relists without c2 (deleted while the watch was down).
        for e in [Event::Init, Event::InitApply(conn("a", "c1", "s1")), Event::InitDone] {
            feed.apply(0, "a", Ok(e));
        }
        assert_eq!(names(&store), ["a/c1", "b/c3"]);
        assert_eq!(index.connections_using("a", "s2"), Vec::<String>::new());
        assert_eq!(index.connections_using("b", "s3"), ["c3"]);
        // A deletion event.
        feed.apply(1, "b", Ok(Event::Delete(conn("b", "c3", "s3"))));
        assert_eq!(names(&store), ["a/c1"]);
    }

    #[test]
    fn applied_objects_are_yielded_for_reconcile_and_markers_and_deletions_are_not() {
        let index = Arc::new(SecretIndex::default());
        let (mut feed, _) = ConnectionFeed::new(1, index);
        let cases = [
            (Event::Init, false),
            (Event::InitApply(conn("a", "c1", "s1")), true),
            (Event::InitDone, false),
            (Event::Apply(conn("a", "c1", "s1")), true),
            (Event::Delete(conn("a", "c1", "s1")), false),
        ];
        for (e, yields) in cases {
            assert_eq!(feed.apply(0, "a", Ok(e)).is_some(), yields);
        }
    }

    #[test]
    fn only_referenced_secrets_trigger_and_their_versions_are_recorded() {
        let index = SecretIndex::default();
        index.upsert_connection("a", "c1", vec!["tok".into()]);
        let meta = |name: &str, rv: &str| {
            let mut m: PartialObjectMeta<Secret> = PartialObjectMeta::default();
            m.metadata.name = Some(name.into());
            m.metadata.namespace = Some("a".into());
            m.metadata.resource_version = Some(rv.into());
            m
        };
        assert!(secret_event(&index, Ok(Event::InitApply(meta("tok", "4")))).is_some());
        assert!(secret_event(&index, Ok(Event::InitApply(meta("unrelated", "5")))).is_none());
        assert!(secret_event(&index, Ok(Event::InitDone)).is_none());
        index.remember_read("a", "c1", vec![("tok".into(), "4".into())]);
        assert!(index.unchanged_since_read("a", "c1", &["tok"]));
        let refs = connections_using(&index, &meta("tok", "4"));
        assert_eq!(refs, [ObjectRef::new("c1").within("a")]);
        // Deleted: the read is no longer current, and the connection is woken.
        assert!(secret_event(&index, Ok(Event::Delete(meta("tok", "4")))).is_some());
        assert!(!index.unchanged_since_read("a", "c1", &["tok"]));
    }
}
