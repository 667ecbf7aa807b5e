//! Deterministic generated data at any scale. Every attribute is computed
//! from its index with a cheap PRNG (SplitMix64), so a million rows take well
//! under a second and the same `--seed` always gives the same values, types,
//! ids and flags (timestamps are relative to `--now`).

use super::{default_category, Attribute, Event, Org, Store, Tag};
use std::fmt::Write as _;
use std::net::Ipv6Addr;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Number of attributes.
    pub count: u64,
    /// Mean attributes per event (sizes vary from 1 to 2×mean−1).
    pub per_event: u32,
    pub seed: u64,
    /// Anchor for all timestamps (unix seconds).
    pub now: i64,
    /// Event creation times spread over this many days before `now`.
    pub span_days: u32,
    /// Fraction of IDS-by-default attributes generated with `to_ids` false.
    pub non_ids_fraction: f64,
    /// Fraction of attributes soft-deleted.
    pub deleted_fraction: f64,
    /// Fraction hit by the emulated warninglist.
    pub warninglist_fraction: f64,
    /// Fraction decayed under the emulated decaying model.
    pub decayed_fraction: f64,
}

/// SplitMix64: tiny, fast and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one stream item: `(seed, stream, index)` decide everything.
    pub fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut r = Rng(seed
            ^ stream.wrapping_mul(0xA076_1D64_78BD_642F)
            ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64) as i64
    }
}

/// A v4-shaped UUID string derived from a 64-bit value.
pub fn uuid_from(x: u64) -> String {
    let mut r = Rng::new(x, 0x7575_6964, 0);
    let a = r.next_u64();
    let b = r.next_u64();
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// Type mix, weights in ‰. Sums to 1000.
pub const TYPE_WEIGHTS: &[(&str, u32)] = &[
    ("ip-dst", 140),
    ("ip-src", 50),
    ("domain", 110),
    ("hostname", 50),
    ("url", 105),
    ("md5", 60),
    ("sha1", 45),
    ("sha256", 114),
    ("sha512", 10),
    ("sha224", 3),
    ("sha384", 3),
    ("imphash", 10),
    ("authentihash", 3),
    ("ssdeep", 10),
    ("tlsh", 5),
    ("filename|md5", 20),
    ("filename|sha1", 10),
    ("filename|sha256", 30),
    ("filename|sha512", 5),
    ("filename|imphash", 5),
    ("malware-sample", 10),
    ("ip-dst|port", 30),
    ("ip-src|port", 10),
    ("domain|ip", 30),
    ("hostname|port", 10),
    ("user-agent", 10),
    ("email-src", 20),
    ("mutex", 10),
    ("named pipe", 5),
    ("regkey", 10),
    ("regkey|value", 10),
    ("ja3-fingerprint-md5", 10),
    ("filename", 10),
    ("yara", 3),
    ("snort", 3),
    ("comment", 10),
    ("text", 5),
    ("link", 10),
    ("AS", 6),
];

/// Types whose MISP default is `to_ids` off.
fn default_non_ids(t: &str) -> bool {
    matches!(
        t,
        "user-agent" | "named pipe" | "comment" | "text" | "link" | "AS"
    )
}

fn pick_type(r: &mut Rng) -> &'static str {
    let mut x = r.below(1000) as u32;
    for (t, w) in TYPE_WEIGHTS {
        if x < *w {
            return t;
        }
        x -= w;
    }
    "ip-dst"
}

