//! Interoperability of the `rsa` signer with the `openssl` command line, run at test time.
//!
//! OpenSSL stands in for the Java peer: if it accepts our signatures and
//! ciphertexts and we accept its, the wire formats agree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use notify_bridge::sign::rsa::{
    EncryptedFields, Padding, PrivateKey, PublicKey, RsaSigner, RsaVerifier, SigningParts, Template,
};
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");

/// (private PEM, public PEM, key bytes): one PKCS#1/SPKI pair, one PKCS#8/PKCS#1 pair.
const KEYS: [(&str, &str, usize); 2] = [
    ("a2048_pkcs1.pem", "a2048_pub_spki.pem", 256),
    ("b3072_pkcs8.pem", "b3072_pub_pkcs1.pem", 384),
];

const PARTS: SigningParts<'static> = SigningParts {
    timestamp: "1712345678901",
    nonce: "987654321098765432",
    body: r#"{"eventCode":"CREATE_WAYBILL","driver":{"name":"李四","idCard":"x"}}"#.as_bytes(),
};

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn read(name: &str) -> String {
    fs::read_to_string(fixture(name)).unwrap()
}

/// A fresh directory per test, so tests can run in parallel.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("openssl-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs openssl; returns whether it succeeded. A missing binary fails loudly:
/// these tests are the interop evidence and must not pass by being skipped.
fn openssl(args: &[&str]) -> bool {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("the `openssl` command line must be installed to run these tests");
    output.status.success()
}

fn padding_args(padding: Padding) -> Vec<&'static str> {
    match padding {
        Padding::Pkcs1 => vec!["-pkeyopt", "rsa_padding_mode:pkcs1"],
        Padding::OaepSha256 => vec![
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    }
}

/// Plaintexts of one block and of several, the latter with a CJK character
/// (3 UTF-8 bytes) straddling every block boundary somewhere in the run.
fn plaintexts() -> Vec<String> {
    vec![
        "110101199003074211".to_owned(),
        "张三丰的银行卡号6222020200112233445".repeat(20),
    ]
}

#[test]
fn openssl_verifies_our_signatures() {
    let dir = scratch_dir("verifies-ours");
    for (private, public, _) in KEYS {
        let signer = RsaSigner::new(
            Template::default(),
            PrivateKey::from_pem(&read(private)).unwrap(),
        );
        let sig = STANDARD.decode(signer.sign(&PARTS).unwrap()).unwrap();
        let (msg, sig_path) = (dir.join("msg"), dir.join("sig.bin"));
        fs::write(&msg, signer.explain(&PARTS)).unwrap();
        fs::write(&sig_path, sig).unwrap();
        let verify = |msg: &Path| {
            openssl(&[
                "dgst",
                "-sha256",
                "-verify",
                fixture(public).to_str().unwrap(),
                "-signature",
                sig_path.to_str().unwrap(),
                msg.to_str().unwrap(),
            ])
        };
        assert!(verify(&msg), "{private}");
        let tampered = dir.join("tampered");
        fs::write(&tampered, signer.explain(&PARTS).replace("李四", "李五")).unwrap();
        assert!(
            !verify(&tampered),
            "{private}: openssl must refuse a tampered body"
        );
    }
}

#[test]
fn we_verify_openssl_signatures() {
    let dir = scratch_dir("verifies-theirs");
    let (msg, sig_path) = (dir.join("msg"), dir.join("sig.bin"));
    fs::write(&msg, Template::default().render(&PARTS)).unwrap();
    for (private, public, _) in KEYS {
        assert!(openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            fixture(private).to_str().unwrap(),
            "-out",
            sig_path.to_str().unwrap(),
            msg.to_str().unwrap(),
        ]));
        let sig = STANDARD.encode(fs::read(&sig_path).unwrap());
        let key = PublicKey::from_pem(&read(public)).unwrap();
        let verifier = RsaVerifier::new(Template::default(), key);
        assert!(verifier.verify(&PARTS, &sig), "{private}");
        let tampered = r#"{"eventCode":"CREATE_WAYBILL","driver":{"name":"李五","idCard":"x"}}"#;
        let parts = SigningParts {
            body: tampered.as_bytes(),
            ..PARTS
        };
        assert!(!verifier.verify(&parts, &sig), "{private}: tampered body");
    }
    // The other pair's public key must not accept it.
    let wrong = RsaVerifier::new(
        Template::default(),
        PublicKey::from_pem(&read("a2048_pub_pkcs1.pem")).unwrap(),
    );
    assert!(!wrong.verify(&PARTS, &STANDARD.encode(fs::read(&sig_path).unwrap())));
}

