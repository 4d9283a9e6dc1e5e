//! The controller's cache entry for one connection: the object packed into one compressed
//! buffer, with only its name and namespace in the clear.
//!
//! A decoded `SocialConnection` with its status is about 3.5 KiB on the heap, in some sixty
//! small allocations (eight conditions of four strings each, times, metadata); packed it is one
//! buffer of under 1 KiB. The controller's queue, the Secret index and the metrics collector
//! only need the name and namespace, and a reconcile unpacks its object once. At 10,000
//! connections this is the difference between the cache dominating the operator's memory and
//! not (BENCHMARKS.md).

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use super::feed::slim;
use crate::api::SocialConnection;

/// A typical connection as JSON (a Ready facebook connection, the field names and condition
/// wording the operator writes): compressing against it leaves each packed connection little
/// more than what makes it different. It only affects the compression ratio: a dictionary
/// out of date with the status wording costs bytes, never correctness.
const DICTIONARY: &[u8] = include_bytes!("packed_dictionary.json");

/// Why a connection could not be packed or unpacked (never expected: the buffer is this
/// process's own serialization).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The object did not serialize to, or parse back from, JSON.
    #[error("cached connection is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The buffer did not decompress.
    #[error("cached connection does not decompress: {0}")]
    Compression(#[from] lz4_flex::block::DecompressError),
}

/// One cached connection: name and namespace in the clear (what [`kube::runtime::reflector`]
/// keys its store by), the whole slimmed object as LZ4-compressed JSON.
#[derive(Clone, Debug)]
pub struct PackedConnection {
    meta: ObjectMeta,
    packed: Box<[u8]>,
}

impl PackedConnection {
    /// Packs `obj` after dropping what the controller never reads ([`slim`]).
    pub fn pack(mut obj: SocialConnection) -> Result<Self, PackError> {
        slim(&mut obj);
        let json = serde_json::to_vec(&obj)?;
        let meta = ObjectMeta { name: obj.metadata.name.take(), namespace: obj.metadata.namespace.take(), ..ObjectMeta::default() };
        Ok(PackedConnection { meta, packed: lz4_flex::block::compress_prepend_size_with_dict(&json, DICTIONARY).into_boxed_slice() })
    }

    /// The connection as it was packed.
    pub fn unpack(&self) -> Result<SocialConnection, PackError> {
        let json = lz4_flex::block::decompress_size_prepended_with_dict(&self.packed, DICTIONARY)?;
        Ok(serde_json::from_slice(&json)?)
    }
}

impl Resource for PackedConnection {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        SocialConnection::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        SocialConnection::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        SocialConnection::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        SocialConnection::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

/// Deserializes a `SocialConnection` and packs it (the controller's type bounds ask for this;
/// the operator's own watch packs what it receives in [`super::feed`]).
impl<'de> Deserialize<'de> for PackedConnection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PackedConnection::pack(SocialConnection::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use serde_json::json;

    fn with_status() -> SocialConnection {
        let cond = |t: &str, s: &str, r: &str, m: &str| json!({"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": "2026-12-07T05:00:00Z", "observedGeneration": 1});
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialConnection",
            "metadata": {
                "name": "page", "namespace": "brand-a", "uid": "0f8e7a9c-1234-4b2a-9d7e-1a2b3c4d5e6f",
                "resourceVersion": "123456", "generation": 2, "creationTimestamp": "2026-12-07T05:00:00Z",
                "labels": {"team": "social"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}", "note": "kept"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {"provider": "facebook", "account": {"id": "2002"}, "secretRef": {"name": "page-token"}, "checkInterval": "6h"},
            "status": {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "True", "AllChecksPassed", "The connection works."),
                    cond("Valid", "True", "TokenValid", "The provider accepted the token."),
                    cond("Revoked", "False", "NotRevoked", "The provider did not report the token revoked."),
                    cond("RoleLost", "False", "NoRoleRequired", "No requiredRole is set."),
                    cond("ScopesMissing", "False", "NoScopesRequired", "No requiredScopes are set."),
                    cond("ExpiringSoon", "False", "ExpiryUnknown", "Neither the provider nor the Secret says when the token expires."),
                    cond("Stalled", "False", "AllChecksPassed", "The connection works."),
                    cond("Reconciling", "False", "AllChecksPassed", "The connection works."),
                ],
                "lastCheckTime": "2026-12-07T05:00:00Z",
                "nextCheckTime": "2026-12-07T11:00:00Z",
                "accountName": "Example Page",
                "tokenFingerprint": "0123456789abcdef",
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_packed_connection_unpacks_to_the_slimmed_object_and_keys_like_it() {
        let obj = with_status();
        let packed = PackedConnection::pack(obj.clone()).unwrap();
        let mut slimmed = obj.clone();
        slim(&mut slimmed);
        let json = |o: &SocialConnection| serde_json::to_value(o).unwrap();
        assert_eq!(json(&packed.unpack().unwrap()), json(&slimmed));
        assert!(packed.unpack().unwrap().annotations().get("note").is_some_and(|v| v == "kept"));
        assert_eq!((packed.name_any(), packed.namespace()), (obj.name_any(), obj.namespace()));
        assert_eq!(kube::runtime::reflector::ObjectRef::from_obj(&packed).name, "page");
        assert_eq!(PackedConnection::plural(&()), "socialconnections");
        assert_eq!(PackedConnection::api_version(&()), "social.connections.dev/v1alpha1");
    }

    #[test]
    fn a_connection_with_a_full_status_packs_into_far_less_than_its_json() {
        let obj = with_status();
        let mut slimmed = obj.clone();
        slim(&mut slimmed);
        let json = serde_json::to_vec(&slimmed).unwrap().len();
        let packed = PackedConnection::pack(obj).unwrap().packed.len();
        let without_dictionary = lz4_flex::compress_prepend_size(&serde_json::to_vec(&slimmed).unwrap()).len();
        println!("JSON {json} bytes, LZ4 {without_dictionary}, LZ4 with the dictionary {packed}");
        assert!(packed * 4 < json, "packed {packed} bytes, JSON {json}");
        assert!(packed * 2 < without_dictionary, "the dictionary halves the packed size: {packed} against {without_dictionary}");
    }

    #[test]
    fn deserializing_packs() {
        let packed: PackedConnection = serde_json::from_value(serde_json::to_value(with_status()).unwrap()).unwrap();
        assert_eq!(packed.unpack().unwrap().status.unwrap().conditions.len(), 8);
    }
}