const SYL: &[&str] = &[
    "ka", "lo", "mi", "ne", "ro", "ta", "vi", "zu", "po", "re", "sa", "di", "ga", "fe", "qu", "xo",
    "bel", "tor", "lin", "mar",
];
const WORDS: &[&str] = &[
    "update", "secure", "login", "cdn", "mail", "cloud", "api", "portal", "verify", "account",
    "office", "support", "static", "sync", "drive", "docs", "pay", "wallet", "track", "media",
];
const TLDS: &[&str] = &[
    "com", "net", "org", "info", "ru", "cn", "xyz", "top", "io", "biz", "online", "site", "club",
    "de", "co.uk", "su", "shop", "live",
];
const SUBS: &[&str] = &[
    "www", "mail", "cdn", "update", "api", "login", "secure", "static", "dl", "ns1", "owa", "vpn",
];
const FIRST_OCTETS: &[u8] = &[
    5, 23, 31, 37, 45, 46, 62, 77, 78, 80, 85, 91, 93, 94, 103, 104, 107, 109, 139, 141, 146, 151,
    157, 162, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
];
const PORTS: &[u16] = &[
    80, 443, 8080, 8443, 4444, 53, 22, 3389, 1337, 9001, 8888, 2222,
];
const FILE_BASES: &[&str] = &[
    "invoice",
    "setup",
    "update",
    "svchost",
    "report_Q3",
    "Payment Advice",
    "scan_0042",
    "chrome_installer",
    "rundll",
    "document",
    "Rechnung",
    "factura",
    "payload",
    "loader",
];
const FILE_EXTS: &[&str] = &[
    ".exe", ".dll", ".docm", ".xlsm", ".js", ".vbs", ".ps1", ".scr", ".zip", ".lnk", ".iso",
    ".pdf.exe", ".hta", ".bat",
];
const URL_PATHS: &[&str] = &[
    "/wp-content/plugins/{w}/{s}.php",
    "/gate.php",
    "/{w}/{s}.exe",
    "/login?id={n}",
    "/index.php?page={w}&id={n}",
    "/admin/{s}/",
    "/download/{S}.zip",
    "/api/v1/{w}",
    "/",
    "/{s}{n}.bin",
];
const MALWARE: &[&str] = &[
    "Emotet",
    "QakBot",
    "IcedID",
    "Cobalt Strike",
    "AgentTesla",
    "Formbook",
    "RedLine",
    "AsyncRAT",
    "Lumma",
    "SocGholish",
    "PlugX",
    "Mirai",
];
const WHAT: &[&str] = &[
    "C2 infrastructure",
    "phishing campaign",
    "dropper samples",
    "IOCs from blog post",
    "loader activity",
    "ransomware intrusion",
    "malspam wave",
];
const COMMENTS: &[&str] = &[
    "C2 server",
    "Seen in sandbox run",
    "Dropped by the loader",
    "From OSINT report",
    "Payload delivery host",
    "Contacted by the implant",
];

fn syl(r: &mut Rng, n: u64) -> String {
    let mut s = String::new();
    for _ in 0..n {
        let part = *r.pick(SYL);
        s.push_str(part);
    }
    s
}

fn hex(r: &mut Rng, n: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::with_capacity(n);
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = r.next_u64();
        }
        s.push(digits[(bits & 0xF) as usize] as char);
        bits >>= 4;
    }
    s
}

fn domain(r: &mut Rng) -> String {
    let tld = *r.pick(TLDS);
    match r.below(3) {
        0 => format!("{}-{}{}.{tld}", r.pick(WORDS), syl(r, 2), r.below(100)),
        1 => {
            let n = 2 + r.below(3);
            format!("{}.{tld}", syl(r, n))
        }
        _ => format!("{}{}-{}.{tld}", r.pick(WORDS), r.pick(WORDS), syl(r, 1)),
    }
}

fn hostname(r: &mut Rng) -> String {
    let sub = if r.chance(0.7) {
        (*r.pick(SUBS)).to_string()
    } else {
        syl(r, 2)
    };
    format!("{sub}.{}", domain(r))
}

fn ipv4(r: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        r.pick(FIRST_OCTETS),
        r.below(256),
        r.below(256),
        1 + r.below(254)
    )
}

fn ipv6(r: &mut Rng) -> String {
    let g = |r: &mut Rng| r.below(0x1_0000) as u16;
    let (a, b, c) = (0x2a00 | r.below(0x10) as u16, g(r), g(r));
    let (d, e, f) = if r.chance(0.6) {
        (0, 0, 0)
    } else {
        (g(r), g(r), g(r))
    };
    let (gg, h) = (g(r), 1 + r.below(0xFFFF) as u16);
    Ipv6Addr::new(a, b, c, d, e, f, gg, h).to_string()
}

/// An ip-src/ip-dst value: mostly IPv4, ~10% IPv6, ~1.5% CIDR.
fn ip(r: &mut Rng) -> String {
    let x = r.below(1000);
    if x < 15 {
        match r.below(4) {
            0 => format!("10.{}.0.0/16", r.below(256)),
            1 => format!(
                "{}.{}.{}.0/24",
                r.pick(FIRST_OCTETS),
                r.below(256),
                r.below(256)
            ),
            2 => format!("{}.{}.0.0/16", r.pick(FIRST_OCTETS), r.below(256)),
            _ => format!("2a0{:x}:{:x}::/32", r.below(16), r.below(0x1_0000)),
        }
    } else if x < 115 {
        ipv6(r)
    } else {
        ipv4(r)
    }
}

