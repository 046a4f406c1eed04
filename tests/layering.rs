//! The layering of `src/` (README, Layout), checked on the source: every `crate::` path a file
//! names must lead to its own layer's module or to a layer below it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Top-level modules of `src/`, by layer, top first. `lib` is the crate root.
const LAYERS: &[&[&str]] = &[
    &["lib", "main"],
    &["filter", "cli"],
    &["config", "engine"],
    &["plan"],
    &["request", "hash", "cidr", "time", "random", "json"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("src/{module} is in no layer of tests/layering.rs"))
}

/// The top-level modules a file names through `crate::`.
fn named(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in source.match_indices("crate::") {
        // `$crate::` in a macro is the crate root, not a module.
        if source[..at].ends_with('$') {
            continue;
        }
        let rest = &source[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_its_own_layer_or_those_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = Vec::new();
    for file in &all {
        let relative = file.strip_prefix(&src).expect("under src/");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|c| c.trim_end_matches(".rs"))
            .expect("a name");
        let own = layer(top);
        let source = fs::read_to_string(file).expect("readable");
        for name in named(&source) {
            let theirs = layer(&name);
            // Beside it is allowed only for the module itself (config may not name engine).
            if theirs < own || (theirs == own && name != top) {
                wrong.push(format!("{}: crate::{name}", relative.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_upwards() {
    assert_eq!(
        named("use crate::engine::Env; x = crate::plan::Plan; $crate::y"),
        BTreeSet::from(["engine".to_string(), "plan".to_string()])
    );
    assert!(layer("filter") < layer("engine") && layer("engine") < layer("plan"));
    assert!(layer("plan") < layer("request") && layer("config") == layer("engine"));
}
