//! What must never be found, and where it is looked for.

/// The configured secrets, each distinctive enough that a match is a leak.
pub const SECRET_INLINE: &str = "Inl1ne-S3cret-q7Wv";
pub const SECRET_ENV: &str = "Env-S3cret-zX4m";
pub const SECRET_FILE: &str = "F1le-S3cret-Kp9r";
pub const TOKEN: &str = "Adm1n-T0ken-w2Lj";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");

/// The environment the bridge and CLI run with: secrets by `${ENV}` reference.
pub fn env() -> Vec<(&'static str, String)> {
    let rsa_key = std::fs::read_to_string(format!("{FIXTURES}/b3072_pkcs1.pem")).unwrap();
    vec![
        ("NB_TEST_SP_SECRET", SECRET_ENV.to_owned()),
        ("NB_TEST_ADMIN_TOKEN", TOKEN.to_owned()),
        ("NB_TEST_RSA_KEY", rsa_key),
    ]
}

/// Every string that must not appear: the secrets, the broker's credentials, and pieces
/// of each private key's PEM body (the first lines are the same for every key of a kind,
/// so only the rest are used).
fn needles() -> Vec<String> {
    let mut out: Vec<String> = [SECRET_INLINE, SECRET_ENV, SECRET_FILE, TOKEN, "guest:guest"]
        .map(str::to_owned)
        .to_vec();
    for key in ["a2048_pkcs8.pem", "b3072_pkcs1.pem"] {
        let pem = std::fs::read_to_string(format!("{FIXTURES}/{key}")).unwrap();
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in body.iter().skip(2).filter(|l| l.len() >= 40) {
            out.push(line[8..40].to_owned());
        }
    }
    out
}

/// Texts gathered during a test, each with where it came from.
#[derive(Default)]
pub struct Haystacks(Vec<(String, String)>);

impl Haystacks {
    pub fn add(&mut self, place: &str, text: String) {
        self.0.push((place.to_owned(), text));
    }
}

/// Fails naming the first secret found and where.
pub fn assert_clean(seen: &Haystacks) {
    let needles = needles();
    assert!(needles.len() > 40, "key pieces were collected");
    assert!(!seen.0.is_empty());
    for (place, text) in &seen.0 {
        for needle in &needles {
            if let Some(at) = text.find(needle.as_str()) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(120)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "{needle:?} leaked in {place}: …{}",
                    &text[from..at + needle.len()]
                );
            }
        }
    }
}
