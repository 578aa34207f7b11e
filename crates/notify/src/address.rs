//! Which IP addresses are public unicast: where an endpoint registered by an account
//! may be called. Everything else (loopback, private, link-local, shared, reserved,
//! multicast, documentation, benchmarking, and the IPv6 forms that carry or reach an
//! IPv4 address) could point refill at the provider's own network.
//!
//! IPv6 is an allowlist: only global unicast (2000::/3) passes, less its special
//! ranges; an IPv4-mapped or NAT64 (64:ff9b::/96) address is judged by the IPv4
//! address it carries. The tables follow IANA's special-purpose address registries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 ranges that are not public unicast: (network, prefix length, what it is).
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "'this network' (0.0.0.0/8)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (10.0.0.0/8)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared CGNAT space (100.64.0.0/10)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (127.0.0.0/8)"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local (169.254.0.0/16)",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (172.16.0.0/12)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (192.0.2.0/24)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (192.88.99.0/24)",
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        "private (192.168.0.0/16)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking (198.18.0.0/15)",
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (198.51.100.0/24)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (203.0.113.0/24)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (224.0.0.0/4)"),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "broadcast (255.255.255.255)",
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (240.0.0.0/4)"),
];

/// IPv6 ranges that are not public unicast, checked in order (the first match names it).
const V6_REFUSED: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified (::)"),
    (1, 128, "loopback (::1)"),
    (0, 96, "IPv4-compatible (::/96, deprecated)"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (0x0100 << 112, 64, "discard-only (100::/64)"),
    (0x2001 << 112, 32, "Teredo (2001::/32)"),
    (0x2001_0002 << 96, 48, "benchmarking (2001:2::/48)"),
    (0x2001_0010 << 96, 28, "ORCHID (2001:10::/28)"),
    (0x2001_0020 << 96, 28, "ORCHIDv2 (2001:20::/28)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x2002 << 112, 16, "6to4 (2002::/16)"),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local (fec0::/10, deprecated)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];

/// The well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches a.b.c.d.
const NAT64: u128 = 0x0064_ff9b << 96;

/// Whether an address is public unicast, where an account's endpoint may be.
pub fn is_public_ip(ip: IpAddr) -> bool {
    why_not_public(ip).is_none()
}

/// Why `ip` is not a public unicast address, or `None` when it is.
pub fn why_not_public(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_refusal(v4).map(str::to_string),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_REFUSED
        .iter()
        .find(|(net, len, _)| prefix_v4(bits, *len) == prefix_v4(u32::from(*net), *len))
        .map(|(_, _, why)| *why)
}

fn v6_refusal(ip: Ipv6Addr) -> Option<String> {
    let bits = u128::from(ip);
    // The two forms that reach an IPv4 address: judged by the address they carry.
    let carried = if let Some(v4) = ip.to_ipv4_mapped() {
        Some(("IPv4-mapped", v4))
    } else if prefix_v6(bits, 96) == NAT64 {
        Some(("NAT64 (64:ff9b::/96)", Ipv4Addr::from(bits as u32)))
    } else {
        None
    };
    if let Some((form, v4)) = carried {
        return v4_refusal(v4).map(|why| format!("{form}, carrying {v4}: {why}"));
    }
    if let Some((_, _, why)) = V6_REFUSED
        .iter()
        .find(|(net, len, _)| prefix_v6(bits, *len) == prefix_v6(*net, *len))
    {
        return Some(why.to_string());
    }
    (prefix_v6(bits, 3) != 0x2000 << 112).then(|| "outside global unicast (2000::/3)".to_string())
}

fn prefix_v4(bits: u32, len: u8) -> u32 {
    bits & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn prefix_v6(bits: u128, len: u8) -> u128 {
    bits & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each address is refused, and the reason names `what`.
    fn refused(addrs: &[&str], what: &str) {
        for a in addrs {
            let why = why_not_public(a.parse().unwrap());
            assert!(
                why.as_deref().is_some_and(|w| w.contains(what)),
                "{a}: {why:?}, expected {what:?}"
            );
        }
    }

    fn public(addrs: &[&str]) {
        for a in addrs {
            assert_eq!(why_not_public(a.parse().unwrap()), None, "{a}");
        }
    }

    #[test]
    fn public_unicast_addresses_pass() {
        public(&[
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4009::200e",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ]);
    }

    #[test]
    fn ranges_refused_before_stay_refused() {
        refused(&["127.0.0.1", "127.255.255.254", "::1"], "loopback");
        refused(&["10.1.2.3", "172.16.0.1", "192.168.1.1"], "private");
        refused(&["169.254.169.254", "fe80::1", "febf::1"], "link-local");
        refused(&["100.64.0.1", "100.127.255.255"], "CGNAT");
        refused(&["fc00::1", "fd12:3456::1"], "unique local");
        refused(
            &["192.0.2.1", "198.51.100.7", "203.0.113.9"],
            "documentation",
        );
        refused(&["0.0.0.0"], "this network");
        refused(&["::"], "unspecified");
        public(&["100.63.255.255", "100.128.0.0", "172.32.0.1", "11.0.0.1"]);
    }

    #[test]
    fn this_network_0_0_0_0_8_is_refused() {
        refused(&["0.1.2.3", "0.255.255.255"], "this network");
        public(&["1.0.0.0"]);
    }

    #[test]
    fn benchmarking_198_18_0_0_15_is_refused() {
        refused(&["198.18.0.1", "198.19.255.255"], "benchmarking");
        public(&["198.17.255.255", "198.20.0.0"]);
    }

    #[test]
    fn ietf_protocol_assignments_192_0_0_0_24_are_refused() {
        refused(&["192.0.0.1", "192.0.0.170"], "192.0.0.0/24");
        public(&["192.0.1.1"]);
    }

    #[test]
    fn ipv4_6to4_relay_anycast_is_refused() {
        refused(&["192.88.99.1"], "6to4 relay");
    }

    #[test]
    fn ipv4_multicast_224_0_0_0_4_is_refused() {
        refused(&["224.0.0.1", "239.255.255.250"], "multicast");
    }

    #[test]
    fn reserved_240_0_0_0_4_and_broadcast_are_refused() {
        refused(&["240.0.0.1", "255.255.255.254"], "reserved");
        refused(&["255.255.255.255"], "broadcast");
    }

    #[test]
    fn ipv4_compatible_forms_are_refused() {
        refused(
            &["::127.0.0.1", "::10.0.0.1", "::8.8.8.8"],
            "IPv4-compatible",
        );
    }

    #[test]
    fn ipv4_mapped_forms_are_judged_by_the_address_they_carry() {
        refused(&["::ffff:127.0.0.1"], "loopback");
        refused(&["::ffff:198.18.0.1"], "benchmarking");
        refused(&["::ffff:0.1.2.3"], "this network");
        refused(&["::ffff:240.0.0.1"], "IPv4-mapped, carrying 240.0.0.1");
    }

    #[test]
    fn nat64_well_known_prefix_is_judged_by_the_address_it_carries() {
        refused(
            &["64:ff9b::7f00:1"],
            "NAT64 (64:ff9b::/96), carrying 127.0.0.1",
        );
        refused(&["64:ff9b::a00:1", "64:ff9b::c0a8:101"], "private");
        refused(&["64:ff9b::a9fe:a9fe"], "link-local");
        public(&["64:ff9b::808:808"]);
    }

    #[test]
    fn local_use_nat64_64_ff9b_1_48_is_refused() {
        refused(
            &["64:ff9b:1::808:808", "64:ff9b:1:ffff::1"],
            "local-use NAT64",
        );
    }

    #[test]
    fn six_to_four_2002_16_is_refused() {
        refused(&["2002:7f00:1::1", "2002:808:808::1"], "6to4 (2002::/16)");
    }

    #[test]
    fn teredo_2001_32_is_refused() {
        refused(&["2001:0:4136:e378:8000:63bf:3fff:fdd2"], "Teredo");
        public(&["2001:4860::1"]);
    }

    #[test]
    fn site_local_fec0_10_is_refused() {
        refused(&["fec0::1", "feff::1"], "site-local");
    }

    #[test]
    fn ipv6_multicast_is_refused() {
        refused(&["ff02::1", "ff0e::101"], "multicast");
    }

    #[test]
    fn ipv6_documentation_and_benchmarking_are_refused() {
        refused(&["2001:db8::1", "3fff::1", "3fff:fff::1"], "documentation");
        refused(&["2001:2::1"], "benchmarking");
        public(&["3fff:1000::1"]);
    }

    #[test]
    fn ipv6_outside_global_unicast_is_refused() {
        refused(&["100::1"], "discard-only");
        refused(&["2001:10::1", "2001:20::1"], "ORCHID");
        refused(
            &["4000::1", "::ffff:0:808:808", "1::1"],
            "outside global unicast",
        );
    }
}
