use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::settings::Settings;
use crate::sign::Signer;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load(&path, &env)
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");

#[test]
fn receivers_get_their_presets_defaults() {
    let s = load(
        "[receivers.sz]\npreset = \"shangzhan\"\nsigner = { secret = \"${SZ}\" }\n\
         [receivers.em1]\npreset = \"em\"\npath = \"/cb/em\"\nsigner = { secret = \"k\" }\n\
         publish = { exchange = \"x.events\", routing_key = \"em.{trade_status}\", declare = false }\n",
        &[("SZ", "sz-secret")],
    )
    .unwrap();
    let inbound = &s.inbound;
    assert_eq!(inbound.listen.to_string(), "127.0.0.1:9465");
    assert_eq!(inbound.max_body_bytes, 1 << 20);
    assert!(matches!(inbound.store, StoreSettings::Memory));
    let sz = &inbound.receivers["sz"];
    assert_eq!(sz.provider, Provider::ShangZhan);
    assert_eq!(sz.path, "/callbacks/sz");
    assert_eq!(sz.exchange, "provider.events");
    assert!(sz.declare_exchange);
    assert_eq!(sz.routing_key.to_string(), "shangzhan.{status}");
    assert_eq!(sz.dedup_window, Duration::from_secs(24 * 3600));
    assert!(
        matches!(&sz.signer, Signer::SortedChars { secret, .. } if secret.expose() == "sz-secret")
    );
    let em = &inbound.receivers["em1"];
    assert_eq!(
        (em.path.as_str(), em.exchange.as_str()),
        ("/cb/em", "x.events")
    );
    assert!(!em.declare_exchange);
    let Signer::SortedParams { signer, .. } = &em.signer else {
        panic!("em verifies with sorted-params")
    };
    assert_eq!(signer.case, crate::sign::sorted_params::Case::Lower);
}

#[test]
fn yunzhimeng_takes_both_keys_and_a_replay_window() {
    let text = format!(
        "[inbound]\nstore = \"redis://:${{PW}}@127.0.0.1:6379/2\"\n\
         [receivers.yzm]\npreset = \"yunzhimeng\"\nreplay_window = \"2m\"\n\
         signer = {{ private_key_file = \"{FIXTURES}/b3072_pkcs8.pem\", \
         peer_public_key_file = \"{FIXTURES}/a2048_pub_spki.pem\", encrypt_fields = [\"/idCard\"] }}\n"
    );
    let s = load(&text, &[("PW", "redis-pw-1")]).unwrap();
    let yzm = &s.inbound.receivers["yzm"];
    assert_eq!(yzm.replay_window, Duration::from_secs(120));
    assert!(matches!(yzm.signer, Signer::Rsa(_)));
    assert!(
        matches!(&s.inbound.store, StoreSettings::Redis(url) if url.expose().contains("redis-pw-1"))
    );
    assert!(
        !format!("{s:?}").contains("redis-pw-1"),
        "the store URL is a secret"
    );
}

#[test]
fn errors_name_the_receiver_and_key() {
    let yzm_no_peer = format!(
        "[receivers.y]\npreset = \"yunzhimeng\"\nsigner = {{ private_key_file = \"{FIXTURES}/b3072_pkcs8.pem\" }}\n"
    );
    let cases: &[(&str, &str)] = &[
        ("[receivers.a]\npath = \"/x\"\n", "receivers.a.preset: required"),
        ("[receivers.a]\npreset = \"ebuy\"\n", "receivers.a.preset: `ebuy` is not one of shangzhan, em, yunzhimeng"),
        ("[receivers.a]\npreset = \"em\"\n", "receivers.a.signer.secret: required"),
        (
            "[receivers.a]\npreset = \"em\"\nsigner = { kind = \"rsa\", secret = \"k\" }\n",
            "receivers.a.signer.kind: `rsa` does not match preset em",
        ),
        (
            "[receivers.a]\npreset = \"shangzhan\"\nsigner = { secret = \"k\", event_codes = { MakeCode = \"X\" } }\n",
            "receivers.a.signer.event_codes: not used by receivers",
        ),
        (&yzm_no_peer, "receivers.y.signer.peer_public_key: required"),
        (
            "[receivers.a]\npreset = \"em\"\nreplay_window = \"1m\"\nsigner = { secret = \"k\" }\n",
            "receivers.a.replay_window: only yunzhimeng",
        ),
        (
            "[receivers.a]\npreset = \"em\"\nsigner = { secret = \"k\" }\npublish = { routing_key = \"em.{\" }\n",
            "receivers.a.publish.routing_key: unbalanced braces",
        ),
        (
            "[receivers.a]\npreset = \"em\"\npath = \"/cb/{id}\"\nsigner = { secret = \"k\" }\n",
            "receivers.a.path: must start with /",
        ),
        (
            "[receivers.a]\npreset = \"em\"\npath = \"/cb\"\nsigner = { secret = \"k\" }\n\
             [receivers.b]\npreset = \"em\"\npath = \"/cb\"\nsigner = { secret = \"k\" }\n",
            "receivers.b.path: `/cb` is already the path of receivers.a",
        ),
        (
            "[receivers.a]\npreset = \"em\"\ndedup_window = \"0s\"\nsigner = { secret = \"k\" }\n",
            "receivers.a.dedup_window: must be more than 0s",
        ),
        ("[receivers.a]\npreset = \"em\"\nsigner = { secret = \"k\" }\nretry = {}\n", "unknown field `retry`"),
        ("[inbound]\nmax_body_bytes = 0\n", "inbound.max_body_bytes: must be at least 1"),
        ("[inbound]\nlisten = \"127.0.0.1:9464\"\n", "inbound.listen: must differ from admin.listen"),
        ("[inbound]\nstore = \"redis\"\n", "inbound.store: must be `memory` or a redis:// URL"),
        ("[inbound]\nstore = \"${NOPE}\"\n", "inbound.store: environment variable `NOPE` is not set"),
    ];
    for (text, want) in cases {
        let err = load(text, &[]).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn a_bad_store_url_is_not_quoted() {
    let err = load("[inbound]\nstore = \"redis://:pw-777@[bad\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("pw-777"), "{err}");
}
