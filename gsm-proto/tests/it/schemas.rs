use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// The committed schemas are exactly what the code generates; `GSM_BLESS=1` rewrites them.
#[test]
fn schemas_match_the_code() {
    let bless = std::env::var_os("GSM_BLESS").is_some();
    let dir = schema_dir();
    let mut drifted = Vec::new();
    let mut expected_files = Vec::new();
    for (name, schema) in gsm_proto::schema::all() {
        let file = dir.join(format!("{name}.json"));
        expected_files.push(format!("{name}.json"));
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if generated != committed {
            if bless {
                std::fs::write(&file, &generated).unwrap();
            } else {
                drifted.push(name);
            }
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas drifted from the code: {drifted:?}; regenerate with \
         `GSM_BLESS=1 cargo nextest run -p gsm-proto schemas` and commit the diff"
    );
    let mut stray: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !expected_files.contains(name))
        .collect();
    stray.sort();
    assert!(stray.is_empty(), "files in schemas/ that no type generates: {stray:?}");
}
