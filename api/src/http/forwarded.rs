//! The client's address behind a reverse proxy. `X-Forwarded-For` is believed only from the
//! proxies the operator names (`http.trusted_proxies`); anyone else could write any address
//! there and spend somebody else's per-IP budget.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`10.0.0.5`) or networks (`172.16.0.0/12`).
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "http.trusted_proxies: '{entry}' is not an address or network"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The address the request came from: the peer, or, when the peer is a trusted proxy,
    /// the nearest address in `X-Forwarded-For` that is not a trusted proxy.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        let client = hops
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer.ip());
        SocketAddr::new(client, peer.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap();
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let spoofed = headers("198.51.100.1, 203.0.113.50, 10.9.9.9");
        // The proxy appended the real client (203.0.113.50) after whatever the client wrote.
        assert_eq!(
            proxies.client(proxy, &spoofed).ip().to_string(),
            "203.0.113.50"
        );
        assert_eq!(proxies.client(stranger, &spoofed), stranger);
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), proxy);
        assert_eq!(proxies.client(proxy, &headers("not an ip")), proxy);
        assert_eq!(TrustedProxies::default().client(proxy, &spoofed), proxy);
        assert!(TrustedProxies::parse(&["nope".into()]).is_err());
    }
}
