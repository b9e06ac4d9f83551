use super::*;
use crate::message::MessageType;
use crate::retry::RetrySchedule;
use crate::sign::Signer;

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let (_dir, path) = write(text);
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load(&path, &env)
}

const MINIMAL: &str = r#"
[channels.a]
signer = { secret = "${A_SECRET}" }
"#;

#[test]
fn the_shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/notify-bridge.example.toml");
    let s = Settings::load(&path, &HashMap::new()).unwrap();
    assert_eq!(s.broker.queue, "whale.core.brandNotify");
    assert_eq!(s.broker.prefetch, 256);
    let a = &s.channels["brand-a"];
    assert_eq!(a.app_id.as_deref(), Some("APP_A"));
    assert_eq!(a.message_types, vec![MessageType::Ebuy]);
    assert_eq!(
        s.channels["brand-b"].encoding,
        crate::format::BodyEncoding::Form
    );
    let receivers: Vec<&str> = s.inbound.receivers.keys().map(String::as_str).collect();
    assert_eq!(receivers, ["em-audit", "sz-recharge", "yzm-waybill"]);
    assert_eq!(s.inbound.listen.to_string(), "127.0.0.1:9465");
}

#[test]
fn the_docker_demo_config_is_valid_and_needs_its_admin_token() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/docker-demo.toml");
    let err = Settings::load(&path, &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADMIN_TOKEN"), "{err}");
    let env = HashMap::from([("ADMIN_TOKEN".to_string(), "t".to_string())]);
    let s = Settings::load(&path, &env).unwrap();
    assert_eq!(s.admin.listen.to_string(), "0.0.0.0:9464");
    assert!(s.channels.contains_key("demo"));
}

#[test]
fn defaults_come_from_the_ebuy_preset() {
    let s = load(MINIMAL, &[("A_SECRET", "x")]).unwrap();
    let a = &s.channels["a"];
    assert_eq!(a.timeout, Duration::from_secs(10));
    assert_eq!(a.url_policy.schemes, vec!["https".to_string()]);
    let Signer::SortedParams { signer, field } = &a.signer else {
        panic!("expected a sorted-params signer")
    };
    assert_eq!(signer.secret.expose(), "x");
    assert_eq!(field, "sign");
    assert_eq!(signer.case, crate::sign::sorted_params::Case::Upper);
    assert!(matches!(&a.retry.schedule, RetrySchedule::Steps(s) if s.len() == 8));
}

#[test]
fn env_overrides_file_keys() {
    let s = load(
        MINIMAL,
        &[
            ("A_SECRET", "x"),
            ("NOTIFY_BRIDGE__BROKER__PREFETCH", "17"),
            ("NOTIFY_BRIDGE__CHANNELS__A__TIMEOUT", "3s"),
        ],
    )
    .unwrap();
    assert_eq!(s.broker.prefetch, 17);
    assert_eq!(s.channels["a"].timeout, Duration::from_secs(3));
}

#[test]
fn em_preset_is_lower_case_with_a_window() {
    let s = load(
        "[channels.e]\npreset = \"em\"\nsigner = { secret = \"k\" }\n",
        &[],
    )
    .unwrap();
    let e = &s.channels["e"];
    let Signer::SortedParams { signer, .. } = &e.signer else {
        panic!("expected a sorted-params signer")
    };
    assert_eq!(signer.case, crate::sign::sorted_params::Case::Lower);
    assert!(!e.success.holds(200, "success"));
    assert!(e.success.holds(200, "SUCCESS"));
    assert!(matches!(e.retry.schedule, RetrySchedule::Every { .. }));
}

#[test]
fn errors_name_the_channel_and_field() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            MINIMAL,
            &[],
            "channels.a.signer.secret: environment variable `A_SECRET` is not set",
        ),
        (
            "[channels.a]\nsigner = { secret = \"k\", hash = \"sha1\" }\n",
            &[],
            "channels.a.signer.hash: `sha1` is not one of md5, sha256, hmac-sha256",
        ),
        (
            "[channels.a]\ntimeout = \"soon\"\nsigner = { secret = \"k\" }\n",
            &[],
            "channels.a.timeout: `soon` is not a duration",
        ),
        (
            "[channels.a]\npreset = \"nope\"\n",
            &[],
            "channels.a.preset: `nope` is not one of",
        ),
        ("[channels.a]\n", &[], "channels.a.signer.secret: required"),
        (
            "[channels.a]\nmax_body_bytes = 10\nsigner = { secret = \"k\" }\n",
            &[],
            "channels.a.max_body_bytes: must be 1024 to 16777216 bytes",
        ),
        (
            "[channels.a]\nsigner = { secret = \"k\" }\nurl_policy = { schemes = [\"ftp\"] }\n",
            &[],
            "channels.a.url_policy.schemes: `ftp`",
        ),
        (
            "[broker]\nprefetch = 0\n",
            &[],
            "broker.prefetch: must be at least 1",
        ),
        (
            "[broker]\nqueue_typo = 1\n",
            &[],
            "unknown field `queue_typo`",
        ),        (
            "[channels.a]\nsigner = { kind = \"rsa\", secret = \"k\" }\n",
            &[],
            "channels.a.signer.secret: `secret` belongs to signer kind \
             sorted-params/sorted-chars-md5, not rsa",
        ),
        (
            "[channels.a]\npreset = \"yunzhimeng\"\nsigner = { secret_file = \"k\" }\n",
            &[],
            "channels.a.signer.secret_file: `secret_file` belongs to signer kind \
             sorted-params/sorted-chars-md5, not rsa",
        ),
        (
            "[channels.a]\nsigner = { kind = \"sorted-chars-md5\", secret = \"k\", case = \"lower\" }\n",
            &[],
            "channels.a.signer.case: `case` belongs to signer kind sorted-params, not sorted-chars-md5",
        ),
        (
            "[channels.a]\nsigner = { secret = \"k\", padding = \"pkcs1\" }\n",
            &[],
            "channels.a.signer.padding: `padding` belongs to signer kind rsa, not sorted-params",
        ),
        (
            "[channels.a]\npreset = \"shangzhan\"\nsigner = { secret = \"k\", private_key = \"Hunter2\" }\n",
            &[],
            "channels.a.signer.private_key: `private_key` belongs to signer kind rsa, \
             not sorted-chars-md5",
        ),
        (
            "[channels.a]\nsigner = { secrte = \"Hunter2\" }\n",
            &[],
            "channels.a.signer.secrte: unknown field `secrte`: signer kind sorted-params takes \
             kind, secret, secret_file, field, template, hash, case",
        ),
        (
            "[channels.a]\nsigner = { secret = [\"Hunter2\"] }\n",
            &[],
            "channels.a.signer.secret: invalid type: sequence, expected a string",
        ),
    ];
    for (text, env, want) in cases {
        let err = load(text, env).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(!err.contains("Hunter2"), "{err:?}");
    }
}

