//! Least privilege from evidence: what a ServiceAccount actually did, read from the API server's
//! audit log (`scripts/control-plane.sh` writes `DIR/audit.log`, Metadata level for every
//! ServiceAccount request), compared with what the chart's rendered RBAC grants.
//!
//! A permission is (verb, API group, resource, subresource) as the API server authorizes it:
//! `get`, `list` and `watch` are separate verbs (a metadata-only watch of Secrets is `list` +
//! `watch`, reading one Secret is `get`), server-side apply is `patch`, and `socialconnections`
//! and `socialconnections/status` are separate resources. [`assert_least_privilege`] fails when
//! the chart grants a permission no scenario used, when a scenario used one the chart does not
//! grant, or when the API server refused the ServiceAccount anything. A feature that needs a
//! new verb (Secret `update` for write-back, `leases` for leader election, finalizer updates)
//! adds it to the chart and runs a scenario under the chart's ServiceAccount that uses it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;

/// One thing RBAC can grant: a verb on a resource (and subresource) of an API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// `get`, `list`, `watch`, `create`, `patch`, `update`, `delete`, …
    pub verb: String,
    /// `""` for the core group.
    pub group: String,
    /// Plural resource name, e.g. `secrets`.
    pub resource: String,
    /// `""` or e.g. `status`, `finalizers`.
    pub subresource: String,
}

impl Permission {
    fn new(verb: &str, group: &str, resource: &str) -> Permission {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Permission { verb: verb.into(), group: group.into(), resource: resource.into(), subresource: subresource.into() }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        Ok(())
    }
}

/// What one user did according to the audit log.
#[derive(Debug, Default)]
pub struct Usage {
    /// Every permission used, whatever the answer.
    pub used: BTreeSet<Permission>,
    /// Requests the API server refused with 403, one line each.
    pub refused: Vec<String>,
    /// How many audit events were read for the user (0 means the log is not being written or
    /// the user never made a request).
    pub events: usize,
}

/// The user agent of requests a test makes with a ServiceAccount's token on purpose (probes that
/// must be refused); they are not the operator's and are left out of its usage.
pub const PROBE_USER_AGENT: &str = "sco-e2e-probe";

/// Reads `audit_log` and returns what `username` (`system:serviceaccount:<ns>:<name>`) did
/// itself: impersonated requests (`kubectl auth can-i --as`) and requests with
/// [`PROBE_USER_AGENT`] are not counted.
pub fn usage_of(audit_log: &Path, username: &str) -> Usage {
    let text = std::fs::read_to_string(audit_log)
        .unwrap_or_else(|e| panic!("cannot read the API server's audit log {}: {e} (see scripts/control-plane.sh)", audit_log.display()));
    usage_in(&text, username)
}

/// [`usage_of`] on the log's text.
pub fn usage_in(text: &str, username: &str) -> Usage {
    let mut usage = Usage::default();
    for line in text.lines().filter(|l| l.contains(username)) {
        let Ok(ev) = serde_json::from_str::<Value>(line) else { continue };
        if ev["user"]["username"] != username || !ev["impersonatedUser"].is_null() {
            continue;
        }
        if ev["userAgent"].as_str().is_some_and(|ua| ua.starts_with(PROBE_USER_AGENT)) {
            continue;
        }
        usage.events += 1;
        let verb = ev["verb"].as_str().unwrap_or_default();
        let code = ev["responseStatus"]["code"].as_i64().unwrap_or_default();
        let what = match ev["objectRef"].as_object() {
            Some(obj) => {
                let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let p = Permission { verb: verb.into(), group: s("apiGroup"), resource: s("resource"), subresource: s("subresource") };
                let where_ = format!("{p} namespace={:?} name={:?}", s("namespace"), s("name"));
                usage.used.insert(p);
                where_
            }
            // Non-resource URLs (discovery, /version): granted to every authenticated user by
            // the cluster's defaults, never by the chart.
            None => format!("{verb} {}", ev["requestURI"].as_str().unwrap_or_default()),
        };
        if code == 403 {
            usage.refused.push(format!("{what} -> 403 {}", ev["responseStatus"]["message"].as_str().unwrap_or_default()));
        }
    }
    usage
}

