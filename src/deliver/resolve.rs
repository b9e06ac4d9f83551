//! DNS resolution that refuses non-public addresses (SPEC §7).
//!
//! The URL policy can only judge a hostname by its name. This resolver judges the
//! addresses it resolves to, and the client connects only to the addresses it returns —
//! so a name pointing at 127.0.0.1, or a DNS answer that changes between check and
//! connect (rebinding), can never reach a private address.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::url_policy::is_public_ip;

/// The resolver of the client used by channels without `allow_private`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnly;

/// A name resolved only to private, loopback or otherwise non-public addresses.
#[derive(Debug, thiserror::Error)]
#[error("`{host}` resolves only to non-public addresses ({addresses})")]
pub struct PrivateResolution {
    pub host: String,
    pub addresses: String,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = only_public(&host, resolved)?;
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The public addresses among `resolved`, or why there are none.
pub fn only_public(
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, PrivateResolution> {
    let (public, private): (Vec<SocketAddr>, Vec<SocketAddr>) =
        resolved.into_iter().partition(|a| is_public_ip(a.ip()));
    if public.is_empty() {
        let addresses: Vec<String> = private.iter().map(|a| a.ip().to_string()).collect();
        return Err(PrivateResolution {
            host: host.to_owned(),
            addresses: addresses.join(", "),
        });
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn keeps_only_public_addresses() {
        let got = only_public("x", addrs(&["10.0.0.1", "93.184.216.34", "::1"])).unwrap();
        assert_eq!(got, addrs(&["93.184.216.34"]));
    }

    #[test]
    fn refuses_a_name_with_only_private_addresses() {
        let err = only_public(
            "rebind.example",
            addrs(&["127.0.0.1", "::ffff:10.1.1.1", "fe80::1"]),
        )
        .unwrap_err();
        assert_eq!(err.host, "rebind.example");
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn every_non_public_form_a_dns_answer_can_take_is_refused() {
        let answers = [
            "0.0.0.0",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "fd12::1",
            "fec0::1",
        ];
        for ip in answers {
            assert!(
                only_public("x", addrs(&[ip])).is_err(),
                "{ip} must be refused"
            );
        }
        assert!(only_public("x", addrs(&["64:ff9b::808:808", "2606:4700::1111"])).is_ok());
    }
}