fn bare_ip(r: &mut Rng) -> String {
    if r.chance(0.08) {
        ipv6(r)
    } else {
        ipv4(r)
    }
}

fn port(r: &mut Rng) -> u64 {
    if r.chance(0.7) {
        u64::from(*r.pick(PORTS))
    } else {
        1 + r.below(65_535)
    }
}

fn filename(r: &mut Rng) -> String {
    let base = *r.pick(FILE_BASES);
    let ext = *r.pick(FILE_EXTS);
    if r.chance(0.5) {
        format!("{base}{}{ext}", r.below(1000))
    } else {
        format!("{base}{ext}")
    }
}

fn url(r: &mut Rng) -> String {
    let scheme = if r.chance(0.6) { "https" } else { "http" };
    let host = if r.chance(0.8) {
        if r.chance(0.5) {
            domain(r)
        } else {
            hostname(r)
        }
    } else {
        ipv4(r)
    };
    let port = if r.chance(0.1) {
        format!(":{}", port(r))
    } else {
        String::new()
    };
    let tpl = *r.pick(URL_PATHS);
    let mut path = String::new();
    let mut rest = tpl;
    while let Some(i) = rest.find('{') {
        path.push_str(&rest[..i]);
        let key = rest.as_bytes().get(i + 1).copied().unwrap_or(b'n');
        match key {
            b'w' => {
                let w = *r.pick(WORDS);
                path.push_str(w);
            }
            b's' => path.push_str(&syl(r, 3)),
            b'S' => path.push_str(&syl(r, 2).to_uppercase()),
            _ => {
                let _ = write!(path, "{}", r.below(100_000));
            }
        }
        rest = &rest[(i + 3).min(rest.len())..];
    }
    path.push_str(rest);
    format!("{scheme}://{host}{port}{path}")
}

fn user_agent(r: &mut Rng) -> String {
    match r.below(6) {
        0 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.{}.{} Safari/537.36",
            90 + r.below(40),
            r.below(7000),
            r.below(300)
        ),
        1 => format!("Mozilla/4.0 (compatible; MSIE {}.0; Windows NT 6.1)", 6 + r.below(5)),
        2 => format!("curl/7.{}.{}", 40 + r.below(50), r.below(3)),
        3 => format!("python-requests/2.{}.{}", r.below(32), r.below(4)),
        4 => format!("Go-http-client/1.1 {}", syl(r, 2)),
        _ => format!("{}Agent/{}.{}", syl(r, 2), r.below(10), r.below(10)),
    }
}

fn regkey(r: &mut Rng) -> String {
    match r.below(3) {
        0 => format!(
            "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{}{}",
            r.pick(WORDS),
            r.below(100)
        ),
        1 => format!(
            "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce\\{}",
            syl(r, 3)
        ),
        _ => format!(
            "HKLM\\SYSTEM\\CurrentControlSet\\Services\\{}{}",
            syl(r, 2),
            r.pick(WORDS)
        ),
    }
}

fn b64ish(r: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..n).map(|_| A[r.below(64) as usize] as char).collect()
}

/// Hash types and their hex length.
fn hash_len(t: &str) -> Option<usize> {
    Some(match t {
        "md5" | "imphash" | "ja3-fingerprint-md5" => 32,
        "sha1" => 40,
        "sha224" => 56,
        "sha256" | "authentihash" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    })
}

