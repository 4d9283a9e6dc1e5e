//! Runs docs/argocd-health-check.lua as Argo CD does (global `obj`, a returned table with
//! `status` and `message`), with only the base, table, string and math libraries, in Lua 5.1 (the
//! dialect of Argo CD's interpreter). Shared by tests/chart.rs (sample statuses) and the
//! end-to-end kstatus test (the statuses the operator really writes).

/// Argo CD's (health status, message) for the SocialConnection `obj`.
pub fn argo_health(obj: &serde_json::Value) -> (String, String) {
    use mlua::{LuaOptions, LuaSerdeExt, StdLib, Table};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/argocd-health-check.lua");
    let script = std::fs::read_to_string(path).expect("read docs/argocd-health-check.lua");
    let lua = mlua::Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default()).expect("Lua");
    lua.globals().set("obj", lua.to_value(obj).expect("obj as Lua")).expect("set obj");
    let hs: Table = lua.load(&script).set_name("argocd-health-check.lua").eval().unwrap_or_else(|e| panic!("the health check failed: {e}"));
    (hs.get::<String>("status").expect("status"), hs.get::<String>("message").expect("message"))
}
