//! Embeds the dashboard's built files (`web/dist`, made by `make web`) into the binary, so one
//! file ships the server and its UI.
//!
//! The key decision: a missing `web/dist` is not an error. The server then builds with no assets
//! and answers `/` with a page that says how to build them, so Rust-only work never needs Node.
//! `GSM_WEB_DIST` points at another folder (an empty one builds a server without assets).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=GSM_WEB_DIST");
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let dist = match std::env::var_os("GSM_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.join("../web/dist"),
    };
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        // Cargo scans a directory named here for any changed file.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    } else {
        // Rebuild once the folder holding the future `dist` changes (a `make web` creates it).
        let watch = if dist.is_dir() {
            dist.clone()
        } else {
            dist.parent().map_or(dist.clone(), Path::to_path_buf)
        };
        println!("cargo:rerun-if-changed={}", watch.display());
    }
    files.sort();
    let mut out =
        String::from("/// The dashboard's files: path relative to `web/dist`, and contents.\n");
    out.push_str("pub(crate) static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string())
            .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("web_assets.rs"), out).expect("OUT_DIR is writable");
}

/// Every regular file under `dir`, as (`/`-separated path relative to `root`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|err| panic!("reading {}: {err}", dir.display())).path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.is_file() {
            let relative = path.strip_prefix(root).expect("walked from root");
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path
                .canonicalize()
                .unwrap_or_else(|err| panic!("resolving {}: {err}", path.display()));
            files.push((name, absolute));
        }
    }
}
