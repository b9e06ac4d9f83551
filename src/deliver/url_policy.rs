//! Which `notifyUrl`s a channel may call (SPEC §7): scheme, host and address rules.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

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
            HostPattern::Exact(name) => host == name,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
        }
    }
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
    #[error("scheme `{0}` is not allowed for this channel")]
    Scheme(String),
    #[error("URLs with user credentials are not allowed")]
    Credentials,
    #[error("host `{0}` is not allowed for this channel")]
    Host(String),
    #[error("address `{0}` is private, loopback or otherwise not public")]
    PrivateAddress(String),
}

impl UrlPolicy {
    /// Parses `text` and checks it against the policy.
    pub fn check(&self, text: &str) -> Result<Url, UrlRefused> {
        let url = parse_recent(text).ok_or(UrlRefused::Malformed)?;
        if !self.schemes.iter().any(|s| s == url.scheme()) {
            return Err(UrlRefused::Scheme(url.scheme().to_owned()));
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
            return Err(UrlRefused::Host(name));
        }
        if !self.allow_private && !is_public_host(&host, &name) {
            return Err(UrlRefused::PrivateAddress(name));
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
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)) // documentation
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
        assert_eq!(p.check("not a url"), Err(UrlRefused::Malformed));
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
        assert_eq!(strict.check("not a url"), Err(UrlRefused::Malformed));
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
        ] {
            assert!(
                matches!(p.check(url), Err(UrlRefused::PrivateAddress(_))),
                "{url} should be refused"
            );
        }
        assert!(p.check("https://8.8.8.8/").is_ok());
        assert!(policy(&[], true).check("https://127.0.0.1/").is_ok());
    }
}
