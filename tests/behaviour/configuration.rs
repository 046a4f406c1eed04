//! Configuration through the compiled module: `proxy_on_configure` accepts a good document and
//! logs it once, rejects a bad one as a whole with one error line per problem at its JSON path,
//! and a rejected push leaves the previous plan deciding (or, first time, a pass-through filter).

use std::path::Path;

use crate::host::{Action, Host, LogLevel, SWITCHYARD, Vm};

const R1: &str = r#"{
  "revision": "r1",
  "routes": [{"name": "checkout", "match": {"path_prefix": "/checkout"}, "stable": "checkout-v1"}]
}"#;

const R2: &str = r#"{
  "revision": "r2",
  "routes": [
    {
      "name": "checkout",
      "match": {"path_prefix": "/checkout"},
      "stable": "checkout-v1",
      "canary": {"cluster": "checkout-v2", "weight": 100},
      "experiments": [
        {"name": "ranker", "key": ["header:x-user-id"],
         "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}]},
        {"name": "layout", "key": ["cookie:uid"],
         "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}]}
      ],
      "shadow": {"cluster": "checkout-v3", "percent": 10}
    },
    {"name": "web", "stable": "web-v1"}
  ]
}"#;

/// Eight problems in one document, at every depth.
const BAD: &str = r#"{
  "revision": "r9",
  "routes": [
    {"name": "Bad Name", "stable": "s", "canary": {"cluster": "c", "weight": 150, "wieght": 3}},
    {"name": "b", "match": {"path_prefix": "x"},
     "experiments": [{"name": "e", "key": [], "variants": [{"name": "a", "weight": 0.2}]}]}
  ],
  "overridez": 1
}"#;

const BAD_PROBLEMS: [&str; 8] = [
    "switchyard: routes[0].canary.wieght: unknown field `wieght`, expected one of `cluster`, `weight`, `ramp`, `sticky`, `seed`, `force`, `guard`",
    "switchyard: overridez: unknown field `overridez`, expected one of `revision`, `debug`, `headers`, `overrides`, `telemetry`, `routes`",
    r#"switchyard: routes[0].name: must match [a-z0-9_.-]{1,64}, got "Bad Name""#,
    "switchyard: routes[0].canary.weight: must be within 0..=100, got 150",
    r#"switchyard: routes[1].match.path_prefix: must start with '/' and hold no query or fragment, got "x""#,
    "switchyard: routes[1].stable: required unless blue_green is given",
    "switchyard: routes[1].experiments[0].key: give at least one key source",
    "switchyard: routes[1].experiments[0].variants: give 2 to 32 variants, got 1",
];

/// The cluster the filter wrote for a GET of `path`, None when no route matched.
fn cluster_for(vm: &mut Vm, path: &str) -> Option<String> {
    let mut stream = vm.stream();
    let action = stream.request_headers(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "shop.example.com"),
        (":path", path),
        ("x-switchyard-cluster", "spoofed"),
    ]);
    assert_eq!(action, Action::Continue);
    stream.request_header("x-switchyard-cluster")
}

fn applied_lines(vm: &Vm) -> Vec<&str> {
    vm.logs_at(LogLevel::Info)
        .into_iter()
        .filter(|line| line.contains("applied revision"))
        .collect()
}

#[test]
fn a_bad_configuration_is_rejected_with_one_error_line_per_problem_naming_its_json_path() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure(
        r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 150}}]}"#
    ));
    assert_eq!(
        vm.logs_at(LogLevel::Error),
        ["switchyard: routes[0].canary.weight: must be within 0..=100, got 150"]
    );
}

#[test]
fn every_problem_of_a_bad_configuration_is_reported_at_once() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure(BAD));
    let mut errors = vm.logs_at(LogLevel::Error);
    errors.sort_unstable();
    let mut expected = BAD_PROBLEMS.to_vec();
    expected.sort_unstable();
    assert_eq!(errors, expected);
    assert_eq!(
        vm.logs_at(LogLevel::Warn),
        [
            "switchyard: configuration rejected with 8 problem(s); the previous configuration, if any, keeps serving"
        ]
    );
    assert!(applied_lines(&vm).is_empty());
}

#[test]
fn a_rejected_push_leaves_the_previous_configuration_deciding() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(vm.configure(R1));
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
    assert_eq!(cluster_for(&mut vm, "/about"), None);

    assert!(!vm.configure(BAD));
    assert_eq!(vm.logs_at(LogLevel::Error).len(), BAD_PROBLEMS.len());
    assert_eq!(
        vm.logs_at(LogLevel::Warn),
        [r#"switchyard: configuration rejected with 8 problem(s); revision "r1" keeps serving"#]
    );
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
    assert_eq!(cluster_for(&mut vm, "/about"), None);

    assert!(!vm.configure("{\"routes\": ["), "invalid JSON too");
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
    assert_eq!(applied_lines(&vm).len(), 1, "only r1 was ever applied");
}

#[test]
fn a_first_bad_configuration_leaves_a_pass_through_filter() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure(BAD));
    for path in ["/checkout/pay", "/about", "/"] {
        assert_eq!(cluster_for(&mut vm, path), None, "{path}");
    }

    assert!(vm.configure(R1), "a later good push still applies");
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
}

