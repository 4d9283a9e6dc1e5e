//! End-to-end tests: the operator binary against a real kube-apiserver and etcd, with
//! protocol-faithful fake providers. See `support` for the harness.

mod support;

mod rbac_audit;

mod basics;
mod behaviour;
mod chart;
mod connect;
mod faults;
mod kstatus;
mod kubectl;
mod leader;
mod metrics;
mod notify;
mod plugin;
mod providers;
mod refresh;
mod refresh_faults;
mod revoke;
