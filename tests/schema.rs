//! The JSON Schema of the configuration contract is generated from the config types (schemars),
//! committed as `schema/switchyard.schema.json`, and kept current here; every example config in
//! the repository validates against it, compiles, and reads the same through the module's reader
//! as through serde.
#![cfg(feature = "schema")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use switchyard::config::{self, Config};

const COMMITTED: &str = "schema/switchyard.schema.json";

fn generated() -> Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap()
}

/// Every JSON configuration shipped in the repository.
fn example_configs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("examples/configs")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "examples/configs went missing: {files:?}");
    files
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_committed_schema_is_generated_from_the_config_types() {
    let schema = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        std::fs::write(COMMITTED, text).unwrap();
    }
    let committed = read_json(Path::new(COMMITTED));
    assert!(
        committed == schema,
        "{COMMITTED} is stale: run `make schema` and commit it"
    );
}

#[test]
fn every_example_config_validates_against_the_schema_and_compiles() {
    let validator = jsonschema::validator_for(&generated()).unwrap();
    for path in example_configs() {
        let document = read_json(&path);
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        if let Err(problems) = config::load(&bytes) {
            panic!("{}: {problems:?}", path.display());
        }
    }
}

#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let validator = jsonschema::validator_for(&generated()).unwrap();
    let invalid = [
        r#"{}"#,
        r#"{"routes": [], "extra": 1}"#,
        r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 150}}]}"#,
        r#"{"routes": [{"name": "Upper", "stable": "s"}]}"#,
        r#"{"routes": [{"name": "a", "blue_green": {"active": "purple", "blue": "b", "green": "g"}}]}"#,
        r#"{"routes": [], "overrides": {"from": "everyone"}}"#,
        r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 5, "guard": {"max_error_rate": 0.2, "min_requests": 0, "window_s": 10}}}]}"#,
        r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 5, "guard": {"max_error_rate": 0.2, "min_requests": 40, "window_s": 3601}}}]}"#,
        r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 5, "guard": {"max_error_rate": 0.2, "min_requests": 40}}}]}"#,
    ];
    for document in invalid {
        let value: Value = serde_json::from_str(document).unwrap();
        assert!(!validator.is_valid(&value), "schema accepted {document}");
    }
}

#[test]
fn the_module_reader_and_serde_read_every_example_the_same() {
    for path in example_configs() {
        let bytes = std::fs::read(&path).unwrap();
        let by_serde: Config = serde_json::from_slice(&bytes).unwrap();
        let parsed = config::parse(&bytes).unwrap();
        assert!(
            parsed.problems.is_empty(),
            "{}: {:?}",
            path.display(),
            parsed.problems
        );
        assert_eq!(parsed.config, by_serde, "{}", path.display());
    }
}

/// Property names of every object in the schema, and every key used in a document.
fn property_names(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| property_names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

fn keys(document: &Value, out: &mut Vec<String>) {
    match document {
        Value::Object(map) => {
            out.extend(map.keys().cloned());
            map.values().for_each(|v| keys(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn the_everything_example_uses_every_field_of_the_contract() {
    // With the test above, this proves the module's reader knows every field serde knows: a
    // field it did not read would be an unknown field, one read under another name a mismatch.
    let mut fields = Vec::new();
    property_names(&generated(), &mut fields);
    let mut used = Vec::new();
    keys(
        &read_json(Path::new("examples/configs/everything.json")),
        &mut used,
    );
    let missing: Vec<&String> = fields.iter().filter(|f| !used.contains(f)).collect();
    assert!(missing.is_empty(), "everything.json lacks {missing:?}");
}