/// Decrypts one block like the peer would.
fn openssl_decrypt_block(dir: &Path, private: &str, padding: Padding, block: &[u8]) -> Vec<u8> {
    let (input, output, key) = (dir.join("c"), dir.join("p"), fixture(private));
    fs::write(&input, block).unwrap();
    let mut args = vec![
        "pkeyutl",
        "-decrypt",
        "-inkey",
        key.to_str().unwrap(),
        "-in",
        input.to_str().unwrap(),
        "-out",
        output.to_str().unwrap(),
    ];
    args.extend(padding_args(padding));
    assert!(openssl(&args), "{private} {padding}");
    fs::read(&output).unwrap()
}

#[test]
fn openssl_decrypts_our_ciphertexts() {
    let dir = scratch_dir("decrypts-ours");
    for (private, public, block) in KEYS {
        let key = PublicKey::from_pem(&read(public)).unwrap();
        for padding in [Padding::Pkcs1, Padding::OaepSha256] {
            for plaintext in plaintexts() {
                let ciphertext = key.encrypt(padding, plaintext.as_bytes()).unwrap();
                let ciphertext = STANDARD.decode(ciphertext).unwrap();
                assert_eq!(ciphertext.len() % block, 0);
                let recovered: Vec<u8> = ciphertext
                    .chunks(block)
                    .flat_map(|chunk| openssl_decrypt_block(&dir, private, padding, chunk))
                    .collect();
                let recovered = String::from_utf8(recovered).unwrap();
                assert_eq!(recovered, plaintext, "{private} {padding}");
            }
        }
    }
}

/// Encrypts like the peer would: openssl per block of at most the padding's limit.
fn openssl_encrypt(
    dir: &Path,
    public: &str,
    block: usize,
    padding: Padding,
    plaintext: &[u8],
) -> String {
    let mut ciphertext = Vec::new();
    for (i, chunk) in plaintext.chunks(padding.max_block(block)).enumerate() {
        let (input, output) = (dir.join(format!("p{i}")), dir.join(format!("c{i}")));
        fs::write(&input, chunk).unwrap();
        let path = fixture(public);
        let mut args = vec![
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            path.to_str().unwrap(),
            "-in",
            input.to_str().unwrap(),
            "-out",
            output.to_str().unwrap(),
        ];
        args.extend(padding_args(padding));
        assert!(openssl(&args), "{public} {padding} block {i}");
        ciphertext.extend(fs::read(&output).unwrap());
    }
    STANDARD.encode(ciphertext)
}

#[test]
fn we_decrypt_openssl_ciphertexts() {
    let dir = scratch_dir("decrypts-theirs");
    for (private, public, block) in KEYS {
        // openssl reads an RSA PUBLIC KEY file only with -RSAPublicKey_in; give it SPKI.
        let public = public.replace("pub_pkcs1", "pub_spki");
        let key = PrivateKey::from_pem(&read(private)).unwrap();
        for padding in [Padding::Pkcs1, Padding::OaepSha256] {
            for plaintext in plaintexts() {
                let ciphertext =
                    openssl_encrypt(&dir, &public, block, padding, plaintext.as_bytes());
                let recovered = key.decrypt(padding, &ciphertext).unwrap();
                assert_eq!(
                    String::from_utf8(recovered).unwrap(),
                    plaintext,
                    "{private} {padding}"
                );
            }
        }
    }
}

/// The inbound path end to end: the "provider" (openssl) encrypts a field with
/// our public key and signs the body with its private key; we verify, then decrypt.
#[test]
fn inbound_callback_from_openssl_is_verified_and_decrypted() {
    let dir = scratch_dir("inbound");
    let id_card = "110101199003074211";
    let encrypted = openssl_encrypt(
        &dir,
        "a2048_pub_spki.pem",
        256,
        Padding::Pkcs1,
        id_card.as_bytes(),
    );
    let body = json!({ "eventCode": "USER_AUDIT", "user": { "idCard": encrypted } }).to_string();
    let parts = SigningParts {
        body: body.as_bytes(),
        ..PARTS
    };
    let (msg, sig_path) = (dir.join("msg"), dir.join("sig.bin"));
    fs::write(&msg, Template::default().render(&parts)).unwrap();
    let provider_key = fixture("b3072_pkcs8.pem");
    assert!(openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        provider_key.to_str().unwrap(),
        "-out",
        sig_path.to_str().unwrap(),
        msg.to_str().unwrap(),
    ]));
    let signature = STANDARD.encode(fs::read(&sig_path).unwrap());

    let verifier = RsaVerifier::new(
        Template::default(),
        PublicKey::from_pem(&read("b3072_pub_spki.pem")).unwrap(),
    );
    assert!(verifier.verify(&parts, &signature));
    let mut event: serde_json::Value = serde_json::from_slice(parts.body).unwrap();
    let ours = PrivateKey::from_pem(&read("a2048_pkcs8.pem")).unwrap();
    EncryptedFields::new(["/user/idCard"])
        .unwrap()
        .decrypt(&mut event, &ours, Padding::Pkcs1)
        .unwrap();
    assert_eq!(event["user"]["idCard"], id_card);
}
