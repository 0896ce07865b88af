//! IP networks (CIDR blocks) as rules files write them: `10.0.1.0/24`, `fd00::/64`, or a bare
//! address, which is a network of one.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 network: an address with its host bits zero, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/16`, or a single address (a /32 or /128). An IPv4-mapped
    /// IPv6 address (`::ffff:10.0.0.1`) is taken as the IPv4 address it maps.
    ///
    /// The error says what is wrong in the file's terms: a prefix too long, host bits set
    /// (with the network that was probably meant), not an address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.trim(), Some(prefix.trim())),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| match prefix {
            Some(_) => format!("bad CIDR `{text}`: `{addr}` is not an IP address"),
            None => format!("`{text}` is not an IP address or CIDR block"),
        })?;
        let addr = addr.to_canonical();
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(p) => {
                let n: u8 =
                    p.parse().ok().filter(|n| *n <= max).ok_or_else(|| {
                        format!("bad CIDR `{text}`: the prefix length must be a number from 0 to {max}")
                    })?;
                n
            }
        };
        let network = mask(addr, prefix);
        if network != addr {
            return Err(format!("bad CIDR `{text}`: host bits are set; did you mean `{network}/{prefix}`?"));
        }
        Ok(Cidr { network, prefix })
    }

    /// The network of one address.
    pub fn host(ip: IpAddr) -> Cidr {
        let ip = ip.to_canonical();
        Cidr { network: ip, prefix: max_prefix(ip) }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// Whether the network is a single address.
    pub fn is_host(&self) -> bool {
        self.prefix == max_prefix(self.network)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` with all but its first `prefix` bits zero.
pub(super) fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_contains() {
        let c = Cidr::parse("10.0.1.0/24").unwrap();
        assert!(c.contains(ip("10.0.1.200")));
        assert!(!c.contains(ip("10.0.2.1")));
        assert!(c.contains(ip("::ffff:10.0.1.7")));
        assert!(!c.contains(ip("fd00::1")));
        assert_eq!(c.to_string(), "10.0.1.0/24");
        let h = Cidr::parse("10.0.1.5").unwrap();
        assert!(h.is_host() && h.contains(ip("10.0.1.5")) && !h.contains(ip("10.0.1.6")));
        assert_eq!(h.to_string(), "10.0.1.5");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("192.168.1.1")));
        assert!(Cidr::parse("fd00::/16").unwrap().contains(ip("fd00:1::5")));
        assert!(c.covers(&h) && !h.covers(&c) && c.covers(&c));
        assert_eq!(Cidr::parse("::ffff:10.0.0.1").unwrap(), Cidr::host(ip("10.0.0.1")));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Cidr::parse("10.0.1.5/24").unwrap_err(),
            "bad CIDR `10.0.1.5/24`: host bits are set; did you mean `10.0.1.0/24`?"
        );
        assert_eq!(
            Cidr::parse("10.0.1.0/33").unwrap_err(),
            "bad CIDR `10.0.1.0/33`: the prefix length must be a number from 0 to 32"
        );
        assert_eq!(Cidr::parse("10.0.1/24").unwrap_err(), "bad CIDR `10.0.1/24`: `10.0.1` is not an IP address");
        assert_eq!(Cidr::parse("plc").unwrap_err(), "`plc` is not an IP address or CIDR block");
    }
}
