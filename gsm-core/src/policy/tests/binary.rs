//! Binding by identity (reliability.md §5.2 X4): an allowed program swapped after the policy
//! loaded is refused as `binary_changed`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{assert_check, job};
use crate::policy::{LoadError, Policy};

/// A policy allowing one program at `dir/tool`, whatever `tool` is when it loads.
fn policy_for_tool(dir: &Path) -> (Policy, String) {
    let tool = dir.join("tool").to_str().unwrap().to_owned();
    let text = format!(
        "version = 1\nroots = [{root:?}]\n[[program]]\npath = {tool:?}\nrepeat = {{ regex = '.*' }}\n",
        root = dir.to_str().unwrap(),
    );
    (Policy::from_toml_str(&text).unwrap(), tool)
}

fn tempdir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(dir.path()).unwrap();
    (dir, base)
}

fn copy_executable(from: &str, to: &Path) {
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_re_pointed_symlink_is_a_changed_binary() {
    let (_dir, base) = tempdir();
    symlink("/bin/echo", base.join("tool")).unwrap();
    let (policy, tool) = policy_for_tool(&base);
    assert_check(&policy, &job(&tool, &["hi"]), "allowed");

    fs::remove_file(base.join("tool")).unwrap();
    symlink("/bin/cat", base.join("tool")).unwrap();
    assert_check(&policy, &job(&tool, &["/etc/shadow"]), "binary_changed");
}

#[test]
fn a_binary_replaced_by_rename_is_a_changed_binary() {
    let (_dir, base) = tempdir();
    copy_executable("/bin/true", &base.join("tool"));
    let (policy, tool) = policy_for_tool(&base);
    assert_check(&policy, &job(&tool, &[]), "allowed");

    copy_executable("/bin/false", &base.join("tool.new"));
    fs::rename(base.join("tool.new"), base.join("tool")).unwrap();
    let refusal = policy.check(&job(&tool, &[])).unwrap_err();
    assert_eq!(refusal.reason(), "binary_changed");
    assert!(refusal.to_string().contains("inode"), "{refusal}");
}

#[test]
fn a_removed_binary_is_a_changed_binary() {
    let (_dir, base) = tempdir();
    copy_executable("/bin/true", &base.join("tool"));
    let (policy, tool) = policy_for_tool(&base);
    fs::remove_file(base.join("tool")).unwrap();
    assert_check(&policy, &job(&tool, &[]), "binary_changed");
}

#[test]
fn a_binary_made_writable_by_others_is_a_changed_binary() {
    let (_dir, base) = tempdir();
    copy_executable("/bin/true", &base.join("tool"));
    let (policy, tool) = policy_for_tool(&base);
    fs::set_permissions(base.join("tool"), fs::Permissions::from_mode(0o775)).unwrap();
    assert_check(&policy, &job(&tool, &[]), "binary_changed");
}

#[test]
fn a_binary_writable_by_others_is_refused_at_load() {
    let (_dir, base) = tempdir();
    copy_executable("/bin/true", &base.join("tool"));
    fs::set_permissions(base.join("tool"), fs::Permissions::from_mode(0o777)).unwrap();
    let text = format!(
        "version = 1\nroots = [{root:?}]\n[[program]]\npath = {tool:?}\n",
        root = base.to_str().unwrap(),
        tool = base.join("tool").to_str().unwrap(),
    );
    let error = Policy::from_toml_str(&text).unwrap_err();
    assert!(matches!(error, LoadError::PathUnusable { .. }), "{error:?}");
    assert!(error.to_string().starts_with("line 4, column 8: [[program]] #1"), "{error}");
    assert!(error.to_string().contains("writable by group or others (mode 777)"), "{error}");
}
