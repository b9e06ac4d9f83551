//! Which `notifyUrl`s a channel may call (SPEC §7): scheme, host and address rules.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::message::excerpt;

/// The longest `notifyUrl` accepted. Brands' callback URLs are short; a longer one is
/// either a mistake or an attempt to flood logs, headers and the brand's server.
pub const MAX_URL_BYTES: usize = 2048;

/// A host rule: `notify.brand.example` exactly, or `*.brand.example` for any subdomain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    Suffix(String),
}

impl HostPattern {
    /// Parses `name` or `*.suffix` (case-insensitive).
    pub fn parse(text: &str) -> Self {
        let text = text.to_ascii_lowercase();
        match text.strip_prefix("*.") {
            Some(suffix) => HostPattern::Suffix(format!(".{suffix}")),
            None => HostPattern::Exact(text),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            // An operator who lists one name of this machine's loopback means both.
            HostPattern::Exact(name) if is_loopback_name(name) => is_loopback_name(host),
            HostPattern::Exact(name) => host == name,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
        }
    }
}

/// `localhost` and `127.0.0.1`: the two names operators use for this machine's loopback.
fn is_loopback_name(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1")
}

/// A channel's URL policy.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    /// Lowercase schemes allowed; `https` only unless the channel lists more.
    pub schemes: Vec<String>,
    /// Allowed hosts; empty allows any host that passes the address rule.
    pub hosts: Vec<HostPattern>,
    /// Allows private, loopback and link-local addresses (test rigs, intranet brands).
    pub allow_private: bool,
}

/// Why a URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlRefused {
    #[error("not a valid absolute URL")]
    Malformed,
    #[error("URL is {0} bytes, over the {MAX_URL_BYTES}-byte limit")]
    TooLong(usize),
    /// URL parsers silently drop tabs and newlines; a URL that holds them is refused.
    #[error("URL contains whitespace or a control character")]
    ControlCharacter,
    #[error("scheme `{0}` is not in `schemes`; add \"{0}\" there to allow it")]
    Scheme(String),
    #[error("URLs with user credentials are not allowed")]
    Credentials,
    #[error(
        "host `{0}` is not in `hosts`; add \"{0}\" (or a `*.` suffix pattern) there to allow it"
    )]
    Host(String),
    #[error(
        "address `{0}` is private, loopback or otherwise not public; set \
         `allow_private = true` to allow it"
    )]
    PrivateAddress(String),
    /// Found at connect time: the name's DNS answer held only non-public addresses.
    #[error("{0}")]
    ResolvesPrivate(String),
}

impl UrlPolicy {
    /// Parses `text` and checks it against the policy.
    pub fn check(&self, text: &str) -> Result<Url, UrlRefused> {
        if text.len() > MAX_URL_BYTES {
            return Err(UrlRefused::TooLong(text.len()));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlRefused::ControlCharacter);
        }
        let url = parse_recent(text).ok_or(UrlRefused::Malformed)?;
        if !self.schemes.iter().any(|s| s == url.scheme()) {
            return Err(UrlRefused::Scheme(excerpt(url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        // url normalises decimal, octal and hex IPv4 spellings into `Host::Ipv4`.
        let host = url.host().ok_or(UrlRefused::Malformed)?;
        let name = match &host {
            Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        if !self.hosts.is_empty() && !self.hosts.iter().any(|p| p.matches(&name)) {
            return Err(UrlRefused::Host(excerpt(&name)));
        }
        if !self.allow_private && !is_public_host(&host, &name) {
            return Err(UrlRefused::PrivateAddress(excerpt(&name)));
        }
        Ok(url)
    }
}

/// Parses `text`, reusing this thread's last few results: a brand's `notifyUrl` rarely
/// changes, and parsing it cost more than all of the policy's checks (~6k instructions).
fn parse_recent(text: &str) -> Option<Url> {
    /// URLs remembered per thread, and the longest one worth remembering.
    const KEEP: usize = 8;
    const LONGEST: usize = 2048;
    thread_local! {
        static RECENT: RefCell<VecDeque<(String, Url)>> = const { RefCell::new(VecDeque::new()) };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, url)) = recent.iter().find(|(seen, _)| seen == text) {
            return Some(url.clone());
        }
        let url = Url::parse(text).ok()?;
        if text.len() <= LONGEST {
            recent.truncate(KEEP - 1);
            recent.push_front((text.to_owned(), url.clone()));
        }
        Some(url)
    })
}

fn is_public_host(host: &Host<&str>, name: &str) -> bool {
    match host {
        Host::Domain(_) => name != "localhost" && !name.ends_with(".localhost"),
        Host::Ipv4(ip) => is_public_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_public_ip(IpAddr::V6(*ip)),
    }
}

/// Whether an address is globally routable (the checks `IpAddr::is_global` would make).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
        || a >= 240)
}