#[test]
fn a_good_push_replaces_the_plan_and_is_logged_once_with_its_revision_and_summary() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(vm.configure(R1));
    assert_eq!(
        applied_lines(&vm),
        [r#"switchyard: applied revision "r1": routes=1 canaries=0 experiments=0 shadows=0"#]
    );
    assert_eq!(cluster_for(&mut vm, "/about"), None);

    assert!(vm.configure(R2));
    assert_eq!(
        applied_lines(&vm),
        [
            r#"switchyard: applied revision "r1": routes=1 canaries=0 experiments=0 shadows=0"#,
            r#"switchyard: applied revision "r2": routes=2 canaries=1 experiments=2 shadows=1"#
        ]
    );
    assert!(vm.logs_at(LogLevel::Error).is_empty());
    assert!(vm.logs_at(LogLevel::Warn).is_empty());
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v2")
    );
    assert_eq!(cluster_for(&mut vm, "/about").as_deref(), Some("web-v1"));
}

#[test]
fn an_empty_plugin_configuration_is_rejected() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure(""));
    let errors = vm.logs_at(LogLevel::Error);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("switchyard: $: invalid JSON"),
        "{errors:?}"
    );

    assert!(vm.configure(R1));
    assert!(!vm.configure(""), "after a good one too");
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
}

#[test]
fn a_document_without_routes_is_rejected_but_an_empty_route_list_is_accepted() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure("{}"));
    assert_eq!(
        vm.logs_at(LogLevel::Error),
        ["switchyard: routes: required (may be an empty array)"]
    );
    assert!(vm.configure(r#"{"routes": []}"#));
    assert_eq!(
        applied_lines(&vm),
        [r#"switchyard: applied revision "": routes=0 canaries=0 experiments=0 shadows=0"#]
    );
}

#[test]
fn every_example_configuration_is_accepted_by_the_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());

    let host = Host::new(&SWITCHYARD);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable example");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let revision = json["revision"].as_str().unwrap_or_default();
        let mut vm = host.vm();
        assert!(
            vm.configure(&text),
            "{} rejected: {:?}",
            file.display(),
            vm.logs_at(LogLevel::Error)
        );
        let applied = applied_lines(&vm);
        assert_eq!(applied.len(), 1, "{}: {applied:?}", file.display());
        assert!(
            applied[0].starts_with(&format!(
                "switchyard: applied revision \"{revision}\": routes="
            )),
            "{}: {applied:?}",
            file.display()
        );
    }
}

#[test]
fn a_configuration_reading_a_routing_header_as_an_input_is_rejected() {
    let cases = [
        (
            r#"{"routes": [{"name": "a", "stable": "s",
                "canary": {"cluster": "c", "weight": 10, "sticky": ["header:x-switchyard-cluster"]}}]}"#,
            r#"switchyard: routes[0].canary.sticky[0]: "x-switchyard-cluster" is written or removed by Switchyard and cannot be read"#,
        ),
        (
            r#"{"routes": [{"name": "a", "stable": "s",
                "match": {"headers": [{"name": "x-switchyard-target", "present": true}]}}]}"#,
            r#"switchyard: routes[0].match.headers[0].name: "x-switchyard-target" is written or removed by Switchyard and cannot be read"#,
        ),
        (
            r#"{"routes": [{"name": "a", "blue_green": {"active": "blue", "blue": "b", "green": "g",
                "preview": {"header": "x-switchyard-token"}}}]}"#,
            r#"switchyard: routes[0].blue_green.preview.header: "x-switchyard-token" is written or removed by Switchyard and cannot be read"#,
        ),
        (
            r#"{"routes": [{"name": "a", "stable": "s", "experiments": [{"name": "e",
                "key": ["header:x-switchyard-exp-foo"],
                "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}]}]}]}"#,
            r#"switchyard: routes[0].experiments[0].key[0]: "x-switchyard-exp-foo" is written or removed by Switchyard and cannot be read"#,
        ),
    ];
    for (configuration, problem) in cases {
        let mut vm = Host::new(&SWITCHYARD).vm();
        assert!(!vm.configure(configuration), "{configuration}");
        assert_eq!(vm.logs_at(LogLevel::Error), [problem]);
    }
}

#[test]
fn a_configuration_over_16_mib_is_rejected_and_the_previous_one_keeps_deciding() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(vm.configure(R1));
    let huge = format!(
        r#"{{"revision": "huge", "routes": [], "debug": false{}}}"#,
        " ".repeat(16 << 20)
    );
    assert!(!vm.configure(&huge));
    assert_eq!(
        vm.logs_at(LogLevel::Error),
        [format!(
            "switchyard: $: configuration is {} bytes, more than the limit of 16777216",
            huge.len()
        )]
    );
    assert_eq!(
        cluster_for(&mut vm, "/checkout/pay").as_deref(),
        Some("checkout-v1")
    );
}

#[test]
fn a_field_given_twice_is_rejected() {
    // CONFIG.md: "a typo in a rollout config must never be silently ignored": of two values
    // given for one field, neither may win silently (serde's derives refuse them too).
    for configuration in [
        r#"{"routes": [{"name": "a", "stable": "s",
            "canary": {"cluster": "c", "weight": 10, "weight": 90}}]}"#,
        r#"{"routes": [], "routes": [{"name": "a", "stable": "s"}]}"#,
    ] {
        let mut vm = Host::new(&SWITCHYARD).vm();
        assert!(
            !vm.configure(configuration),
            "accepted: {configuration}\n{:?}",
            vm.logs()
        );
        assert_eq!(vm.logs_at(LogLevel::Error).len(), 1, "{:?}", vm.logs());
    }
}