/// The permissions granted by the `rules` of a (Cluster)Role object.
pub fn granted_by(role: &Value) -> BTreeSet<Permission> {
    let list = |rule: &Value, k: &str| -> Vec<String> {
        rule[k].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        // resourceNames only narrow a rule: the comparison is by (verb, group, resource), and a
        // request for another name would be refused (403), which assert_least_privilege
        // fails on.
        for group in list(rule, "apiGroups") {
            for resource in list(rule, "resources") {
                for verb in list(rule, "verbs") {
                    out.insert(Permission::new(&verb, &group, &resource));
                }
            }
        }
    }
    out
}

/// Fails unless `granted` is exactly what `usage` used, and nothing was refused.
pub fn assert_least_privilege(what: &str, granted: &BTreeSet<Permission>, usage: &Usage) {
    assert!(usage.events > 0, "{what}: no audit events for the ServiceAccount; is the audit log on?");
    let show = |set: Vec<&Permission>| set.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n");
    let unused: Vec<&Permission> = granted.difference(&usage.used).collect();
    let ungranted: Vec<&Permission> = usage.used.difference(granted).collect();
    let used = show(usage.used.iter().collect());
    assert!(usage.refused.is_empty(), "{what}: the API server refused the operator:\n  {}\nit used:\n{used}", usage.refused.join("\n  "));
    assert!(
        unused.is_empty(),
        "{what}: the chart grants what no scenario used (remove it, or add the scenario that needs it):\n{}\nused:\n{used}",
        show(unused)
    );
    assert!(ungranted.is_empty(), "{what}: the operator used what the chart does not grant:\n{}", show(ungranted));
}

#[cfg(test)]
mod unit {
    use super::*;

    const LOG: &str = r#"{"kind":"Event","verb":"watch","user":{"username":"system:serviceaccount:sys:op"},"objectRef":{"resource":"secrets","namespace":"w","apiVersion":"v1"},"responseStatus":{"code":200},"userAgent":""}
{"kind":"Event","verb":"patch","user":{"username":"system:serviceaccount:sys:op"},"objectRef":{"resource":"socialconnections","subresource":"status","apiGroup":"social.connections.dev","namespace":"w","name":"a"},"responseStatus":{"code":200}}
{"kind":"Event","verb":"get","user":{"username":"system:serviceaccount:sys:op"},"objectRef":{"resource":"secrets","namespace":"x","name":"s"},"responseStatus":{"code":403,"message":"forbidden"},"userAgent":"sco-e2e-probe"}
{"kind":"Event","verb":"create","user":{"username":"admin"},"impersonatedUser":{"username":"system:serviceaccount:sys:op"},"objectRef":{"resource":"selfsubjectaccessreviews","apiGroup":"authorization.k8s.io"},"responseStatus":{"code":201}}
{"kind":"Event","verb":"list","user":{"username":"system:serviceaccount:sys:other"},"objectRef":{"resource":"pods"},"responseStatus":{"code":403}}
"#;

    #[test]
    fn the_audit_log_yields_the_users_own_permissions_without_probes_or_impersonation() {
        let u = usage_in(LOG, "system:serviceaccount:sys:op");
        let want: BTreeSet<Permission> =
            [Permission::new("watch", "", "secrets"), Permission::new("patch", "social.connections.dev", "socialconnections/status")]
                .into();
        assert_eq!(u.used, want);
        assert!(u.refused.is_empty(), "{:?}", u.refused);
        assert_eq!(u.events, 2);
    }

    #[test]
    fn an_over_grant_a_refusal_and_an_ungranted_use_each_fail() {
        let u = usage_in(LOG, "system:serviceaccount:sys:op");
        let role = serde_json::json!({"rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]},
            {"apiGroups": ["social.connections.dev"], "resources": ["socialconnections/status"], "verbs": ["patch"]},
        ]});
        assert_least_privilege("exact", &granted_by(&role), &u);
        let mut over = granted_by(&role);
        over.insert(Permission::new("update", "social.connections.dev", "socialconnections/status"));
        assert!(std::panic::catch_unwind(|| assert_least_privilege("over", &over, &u)).is_err());
        let mut under = granted_by(&role);
        under.remove(&Permission::new("watch", "", "secrets"));
        assert!(std::panic::catch_unwind(|| assert_least_privilege("under", &under, &u)).is_err());
        let refused = usage_in(LOG, "system:serviceaccount:sys:other");
        assert!(std::panic::catch_unwind(|| assert_least_privilege("refused", &granted_by(&role), &refused)).is_err());
    }
}