/// IPv6 addresses that embed an IPv4 one are judged by it (NAT64); the deprecated and
/// tunnelling forms (IPv4-compatible `::a.b.c.d`, 6to4, Teredo) are refused outright,
/// since where they lead depends on relays outside our control.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96: the gateway connects to the IPv4 inside.
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_multicast()
        || s[..6] == [0; 6] // ::, ::1 and IPv4-compatible ::/96
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF assignments incl. Teredo, 2001::/23
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0] == 0x2002) // 6to4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], allow_private: bool) -> UrlPolicy {
        UrlPolicy {
            schemes: vec!["https".into()],
            hosts: hosts.iter().map(|h| HostPattern::parse(h)).collect(),
            allow_private,
        }
    }

    #[test]
    fn localhost_and_127_0_0_1_are_one_host() {
        for listed in ["127.0.0.1", "localhost", "LOCALHOST"] {
            let p = policy(&[listed], true);
            assert!(p.check("https://localhost:8080/cb").is_ok(), "{listed}");
            assert!(p.check("https://127.0.0.1:8080/cb").is_ok(), "{listed}");
            assert!(p.check("https://10.0.0.1/cb").is_err(), "{listed}");
        }
        let refused = policy(&["127.0.0.1"], false).check("https://localhost/");
        assert!(matches!(refused, Err(UrlRefused::PrivateAddress(_))));
    }

    #[test]
    fn refusals_say_which_key_to_change() {
        let p = policy(&["notify.a.example"], false);
        let scheme = p.check("http://notify.a.example/").unwrap_err().to_string();
        assert!(
            scheme.contains("`schemes`") && scheme.contains("\"http\""),
            "{scheme}"
        );
        let host = p.check("https://other.example/").unwrap_err().to_string();
        assert!(
            host.contains("`hosts`") && host.contains("\"other.example\""),
            "{host}"
        );
        let open = policy(&[], false);
        let private = open.check("https://127.0.0.1/").unwrap_err().to_string();
        assert!(private.contains("`allow_private = true`"), "{private}");
    }

    #[test]
    fn scheme_and_host_rules() {
        let p = policy(&["notify.a.example", "*.b.example"], false);
        assert!(p.check("https://notify.a.example/cb").is_ok());
        assert!(p.check("https://x.y.b.example/cb").is_ok());
        assert_eq!(
            p.check("https://b.example/cb"),
            Err(UrlRefused::Host("b.example".into()))
        );
        assert_eq!(
            p.check("http://notify.a.example/cb"),
            Err(UrlRefused::Scheme("http".into()))
        );
        assert_eq!(
            p.check("https://u:p@notify.a.example/"),
            Err(UrlRefused::Credentials)
        );
        assert_eq!(p.check("not-a-url"), Err(UrlRefused::Malformed));
    }

    #[test]
    fn remembered_urls_are_checked_like_new_ones() {
        let strict = policy(&["notify.a.example"], false);
        let open = policy(&[], true);
        for _ in 0..3 {
            assert!(strict.check("https://notify.a.example/cb?x=1").is_ok());
            assert!(open.check("https://127.0.0.1/cb").is_ok());
            assert!(matches!(
                strict.check("https://127.0.0.1/cb"),
                Err(UrlRefused::PrivateAddress(_) | UrlRefused::Host(_))
            ));
        }
        for i in 0..20 {
            let url = format!("https://notify.a.example/{i}");
            assert_eq!(strict.check(&url).unwrap().as_str(), url);
        }
        assert_eq!(strict.check("not-a-url"), Err(UrlRefused::Malformed));
    }

    #[test]
    fn private_addresses_in_any_spelling_are_refused() {
        let p = policy(&[], false);
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://api.localhost/",
            // Every spelling of loopback the URL standard normalises.
            "https://127.1/",
            "https://0x7f000001/",
            "https://0x7f.0.0.1/",
            "https://017700000001/",
            "https://127.0.0.1./",
            "https://%31%32%37.0.0.1/",
            "https://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
            "https://0/",
            "https://[0:0:0:0:0:0:0:1]/",
            "https://[::]/",
            "https://[::ffff:7f00:1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::1]/",
            "https://[2001:0:4136:e378::1]/",
            "https://[fec0::1]/",
            "https://[ff02::1]/",
            "https://localhost./",
            "https://LOCALHOST/",
            "https://LocalHost.:443/",
            "https://%6c%6f%63%61%6c%68%6f%73%74/",
            "https://a.b.localhost./",
            "https://192.168.0.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",
            "https://192.0.0.1/",
            "https://198.18.0.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://240.0.0.1/",
            "https://192.0.2.1/",
        ] {
            assert!(
                matches!(p.check(url), Err(UrlRefused::PrivateAddress(_))),
                "{url} should be refused"
            );
        }
        assert!(p.check("https://8.8.8.8/").is_ok());
        assert!(p.check("https://[2606:4700::1111]/").is_ok());
        assert!(
            p.check("https://[64:ff9b::808:808]/").is_ok(),
            "NAT64 of 8.8.8.8"
        );
        assert!(policy(&[], true).check("https://127.0.0.1/").is_ok());
    }

    #[test]
    fn other_schemes_credentials_and_odd_text_are_refused() {
        let p = UrlPolicy {
            schemes: vec!["http".into(), "https".into()],
            ..policy(&[], false)
        };
        for (url, want) in [
            ("file:///etc/passwd", UrlRefused::Scheme("file".into())),
            (
                "gopher://x.example:70/_",
                UrlRefused::Scheme("gopher".into()),
            ),
            (
                "javascript:alert(1)",
                UrlRefused::Scheme("javascript".into()),
            ),
            ("data:text/plain,hi", UrlRefused::Scheme("data".into())),
            ("ftp://x.example/", UrlRefused::Scheme("ftp".into())),
            ("http://evil@127.0.0.1/", UrlRefused::Credentials),
            ("http://a:b@x.example/", UrlRefused::Credentials),
            (
                "http://x.example/a\r\nX-Evil: 1",
                UrlRefused::ControlCharacter,
            ),
            ("http://x.example/\t", UrlRefused::ControlCharacter),
            (" http://x.example/", UrlRefused::ControlCharacter),
            ("http://x.example/\u{0}", UrlRefused::ControlCharacter),
            ("http:///", UrlRefused::Malformed),
            ("//x.example/", UrlRefused::Malformed),
        ] {
            assert_eq!(p.check(url), Err(want), "{url:?}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(p.check(&long), Err(UrlRefused::TooLong(long.len())));
        let long_host = format!("https://{}.example/", "a".repeat(1000));
        assert!(matches!(
            p.check(&long_host),
            Ok(_) | Err(UrlRefused::Malformed)
        ));
        let strict = policy(&["x.example"], false);
        match strict.check(&format!("https://{}.evil/", "b".repeat(1500))) {
            Err(UrlRefused::Host(shown)) => assert!(shown.chars().count() <= 65, "{shown}"),
            other => panic!("{other:?}"),
        }
    }
}