/// A value of type `t`. `upper` upper-cases hex hashes, as users sometimes
/// type them.
fn value(t: &str, r: &mut Rng, upper: bool) -> String {
    if let Some(n) = hash_len(t) {
        return hex(r, n, upper);
    }
    if let Some(h) = t.strip_prefix("filename|") {
        let n = hash_len(h).unwrap_or(64);
        return format!("{}|{}", filename(r), hex(r, n, upper));
    }
    match t {
        "malware-sample" => format!("{}|{}", filename(r), hex(r, 32, upper)),
        "ip-src" | "ip-dst" => ip(r),
        "ip-src|port" | "ip-dst|port" => format!("{}|{}", bare_ip(r), port(r)),
        "domain" => domain(r),
        "hostname" => hostname(r),
        "domain|ip" => format!("{}|{}", domain(r), ipv4(r)),
        "hostname|port" => format!("{}|{}", hostname(r), port(r)),
        "url" => url(r),
        "user-agent" => user_agent(r),
        "email-src" => format!("{}.{}@{}", syl(r, 2), syl(r, 3), domain(r)),
        "mutex" => match r.below(3) {
            0 => format!("Global\\{}", hex(r, 8, false)),
            1 => format!("Local\\{}{}", syl(r, 3), r.below(1000)),
            _ => format!("{}Mutex_{}", r.pick(WORDS), hex(r, 6, true)),
        },
        "named pipe" => format!("\\\\.\\pipe\\{}_{}", syl(r, 2), hex(r, 8, false)),
        "regkey" => regkey(r),
        "regkey|value" => format!(
            "{}|C:\\Users\\Public\\{}{}.exe",
            regkey(r),
            syl(r, 2),
            r.below(100)
        ),
        "ssdeep" => {
            let block = 3u64 << (1 + r.below(10));
            let (n1, n2) = (20 + r.below(40) as usize, 10 + r.below(20) as usize);
            format!("{block}:{}:{}", b64ish(r, n1), b64ish(r, n2))
        }
        "tlsh" => format!("t1{}", hex(r, 70, false)),
        "filename" => filename(r),
        "yara" => {
            let name = syl(r, 3);
            format!(
                "rule {name}_{} {{\n  strings:\n    $a = \"{}\"\n  condition:\n    $a\n}}",
                r.below(1000),
                r.pick(WORDS)
            )
        }
        "snort" => format!(
            "alert tcp $HOME_NET any -> $EXTERNAL_NET {} (msg:\"{} C2\"; content:\"|16 03|\"; sid:{}; rev:1;)",
            port(r),
            r.pick(MALWARE),
            1_000_000 + r.below(1_000_000)
        ),
        "comment" => format!("{} {}", r.pick(COMMENTS), r.below(10_000)),
        "text" => format!("Campaign {} observed {} times", syl(r, 3), r.below(500)),
        "link" => format!("https://blog.example.org/{}-{}-analysis", r.pick(WORDS), syl(r, 2)),
        "AS" => format!("{}", 1000 + r.below(400_000)),
        _ => syl(r, 4),
    }
}

fn object_relation(t: &str) -> &'static str {
    match t {
        "md5" => "md5",
        "sha1" => "sha1",
        "sha256" => "sha256",
        "sha512" => "sha512",
        "imphash" => "imphash",
        "ssdeep" => "ssdeep",
        "tlsh" => "tlsh",
        "filename" => "filename",
        "ip-dst" => "ip-dst",
        "domain" => "domain",
        "url" => "url",
        _ => "text",
    }
}

/// The base tags, orgs and their ids. Event tags: one TLP (white 25%, green
/// 40%, amber 28%, red 7%) plus up to two context tags; attribute tags on ~5%.
fn base(store: &mut Store) {
    let tags: &[(&str, &str, Option<&str>)] = &[
        ("tlp:white", "#ffffff", None),
        ("tlp:green", "#339900", None),
        ("tlp:amber", "#FFC000", None),
        ("tlp:red", "#CC0033", None),
        ("type:OSINT", "#004646", None),
        ("osint:source-type=\"blog-post\"", "#00223b", None),
        ("misp-galaxy:threat-actor=\"Sofacy\"", "#0088cc", None),
        ("misp-galaxy:malpedia=\"Emotet\"", "#0088cc", None),
        ("circl:incident-classification=\"malware\"", "#7a4b1e", None),
        ("workflow:state=\"complete\"", "#339900", None),
        (
            "estimative-language:likelihood-probability=\"likely\"",
            "#5a3d9e",
            Some("70"),
        ),
        ("kill-chain:Command and Control", "#b33225", None),
        (
            "misp-galaxy:mitre-attack-pattern=\"Ingress Tool Transfer - T1105\"",
            "#0088cc",
            None,
        ),
        ("false-positive:risk=\"low\"", "#33ff00", None),
    ];
    for (i, (name, colour, num)) in tags.iter().enumerate() {
        store.tags.push(Tag {
            id: i as u32 + 1,
            name: (*name).into(),
            colour: (*colour).into(),
            numerical_value: num.map(Into::into),
            is_galaxy: name.starts_with("misp-galaxy:"),
        });
    }
    let orgs = [
        "Sim CERT",
        "ACME-CSIRT",
        "Contoso SOC",
        "OSINT Feeds",
        "Fabrikam ISAC",
    ];
    for (i, name) in orgs.iter().enumerate() {
        store.orgs.push(Org {
            id: i as u32 + 1,
            name: (*name).into(),
            uuid: uuid_from(0x6f72_6700 ^ (i as u64 + 1)).into(),
        });
    }
}