#[test]
fn a_preset_gives_the_signer_kind_and_the_environment_its_secret() {
    let s = load(
        "[channels.a]\npreset = \"shangzhan\"\n",
        &[("NOTIFY_BRIDGE__CHANNELS__A__SIGNER__SECRET", "123456")],
    )
    .unwrap();
    let Signer::SortedChars { secret, field } = &s.channels["a"].signer else {
        panic!("expected the shangzhan preset's sorted-chars-md5 signer")
    };
    assert_eq!((secret.expose(), field.as_str()), ("123456", "sign"));
}

#[test]
fn secrets_from_files_resolve_relative_to_the_config() {
    let (dir, path) = write("[channels.a]\nsigner = { secret_file = \"a.secret\" }\n");
    std::fs::write(dir.path().join("a.secret"), "from-file\n").unwrap();
    let s = Settings::load(&path, &HashMap::new()).unwrap();
    let Signer::SortedParams { signer, .. } = &s.channels["a"].signer else {
        panic!("expected a sorted-params signer")
    };
    assert_eq!(signer.secret.expose(), "from-file");
}

#[test]
fn debug_output_never_shows_secrets() {
    let s = load(
        "[broker]\nurl = \"amqp://u:pw-123@h/%2f\"\n[channels.a]\nsigner = { secret = \"sek-456\" }\n",
        &[],
    )
    .unwrap();
    let dump = format!("{s:?}");
    assert!(
        !dump.contains("pw-123") && !dump.contains("sek-456"),
        "{dump}"
    );
}

#[test]
fn event_codes_must_be_header_safe() {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rsa/a2048_pkcs8.pem"
    );
    let text = format!(
        "[channels.a]\nsigner = {{ kind = \"rsa\", private_key_file = \"{key}\", event_codes = {{ MakeCode = \"A\\r\\nX-Evil: 1\" }} }}\n"
    );
    let (_dir, path) = write(&text);
    let err = Settings::load(&path, &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("channels.a.signer.event_codes.MakeCode: must be printable ASCII"),
        "{err}"
    );
}

#[test]
fn a_preset_gives_the_signer_kind_its_keys_belong_to() {
    let text = "[channels.sz]\npreset = \"shangzhan\"\nsigner = { secret = \"k\" }\n\
                [channels.em]\npreset = \"em\"\nsigner = { secret = \"k\", field = \"signature\" }\n";
    let s = load(text, &[]).unwrap();
    assert!(matches!(
        &s.channels["sz"].signer,
        Signer::SortedChars { .. }
    ));
    let Signer::SortedParams { field, .. } = &s.channels["em"].signer else {
        panic!("em signs sorted params")
    };
    assert_eq!(field, "signature");
}

#[test]
fn broker_url_comes_first_then_the_listed_nodes() {
    let text = format!(
        "[broker]\nurl = \"amqp://u:${{P}}@n1:5681/%2f\"\nurls = [\"amqp://n2:5682/%2f\", \"amqp://n3:5683/%2f\"]\n{MINIMAL}"
    );
    let s = load(&text, &[("P", "pw"), ("A_SECRET", "x")]).unwrap();
    let urls: Vec<&str> = s.broker.urls.iter().map(|u| u.expose()).collect();
    assert_eq!(
        urls,
        [
            "amqp://u:pw@n1:5681/%2f",
            "amqp://n2:5682/%2f",
            "amqp://n3:5683/%2f"
        ]
    );
}

#[test]
fn a_bad_broker_node_is_named_by_its_index() {
    let text = format!("[broker]\nurls = [\"amqp://n1/%2f\", \"http://n2/\"]\n{MINIMAL}");
    let err = load(&text, &[("A_SECRET", "x")]).unwrap_err().to_string();
    assert_eq!(err, "broker.urls[1]: must start with amqp:// or amqps://");
    let empty = format!("[broker]\nurls = []\n{MINIMAL}");
    let err = load(&empty, &[("A_SECRET", "x")]).unwrap_err().to_string();
    assert_eq!(err, "broker.urls: must list at least one address");
}
