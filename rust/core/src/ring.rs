//! Which memcached server holds a key: the consistent-hashing rule that
//! misp-load and the plugin share.
//!
//! The rule is Dalli's (the Ruby client inside logstash-filter-memcached), so a
//! seed-style pipeline pointed at several servers finds the keys misp-load
//! wrote: each server `host:port` gets 160 points on a 32-bit circle, point
//! `i` at the first 4 bytes (big-endian) of SHA-1(`"host:port:i"`); a key goes
//! to the server of the last point at or below CRC-32(key), wrapping to the
//! last point when the key hashes below every point. With one server there is
//! no circle. The specs check this against Dalli itself.

use sha1::{Digest, Sha1};

use crate::error::ServerError;

/// Points per server, as in Dalli and libmemcached.
const POINTS_PER_SERVER: usize = 160;

/// memcached's default port, used when an address has none.
pub const DEFAULT_PORT: u16 = 11211;

/// The servers of a deployment and the circle that spreads keys over them.
#[derive(Debug, Clone)]
pub struct ServerRing {
    servers: Vec<String>,
    /// (point, server index), sorted by point.
    points: Vec<(u32, usize)>,
}

impl ServerRing {
    /// A ring over `servers`, each `host:port` or `host` (port 11211). IPv6
    /// hosts are written in brackets, `[::1]:11211`.
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Result<Self, ServerError> {
        if servers.is_empty() {
            return Err(ServerError::NoServers);
        }
        let servers = servers
            .iter()
            .map(|s| canonical_address(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut points = Vec::new();
        if servers.len() > 1 {
            for (index, name) in servers.iter().enumerate() {
                for i in 0..POINTS_PER_SERVER {
                    let digest = Sha1::digest(format!("{name}:{i}").as_bytes());
                    let point = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
                    points.push((point, index));
                }
            }
            points.sort_unstable();
        }
        Ok(ServerRing { servers, points })
    }

    /// The servers, as `host:port`, in configured order.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The index (into [`Self::servers`]) of the server that holds `key`.
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.points.is_empty() {
            return 0;
        }
        let hash = crc32fast::hash(key);
        let after = self.points.partition_point(|(p, _)| *p <= hash);
        let at = if after == 0 {
            self.points.len() - 1
        } else {
            after - 1
        };
        self.points[at].1
    }
}

/// `host:port` with the default port filled in; rejects what cannot be an address.
fn canonical_address(address: &str) -> Result<String, ServerError> {
    let bad = || ServerError::BadAddress(address.to_owned());
    let address = address.trim();
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (format!("[{host}]"), port)
    } else {
        match address.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_owned(), Some(p)),
            Some(_) => return Err(bad()),
            None => (address.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => DEFAULT_PORT,
    };
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    if !host_ok {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_takes_everything() {
        let ring = ServerRing::new(&["127.0.0.1:11211"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.server_for(b"misp-ip:10.0.0.1"), 0);
    }

    #[test]
    fn addresses_are_canonical() {
        let ring = ServerRing::new(&["mc1", "10.0.0.2:11212", "[::1]:11213"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ring.servers(),
            &["mc1:11211", "10.0.0.2:11212", "[::1]:11213"]
        );
        for bad in [
            "",
            "h:0",
            "h:x",
            "h:70000",
            "a b:1",
            "::1:11211",
            "[::1",
            "h\r\n:1",
        ] {
            assert!(ServerRing::new(&[bad]).is_err(), "{bad:?}");
        }
        assert_eq!(
            ServerRing::new::<&str>(&[]).err(),
            Some(ServerError::NoServers)
        );
    }

    #[test]
    fn keys_spread_over_servers_and_stay_put() {
        let servers = ["a:11211", "b:11211", "c:11211"];
        let ring = ServerRing::new(&servers).unwrap_or_else(|e| panic!("{e}"));
        let mut counts = [0usize; 3];
        for i in 0..30_000 {
            counts[ring.server_for(format!("misp-ip:10.0.{}.{}", i / 256, i % 256).as_bytes())] +=
                1;
        }
        assert!(counts.iter().all(|c| *c > 5_000), "{counts:?}");
        // Consistent: adding a fourth server moves only about a quarter of the keys.
        let bigger = ServerRing::new(&["a:11211", "b:11211", "c:11211", "d:11211"])
            .unwrap_or_else(|e| panic!("{e}"));
        let moved = (0..10_000)
            .filter(|i| {
                let k = format!("k{i}");
                ring.server_for(k.as_bytes()) != bigger.server_for(k.as_bytes())
            })
            .count();
        assert!(moved < 4_000, "{moved} of 10000 keys moved");
    }

    #[test]
    fn matches_dallis_rule_on_a_worked_example() {
        // Dalli's formula: Integer("0x" + Digest::SHA1.hexdigest("a:11211:0")[0..7]).
        // spec/ring_spec.rb compares whole rings against Dalli itself.
        let digest = Sha1::digest(b"a:11211:0");
        let point = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let ring = ServerRing::new(&["a:11211", "b:11211"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(ring.points.contains(&(point, 0)));
        assert_eq!(ring.points.len(), 320);
    }
}