/// Tag indexes (into `Store::tags`) by role.
const TLP_TAGS: [(u32, u64); 4] = [(0, 25), (1, 40), (2, 28), (3, 7)];
const EVENT_CONTEXT_TAGS: [u32; 7] = [4, 5, 6, 7, 8, 9, 10];
const ATTR_TAGS: [u32; 3] = [11, 12, 13];

/// Builds the store. Event ids are 1..=E in creation order, attribute ids are
/// 1..=N, each event's attributes contiguous.
pub fn generate(cfg: &GenConfig) -> Store {
    let mut store = Store::default();
    base(&mut store);
    let per = u64::from(cfg.per_event.max(1));

    // Event sizes first, so creation times can spread evenly.
    let mut sizes = Vec::with_capacity((cfg.count / per + 1) as usize);
    let mut total = 0u64;
    let mut r = Rng::new(cfg.seed, 1, 0);
    while total < cfg.count {
        let s = (1 + r.below(2 * per - 1)).min(cfg.count - total);
        sizes.push(s);
        total += s;
    }

    let span = i64::from(cfg.span_days.max(1)) * 86_400;
    let start = cfg.now - span;
    let nevents = sizes.len().max(1) as i64;
    let slot = (span / nevents).max(1);
    let latest = cfg.now - 60;

    let mut cat_of = Vec::new();
    for (t, _) in TYPE_WEIGHTS {
        let s = store.intern_type(t);
        let c = store.categories.intern(default_category(t));
        if cat_of.len() <= usize::from(s) {
            cat_of.resize(usize::from(s) + 1, 0);
        }
        cat_of[usize::from(s)] = c;
    }

    // Shared values come from a fixed pool, so attribute i is the same
    // whatever --generate N is.
    let pool = 1000;
    store.attrs.reserve(cfg.count as usize);
    let mut next_id = 1u64;
    for (k, &size) in sizes.iter().enumerate() {
        let k = k as u64;
        let mut r = Rng::new(cfg.seed, 2, k);
        let created = (start + k as i64 * slot + r.range(0, slot)).min(latest);
        let lag = match r.below(100) {
            0..=69 => r.range(0, 3_600),
            70..=94 => r.range(3_600, 30 * 86_400),
            _ => r.range(0, span),
        };
        let timestamp = (created + lag).min(latest);
        let published = r.chance(0.9);
        let publish_timestamp = if published {
            (timestamp + r.range(0, 600)).min(latest)
        } else if r.chance(0.5) {
            0
        } else {
            created
        };
        let mut tags = Vec::with_capacity(3);
        let mut x = r.below(100);
        for (t, w) in TLP_TAGS {
            if x < w {
                tags.push(t);
                break;
            }
            x -= w;
        }
        for _ in 0..r.below(3) {
            let t = *r.pick(&EVENT_CONTEXT_TAGS);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let orgc = *r.pick(&[0u32, 1, 1, 2, 3, 3, 3, 4]);
        let event_id = k + 1;
        let ev = Event {
            id: event_id,
            uuid: uuid_from(cfg.seed ^ 0xE0E0_0000_0000 ^ event_id).into(),
            info: format!(
                "{} {} - {}",
                r.pick(MALWARE),
                r.pick(WHAT),
                crate::timeutil::date_string(created)
            )
            .into(),
            org: 0,
            orgc,
            distribution: *r.pick(&[0u8, 1, 1, 2, 3, 3, 3]),
            sharing_group_id: 0,
            threat_level_id: 1 + r.below(4) as u8,
            analysis: *r.pick(&[0u8, 1, 2, 2, 2]),
            date: crate::timeutil::date_string(created).into(),
            published,
            timestamp,
            publish_timestamp,
            tags,
            attribute_count: 0,
        };
        let eidx = store.push_event(ev);

        for _ in 0..size {
            let i = next_id;
            next_id += 1;
            let mut r = Rng::new(cfg.seed, 3, i);
            let upper = r.chance(0.03);
            let (t, val) = if r.chance(0.04) {
                // A value shared with other attributes, possibly in other events.
                let mut p = Rng::new(cfg.seed, 4, r.below(pool));
                let t = pick_type(&mut p);
                (t, value(t, &mut p, upper))
            } else {
                let t = pick_type(&mut r);
                (t, value(t, &mut r, upper))
            };
            let kind = store.types.get(t).unwrap_or(0);
            let to_ids = if default_non_ids(t) {
                r.chance(0.2)
            } else {
                !r.chance(cfg.non_ids_fraction)
            };
            let deleted = r.chance(cfg.deleted_fraction);
            let ts = if deleted {
                timestamp
            } else {
                r.range(created, timestamp + 1)
            };
            let tags: Box<[u32]> = if r.chance(0.05) {
                Box::new([*r.pick(&ATTR_TAGS)])
            } else {
                Box::new([])
            };
            let comment: Box<str> = if r.chance(0.15) {
                (*r.pick(COMMENTS)).into()
            } else {
                "".into()
            };
            let in_object = (hash_len(t).is_some() || t == "filename") && r.chance(0.05);
            let extra = in_object.then(|| {
                Box::new(super::AttrExtra {
                    object_relation: Some(object_relation(t).into()),
                    ..Default::default()
                })
            });
            store.attrs.push(Attribute {
                id: i,
                event: eidx,
                object_id: if in_object { event_id * 10 + 1 } else { 0 },
                kind,
                category: cat_of.get(usize::from(kind)).copied().unwrap_or(0),
                value: val.into(),
                uuid: uuid_from(cfg.seed ^ 0xA77A_0000_0000_0000 ^ i).into(),
                comment,
                timestamp: ts,
                distribution: if r.chance(0.9) { 5 } else { r.below(4) as u8 },
                to_ids,
                deleted,
                disable_correlation: r.chance(0.01),
                warninglisted: r.chance(cfg.warninglist_fraction),
                decayed: r.chance(cfg.decayed_fraction),
                tags,
                extra,
            });
        }
    }
    store.recount();
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: u64) -> GenConfig {
        GenConfig {
            count: n,
            per_event: 100,
            seed: 7,
            now: 1_700_000_000,
            span_days: 400,
            non_ids_fraction: 0.12,
            deleted_fraction: 0.03,
            warninglist_fraction: 0.01,
            decayed_fraction: 0.01,
        }
    }

    #[test]
    fn weights_sum_to_1000() {
        assert_eq!(TYPE_WEIGHTS.iter().map(|(_, w)| w).sum::<u32>(), 1000);
    }

    #[test]
    fn deterministic_and_shaped() {
        let a = generate(&cfg(5000));
        let b = generate(&cfg(5000));
        assert_eq!(a.attrs.len(), 5000);
        for (x, y) in a.attrs.iter().zip(&b.attrs) {
            assert_eq!(x.value, y.value);
            assert_eq!(x.uuid, y.uuid);
        }
        assert!(a.attrs.windows(2).all(|w| w[0].id < w[1].id));
        let ev = a.events.len();
        assert!((25..=100).contains(&ev), "{ev} events");
        for at in &a.attrs {
            let e = &a.events[at.event as usize];
            assert!(at.timestamp <= e.timestamp);
            assert!(e.timestamp < 1_700_000_000);
            assert!(e.timestamp >= 1_700_000_000 - 401 * 86_400);
            if a.is_composite(at.kind) {
                assert!(at.value.contains('|'), "{}", at.value);
            }
        }
        let cidr = a
            .attrs
            .iter()
            .filter(|x| x.value.contains('/') && a.types.name(x.kind).starts_with("ip-"))
            .count();
        assert!(cidr > 0);
        let upper = a
            .attrs
            .iter()
            .filter(|x| {
                a.types.name(x.kind) == "sha256" && x.value.chars().any(|c| c.is_ascii_uppercase())
            })
            .count();
        assert!(upper > 0);
    }
}
