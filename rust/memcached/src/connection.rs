//! One connection to one memcached server: multi-gets and pipelined writes,
//! every call bounded by a deadline, every reply parsed with hard limits.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use misp_enrich_core::{excerpt, is_safe_key};

use crate::Error;

/// Values larger than this are refused when read (memcached's own default
/// limit is 1 MiB); a garbage length can never make us allocate more.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// Default bound on the value bytes one [`Connection::get_multi`] call
/// accepts, all keys together ([`Connection::set_reply_limit`] changes it):
/// a server answering many keys with values near [`MAX_VALUE_BYTES`] cannot
/// make one call hold gigabytes before its deadline.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A [`Connection::metadump`] listing may last the io timeout plus this per
/// item the server said it holds (`stats` `curr_items`, read first), and
/// list at most twice as many keys plus [`LISTING_SLACK_KEYS`]. Real
/// listings run at about a microsecond per key.
pub const LISTING_TIME_PER_ITEM: Duration = Duration::from_micros(100);

/// Keys a listing may list beyond twice the server's item count (keys
/// stored while it runs).
pub const LISTING_SLACK_KEYS: u64 = 10_000;

/// Name resolutions running at once on helper threads (see
/// [`Connection::connect`]); past this, a connect to a host name fails at once.
const MAX_RESOLVERS: usize = 8;

static RESOLVERS: AtomicUsize = AtomicUsize::new(0);

/// Reply lines (`VALUE ...`, `STORED`, ...) longer than this are garbage.
const MAX_LINE_BYTES: usize = 1024;

/// Keys per `get` command; a multi-get sends several commands at once.
const KEYS_PER_GET: usize = 100;

/// Writes are pipelined in batches of at most this many commands or bytes,
/// so neither side's socket buffers can fill up and deadlock.
const OPS_PER_BATCH: usize = 512;
const BYTES_PER_BATCH: usize = 1024 * 1024;

/// Connect and per-call timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound on establishing the TCP connection.
    pub connect: Duration,
    /// Bound on one call (a whole multi-get, or one batch of writes).
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_millis(500),
            io: Duration::from_secs(2),
        }
    }
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The value bytes.
    pub value: Vec<u8>,
    /// The client flags stored with it.
    pub flags: u32,
    /// The CAS unique (0 unless read with `gets`).
    pub cas: u64,
}

/// A write command. Values are bytes of any content: the protocol sends their
/// length first, so they cannot inject commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Store unconditionally.
    Set {
        /// Key.
        key: &'a str,
        /// Value.
        value: &'a [u8],
        /// Expiry in seconds (0 = never), as memcached reads it.
        exptime: u32,
    },
    /// Store only if absent.
    Add {
        /// Key.
        key: &'a str,
        /// Value.
        value: &'a [u8],
        /// Expiry in seconds (0 = never).
        exptime: u32,
    },
    /// Store only if unchanged since read with CAS unique `cas`.
    Cas {
        /// Key.
        key: &'a str,
        /// Value.
        value: &'a [u8],
        /// Expiry in seconds (0 = never).
        exptime: u32,
        /// CAS unique from [`Connection::get_multi`] with `with_cas`.
        cas: u64,
    },
    /// Remove.
    Delete {
        /// Key.
        key: &'a str,
    },
    /// Add to a decimal counter.
    Incr {
        /// Key.
        key: &'a str,
        /// Amount.
        by: u64,
    },
    /// Subtract from a decimal counter (memcached stops at 0).
    Decr {
        /// Key.
        key: &'a str,
        /// Amount.
        by: u64,
    },
}

impl Op<'_> {
    /// The key the operation is on.
    pub fn key(&self) -> &str {
        match self {
            Op::Set { key, .. }
            | Op::Add { key, .. }
            | Op::Cas { key, .. }
            | Op::Delete { key }
            | Op::Incr { key, .. }
            | Op::Decr { key, .. } => key,
        }
    }
}

/// The server's answer to one [`Op`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `STORED`.
    Stored,
    /// `NOT_STORED` (add of a present key, ...).
    NotStored,
    /// `EXISTS`: a CAS lost the race.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// The new value of a counter.
    Number(u64),
    /// `SERVER_ERROR object too large for cache` to a `set`, `add` or
    /// `cas`: the value is over the server's item size limit (`-I`, 1 MiB
    /// by default). memcached reads and drops the data, so the connection
    /// stays usable and the other commands of the batch are answered.
    TooLarge,
}

/// One connection. Not thread-safe by itself; share through [`crate::Pool`].
#[derive(Debug)]
pub struct Connection {
    addr: String,
    reader: BufReader<TcpStream>,
    timeouts: Timeouts,
    deadline: Instant,
    /// A deadline set by [`Connection::set_deadline`] for the next call.
    next_deadline: Option<Instant>,
    out: Vec<u8>,
    reply_limit: usize,
}

impl Connection {
    /// Connects to `addr` (`host:port`) within `timeouts.connect`, name
    /// resolution included: a host name is resolved on a helper thread that
    /// is given up on when the connect timeout passes (the system resolver
    /// cannot be interrupted; the thread ends when it returns, and at most
    /// a few such threads run at once).
    pub fn connect(addr: &str, timeouts: Timeouts) -> Result<Self, Error> {
        let connect_error = |source| Error::Connect {
            addr: addr.to_owned(),
            source,
        };
        let started = Instant::now();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let addrs = resolve(addr, timeouts.connect, system_lookup).map_err(connect_error)?;
        for sock in addrs {
            // Every address tried shares the one connect timeout.
            let left = timeouts.connect.saturating_sub(started.elapsed());
            if left.is_zero() {
                last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                break;
            }
            match TcpStream::connect_timeout(&sock, left) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(connect_error)?;
                    return Ok(Connection {
                        addr: addr.to_owned(),
                        reader: BufReader::with_capacity(64 * 1024, stream),
                        timeouts,
                        deadline: Instant::now() + timeouts.io,
                        next_deadline: None,
                        out: Vec::with_capacity(16 * 1024),
                        reply_limit: MAX_REPLY_BYTES,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(connect_error(last))
    }

    /// Sets the most value bytes one [`Connection::get_multi`] call accepts
    /// (default [`MAX_REPLY_BYTES`]); a reply announcing more fails the call
    /// with [`Error::Protocol`] before the excess is read.
    pub fn set_reply_limit(&mut self, bytes: usize) {
        self.reply_limit = bytes;
    }

    /// The server address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sets the deadline of the next call to `deadline` instead of now plus
    /// the io timeout (for callers that share one deadline across servers);
    /// the earlier of the two applies.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.next_deadline = Some(deadline);
    }

    /// Reads `keys` in one round trip (several `get`/`gets` commands sent
    /// together). The result is aligned with `keys`: `None` for a miss.
    pub fn get_multi<K: AsRef<str>>(
        &mut self,
        keys: &[K],
        with_cas: bool,
    ) -> Result<Vec<Option<Item>>, Error> {
        self.begin_call();
        for key in keys {
            check_key(key.as_ref())?;
        }
        let command: &[u8] = if with_cas { b"gets" } else { b"get" };
        let mut results: Vec<Option<Item>> = vec![None; keys.len()];
        let mut budget = self.reply_limit;
        for (chunk_no, chunk) in keys.chunks(KEYS_PER_GET * 8).enumerate() {
            self.out.clear();
            for group in chunk.chunks(KEYS_PER_GET) {
                self.out.extend_from_slice(command);
                for key in group {
                    self.out.push(b' ');
                    self.out.extend_from_slice(key.as_ref().as_bytes());
                }
                self.out.extend_from_slice(b"\r\n");
            }
            self.flush_out()?;
            let base = chunk_no * KEYS_PER_GET * 8;
            for (group_no, group) in chunk.chunks(KEYS_PER_GET).enumerate() {
                let offset = base + group_no * KEYS_PER_GET;
                self.read_values(
                    group,
                    &mut results[offset..offset + group.len()],
                    with_cas,
                    &mut budget,
                )?;
            }
            self.check_nothing_left()?;
        }
        Ok(results)
    }

    /// Reads the `VALUE ... END` answer of one `get` of `keys` into `slots`;
    /// `budget` is what the call may still read in value bytes.
    fn read_values<K: AsRef<str>>(
        &mut self,
        keys: &[K],
        slots: &mut [Option<Item>],
        with_cas: bool,
        budget: &mut usize,
    ) -> Result<(), Error> {
        let mut next = 0;
        loop {
            let line = self.read_line()?;
            if line == b"END" {
                return Ok(());
            }
            let header = parse_value_header(&line, with_cas)?;
            // memcached answers hits in request order, so the key is at or
            // after `next`; anything else is not an answer to this request.
            let at = keys[next..]
                .iter()
                .position(|k| k.as_ref().as_bytes() == header.key)
                .ok_or_else(|| Error::protocol("value for a key not asked for", &line))?;
            *budget = budget.checked_sub(header.len).ok_or_else(|| {
                Error::Protocol(format!(
                    "reply of more than {} bytes to one multi-get",
                    self.reply_limit
                ))
            })?;
            let value = self.read_block(header.len)?;
            slots[next + at] = Some(Item {
                value,
                flags: header.flags,
                cas: header.cas,
            });
            next += at + 1;
        }
    }

    /// Runs write commands, pipelined in batches; replies are aligned with `ops`.
    pub fn execute(&mut self, ops: &[Op<'_>]) -> Result<Vec<Reply>, Error> {
        for op in ops {
            check_key(op.key())?;
        }
        let mut replies = Vec::with_capacity(ops.len());
        let mut start = 0;
        // A deadline from `set_deadline` bounds every batch of this call.
        let overall = self.next_deadline.take();
        while start < ops.len() {
            self.next_deadline = overall;
            self.begin_call();
            self.out.clear();
            let mut end = start;
            while end < ops.len() && end - start < OPS_PER_BATCH && self.out.len() < BYTES_PER_BATCH
            {
                encode(&mut self.out, &ops[end]);
                end += 1;
            }
            self.flush_out()?;
            for op in &ops[start..end] {
                let reply = match self.read_line() {
                    Ok(line) => parse_reply(op, &line)?,
                    // memcached swallows the data of a refused item: the
                    // stream is still in step.
                    Err(Error::Server(m))
                        if m.contains("object too large")
                            && matches!(op, Op::Set { .. } | Op::Add { .. } | Op::Cas { .. }) =>
                    {
                        Reply::TooLarge
                    }
                    Err(e) => return Err(e),
                };
                replies.push(reply);
            }
            self.check_nothing_left()?;
            start = end;
        }
        Ok(replies)
    }

    /// The server's version string (`version` command): a cheap liveness probe.
    pub fn version(&mut self) -> Result<String, Error> {
        self.begin_call();
        self.out.clear();
        self.out.extend_from_slice(b"version\r\n");
        self.flush_out()?;
        let line = self.read_line()?;
        let version = line
            .strip_prefix(b"VERSION ")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .ok_or_else(|| Error::protocol("expected VERSION", &line))?;
        self.check_nothing_left()?;
        Ok(version)
    }

    /// The server's general statistics (`stats` command) as name/value pairs.
    pub fn stats(&mut self) -> Result<Vec<(String, String)>, Error> {
        self.begin_call();
        self.out.clear();
        self.out.extend_from_slice(b"stats\r\n");
        self.flush_out()?;
        let mut stats = Vec::new();
        loop {
            let line = self.read_line()?;
            if line == b"END" {
                self.check_nothing_left()?;
                return Ok(stats);
            }
            let text = String::from_utf8_lossy(&line);
            let mut parts = text.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("STAT"), Some(name), Some(value)) => {
                    stats.push((name.to_owned(), value.to_owned()));
                }
                _ => return Err(Error::protocol("expected STAT", &line)),
            }
            if stats.len() > 10_000 {
                return Err(Error::Protocol("endless stats".into()));
            }
        }
    }

    /// Lists the keys the server holds with `lru_crawler metadump` (memcached
    /// 1.4.31 or later with the LRU crawler enabled, the default since 1.5.0).
    /// `each` is called once per key.
    ///
    /// The hash table is walked (`metadump hash`) where the server can, so a
    /// key that other clients read (and so move between LRU segments) while
    /// the listing runs is still listed; older servers fall back to walking
    /// the LRUs (`metadump all`), which can miss such keys. Either way keys
    /// stored or removed during the listing may or may not appear. Keys that
    /// could not be sent back in a command (not UTF-8, or not
    /// [`is_safe_key`], e.g. stored through the binary protocol) are counted
    /// in [`Metadump::unusable`] and not passed on. The io timeout bounds the
    /// wait for each line; the whole listing is bounded by the number of
    /// items the server says it holds (`stats`, asked first): it may take the
    /// io timeout plus [`LISTING_TIME_PER_ITEM`] per item and list at most
    /// twice that many keys plus [`LISTING_SLACK_KEYS`] (a server that sends
    /// more, or dribbles its listing, fails the call with
    /// [`Error::Protocol`] or [`Error::Timeout`]). While another client's
    /// crawl runs the server answers `BUSY`; this waits up to the io timeout
    /// for it to end.
    ///
    /// Collect the keys before reading them: while the listing waits for this
    /// client to take its output, the server's crawler may hold locks that a
    /// `get` of a nearby key on another connection then waits for.
    pub fn metadump(&mut self, mut each: impl FnMut(DumpedKey)) -> Result<Metadump, Error> {
        let items = self
            .stats()?
            .iter()
            .find(|(name, _)| name == "curr_items")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        let limits = Listing {
            deadline: Instant::now()
                + self.timeouts.io
                + LISTING_TIME_PER_ITEM.saturating_mul(u32::try_from(items).unwrap_or(u32::MAX)),
            max_keys: items.saturating_mul(2).saturating_add(LISTING_SLACK_KEYS),
        };
        match self.metadump_mode(b"hash", &limits, &mut each) {
            // Nothing was listed yet, so asking the older way repeats nothing.
            Err(Error::Server(m)) if !m.contains("disabled") => {
                self.metadump_mode(b"all", &limits, &mut each)
            }
            other => other,
        }
    }

    fn metadump_mode(
        &mut self,
        mode: &[u8],
        limits: &Listing,
        each: &mut impl FnMut(DumpedKey),
    ) -> Result<Metadump, Error> {
        let started = Instant::now();
        let mut summary = Metadump::default();
        'attempt: loop {
            self.next_deadline = Some(limits.deadline);
            self.begin_call();
            self.out.clear();
            self.out.extend_from_slice(b"lru_crawler metadump ");
            self.out.extend_from_slice(mode);
            self.out.extend_from_slice(b"\r\n");
            self.flush_out()?;
            loop {
                if summary.listed + summary.unusable > limits.max_keys {
                    return Err(Error::Protocol(format!(
                        "the key listing went past {} keys, more than the server holds",
                        limits.max_keys
                    )));
                }
                self.next_deadline = Some(limits.deadline);
                self.begin_call();
                let line = self.read_line_lf()?;
                if line == b"END" {
                    return Ok(summary);
                }
                if line.starts_with(b"BUSY") && summary.listed == 0 && summary.unusable == 0 {
                    if started.elapsed() >= self.timeouts.io {
                        return Err(Error::Server(excerpt(&String::from_utf8_lossy(&line))));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue 'attempt;
                }
                match parse_dump_line(&line) {
                    Some(Ok(key)) => {
                        summary.listed += 1;
                        each(key);
                    }
                    Some(Err(())) => summary.unusable += 1,
                    None => return Err(Error::protocol("expected key= or END", &line)),
                }
            }
        }
    }

    /// Deletes each key only if its CAS unique is still the one given (read
    /// with [`Connection::get_multi`] `with_cas`), so a value another client
    /// changed in the meantime is never lost. Uses the meta command `md` of
    /// memcached 1.6 or later; older servers answer `ERROR`, which comes back
    /// as [`Error::Server`] (the connection must then be dropped). Replies are
    /// aligned with `items`: [`Reply::Deleted`], [`Reply::Exists`] (changed
    /// since read) or [`Reply::NotFound`].
    pub fn delete_if_unchanged(&mut self, items: &[(&str, u64)]) -> Result<Vec<Reply>, Error> {
        for (key, _) in items {
            check_key(key)?;
        }
        let mut replies = Vec::with_capacity(items.len());
        for batch in items.chunks(OPS_PER_BATCH) {
            self.begin_call();
            self.out.clear();
            for (key, cas) in batch {
                self.out
                    .extend_from_slice(format!("md {key} C{cas}\r\n").as_bytes());
            }
            self.flush_out()?;
            for _ in batch {
                let line = self.read_line()?;
                replies.push(match line.as_slice() {
                    b"HD" => Reply::Deleted,
                    b"NF" => Reply::NotFound,
                    b"EX" => Reply::Exists,
                    _ => return Err(Error::protocol("expected HD, NF or EX", &line)),
                });
            }
            self.check_nothing_left()?;
        }
        Ok(replies)
    }

    /// Logs this connection in with memcached's ASCII protocol authentication
    /// (memcached 1.5.15 or later started with `-Y <auth file>`, whose lines
    /// are `user:password`): the first command is a `set` whose data is
    /// `<user> <password>`. Call it right after [`Connection::connect`].
    ///
    /// Returns `Ok(false)` without sending the password when the server does
    /// not ask for authentication (it answers `version` without it; a `set`
    /// would store the password there as an ordinary value), `Ok(true)` once
    /// logged in, [`Error::Auth`] when the server refuses the pair or either
    /// contains whitespace or control characters (which the format cannot
    /// carry, see [`check_credentials`]). A deadline from
    /// [`Connection::set_deadline`] bounds both of its round trips.
    pub fn authenticate(&mut self, user: &str, password: &str) -> Result<bool, Error> {
        check_credentials(user, password)?;
        // `begin_call` takes the deadline; the second round trip gets it again.
        let overall = self.next_deadline;
        self.begin_call();
        self.out.clear();
        self.out.extend_from_slice(b"version\r\n");
        self.flush_out()?;
        match self.read_line() {
            Ok(line) if line.starts_with(b"VERSION ") => {
                self.check_nothing_left()?;
                return Ok(false);
            }
            Ok(line) => return Err(Error::protocol("expected VERSION", &line)),
            Err(Error::Server(m)) if m.contains("unauthenticated") => {}
            Err(e) => return Err(e),
        }
        self.next_deadline = overall;
        self.begin_call();
        self.out.clear();
        let data = format!("{user} {password}");
        self.out
            .extend_from_slice(format!("set auth 0 0 {}\r\n", data.len()).as_bytes());
        self.out.extend_from_slice(data.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        let sent = self.flush_out();
        // The password is not kept in the buffer.
        self.out.iter_mut().for_each(|b| *b = 0);
        self.out.clear();
        sent?;
        match self.read_line() {
            Ok(line) if line == b"STORED" => {
                self.check_nothing_left()?;
                Ok(true)
            }
            Ok(line) => Err(Error::protocol("expected STORED", &line)),
            Err(Error::Server(m)) if m.contains("authentication failure") => Err(Error::Auth(
                "memcached refused the user name or password".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Like `read_line`, for replies whose lines end in a bare `\n` (the
    /// metadump listing); a `\r` before it is dropped too.
    fn read_line_lf(&mut self) -> Result<Vec<u8>, Error> {
        let mut line = self.read_to_lf()?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        server_refusal(line)
    }

    /// Fails if the read buffer still holds bytes after the last answer of
    /// a request. memcached sends nothing it was not asked for: leftover
    /// bytes mean the stream is out of step (garbage, or answers of another
    /// request), and the next call on this connection would take them for
    /// its own answer. The caller drops the connection on this error.
    fn check_nothing_left(&self) -> Result<(), Error> {
        let left = self.reader.buffer();
        if left.is_empty() {
            Ok(())
        } else {
            Err(Error::protocol("bytes after the last answer", left))
        }
    }

    fn begin_call(&mut self) {
        let io = Instant::now() + self.timeouts.io;
        self.deadline = self.next_deadline.take().map_or(io, |d| d.min(io));
    }

    /// Time left before the deadline, or a timeout error.
    fn remaining(&self) -> Result<Duration, Error> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::Timeout)
        } else {
            Ok(left)
        }
    }

    fn flush_out(&mut self) -> Result<(), Error> {
        let left = self.remaining()?;
        let stream = self.reader.get_mut();
        stream.set_write_timeout(Some(left)).map_err(Error::Io)?;
        stream.write_all(&self.out).map_err(Error::from_io)
    }

    /// Fills the read buffer, bounded by the deadline.
    fn fill(&mut self) -> Result<&[u8], Error> {
        let left = self.remaining()?;
        self.reader
            .get_ref()
            .set_read_timeout(Some(left))
            .map_err(Error::Io)?;
        match self.reader.fill_buf() {
            Ok([]) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "memcached closed the connection",
            ))),
            Ok(buf) => Ok(buf),
            Err(e) => Err(Error::from_io(e)),
        }
    }

    /// One `\r\n`-terminated line, without the terminator.
    fn read_line(&mut self) -> Result<Vec<u8>, Error> {
        let mut line = self.read_to_lf()?;
        if line.pop() != Some(b'\r') {
            return Err(Error::protocol("malformed reply line", &line));
        }
        server_refusal(line)
    }

    /// Bytes up to the next `\n` (consumed, not returned), at most
    /// [`MAX_LINE_BYTES`] of them.
    fn read_to_lf(&mut self) -> Result<Vec<u8>, Error> {
        let mut line = Vec::new();
        loop {
            let buf = self.fill()?;
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                line.extend_from_slice(&buf[..pos]);
                self.reader.consume(pos + 1);
                break;
            }
            let n = buf.len();
            line.extend_from_slice(buf);
            self.reader.consume(n);
            if line.len() > MAX_LINE_BYTES {
                return Err(Error::protocol("reply line too long", &line));
            }
        }
        if line.len() > MAX_LINE_BYTES + 1 {
            return Err(Error::protocol("reply line too long", &line));
        }
        Ok(line)
    }

    /// A data block of `len` bytes followed by `\r\n`.
    fn read_block(&mut self, len: usize) -> Result<Vec<u8>, Error> {
        let mut value = Vec::with_capacity(len.min(64 * 1024));
        while value.len() < len + 2 {
            let buf = self.fill()?;
            let take = buf.len().min(len + 2 - value.len());
            value.extend_from_slice(&buf[..take]);
            self.reader.consume(take);
        }
        if value.split_off(len) != b"\r\n" {
            return Err(Error::Protocol("data block not ended by CRLF".into()));
        }
        Ok(value)
    }
}

/// Checks a user name and password for [`Connection::authenticate`] without
/// connecting: both non-empty, neither with spaces or control characters
/// (the login sends them as one space-separated line). The error never
/// quotes them.
pub fn check_credentials(user: &str, password: &str) -> Result<(), Error> {
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() || !c.is_ascii());
    if plain(user) && plain(password) {
        Ok(())
    } else {
        Err(Error::Auth(
            "the user name and password must be non-empty, without spaces or control characters"
                .into(),
        ))
    }
}

/// The bounds of one listing.
struct Listing {
    deadline: Instant,
    max_keys: u64,
}

/// The system resolver (`getaddrinfo`), which may block for seconds.
fn system_lookup(addr: &str) -> io::Result<Vec<SocketAddr>> {
    addr.to_socket_addrs().map(Iterator::collect)
}

/// The addresses of `addr` within `within`: an IP address and port at
/// once; a host name through `lookup` on a helper thread, given up on
/// (`TimedOut`) when `within` passes.
fn resolve(
    addr: &str,
    within: Duration,
    lookup: fn(&str) -> io::Result<Vec<SocketAddr>>,
) -> io::Result<Vec<SocketAddr>> {
    if let Ok(sock) = addr.parse::<SocketAddr>() {
        return Ok(vec![sock]);
    }
    if RESOLVERS.fetch_add(1, Ordering::AcqRel) >= MAX_RESOLVERS {
        RESOLVERS.fetch_sub(1, Ordering::AcqRel);
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "name resolution: earlier lookups still hang",
        ));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let name = addr.to_owned();
    let spawned = std::thread::Builder::new()
        .name("memcached-resolve".into())
        .spawn(move || {
            let result = lookup(&name);
            RESOLVERS.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        RESOLVERS.fetch_sub(1, Ordering::AcqRel);
        return Err(e);
    }
    match rx.recv_timeout(within) {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "name resolution took longer than the connect timeout ({} ms)",
                within.as_millis()
            ),
        )),
    }
}

/// One key listed by [`Connection::metadump`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedKey {
    /// The key, decoded from the listing's URL encoding.
    pub key: String,
    /// When it expires (unix seconds), `None` for never.
    pub expires: Option<u64>,
}

/// What a [`Connection::metadump`] listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadump {
    /// Keys passed to the callback.
    pub listed: u64,
    /// Keys that cannot be used in a text-protocol command, skipped.
    pub unusable: u64,
}

/// `key=<url-encoded> exp=<-1|unix> ...`: `None` if not such a line,
/// `Some(Err)` if the key is unusable.
fn parse_dump_line(line: &[u8]) -> Option<Result<DumpedKey, ()>> {
    let mut fields = line.split(|b| *b == b' ');
    let encoded = fields.next()?.strip_prefix(b"key=")?;
    let mut expires = None;
    for field in fields {
        if let Some(exp) = field.strip_prefix(b"exp=") {
            expires = if exp == b"-1" {
                None
            } else {
                Some(number(Some(exp))?)
            };
        }
    }
    let Some(bytes) = percent_decode(encoded) else {
        return Some(Err(()));
    };
    match String::from_utf8(bytes) {
        Ok(key) if is_safe_key(&key) => Some(Ok(DumpedKey { key, expires })),
        _ => Some(Err(())),
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape.
fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A reply line, or the server's refusal (`SERVER_ERROR ...`, `CLIENT_ERROR ...`, `ERROR`) as an error.
fn server_refusal(line: Vec<u8>) -> Result<Vec<u8>, Error> {
    if line.starts_with(b"SERVER_ERROR") || line.starts_with(b"CLIENT_ERROR") || line == b"ERROR" {
        return Err(Error::Server(excerpt(&String::from_utf8_lossy(&line))));
    }
    Ok(line)
}

fn check_key(key: &str) -> Result<(), Error> {
    if is_safe_key(key) {
        Ok(())
    } else {
        Err(Error::UnsafeKey(excerpt(key)))
    }
}

struct ValueHeader<'l> {
    key: &'l [u8],
    flags: u32,
    len: usize,
    cas: u64,
}

/// `VALUE <key> <flags> <bytes> [<cas>]`.
fn parse_value_header(line: &[u8], with_cas: bool) -> Result<ValueHeader<'_>, Error> {
    let bad = || Error::protocol("expected VALUE or END", line);
    let mut parts = line.split(|b| *b == b' ');
    if parts.next() != Some(b"VALUE") {
        return Err(bad());
    }
    let key = parts.next().ok_or_else(bad)?;
    let flags = number(parts.next()).ok_or_else(bad)?;
    let len = number(parts.next()).ok_or_else(bad)?;
    let cas = match parts.next() {
        Some(c) => number(Some(c)).ok_or_else(bad)?,
        None if with_cas => return Err(bad()),
        None => 0,
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    let flags = u32::try_from(flags).map_err(|_| bad())?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_VALUE_BYTES)
        .ok_or_else(|| Error::protocol("value larger than the client accepts", line))?;
    Ok(ValueHeader {
        key,
        flags,
        len,
        cas,
    })
}

fn number(part: Option<&[u8]>) -> Option<u64> {
    let part = part?;
    if part.is_empty() || part.len() > 20 || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(part).ok()?.parse().ok()
}

fn encode(out: &mut Vec<u8>, op: &Op<'_>) {
    let storage =
        |out: &mut Vec<u8>, verb: &str, key: &str, value: &[u8], exptime: u32, cas: Option<u64>| {
            out.extend_from_slice(verb.as_bytes());
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            let tail = match cas {
                Some(c) => format!(" 0 {exptime} {} {c}\r\n", value.len()),
                None => format!(" 0 {exptime} {}\r\n", value.len()),
            };
            out.extend_from_slice(tail.as_bytes());
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
    match *op {
        Op::Set {
            key,
            value,
            exptime,
        } => storage(out, "set", key, value, exptime, None),
        Op::Add {
            key,
            value,
            exptime,
        } => storage(out, "add", key, value, exptime, None),
        Op::Cas {
            key,
            value,
            exptime,
            cas,
        } => storage(out, "cas", key, value, exptime, Some(cas)),
        Op::Delete { key } => out.extend_from_slice(format!("delete {key}\r\n").as_bytes()),
        Op::Incr { key, by } => out.extend_from_slice(format!("incr {key} {by}\r\n").as_bytes()),
        Op::Decr { key, by } => out.extend_from_slice(format!("decr {key} {by}\r\n").as_bytes()),
    }
}

fn parse_reply(op: &Op<'_>, line: &[u8]) -> Result<Reply, Error> {
    let reply = match line {
        b"STORED" => Reply::Stored,
        b"NOT_STORED" => Reply::NotStored,
        b"EXISTS" => Reply::Exists,
        b"NOT_FOUND" => Reply::NotFound,
        b"DELETED" => Reply::Deleted,
        digits if matches!(op, Op::Incr { .. } | Op::Decr { .. }) => Reply::Number(
            number(Some(digits)).ok_or_else(|| Error::protocol("expected a number", line))?,
        ),
        _ => return Err(Error::protocol("unexpected reply", line)),
    };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hanging_lookup(_: &str) -> io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(5));
        Ok(Vec::new())
    }

    /// A resolver that hangs (a DNS server that does not answer) costs the
    /// connect timeout, not the resolver's own retries. The system resolver
    /// cannot be made to hang from a test, so the lookup is injected.
    #[test]
    fn name_resolution_is_bounded_by_the_connect_timeout() {
        let started = Instant::now();
        let r = resolve(
            "memcached.example:11211",
            Duration::from_millis(200),
            hanging_lookup,
        );
        let took = started.elapsed();
        assert!(
            matches!(&r, Err(e) if e.kind() == io::ErrorKind::TimedOut),
            "{r:?}"
        );
        misp_enrich_core::record::row(
            "issue14-memcached-resolve",
            "Hostile input, round 2 (issue 14)",
            "memcached client: a host name whose lookup hangs (5 s, injected: the system resolver cannot be made to hang from a test) (suspected case)",
            "Connection::connect resolves names on a helper thread bounded by the connect timeout (200 ms here), so an engine batch never waits on DNS past its budget; IP addresses skip the lookup",
            &format!(
                "{}: gave up after {took:.2?}",
                if took < Duration::from_secs(3) { "pass" } else { "FAIL" }
            ),
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
        // Addresses need no lookup; names still resolve.
        let ip = resolve("127.0.0.1:1", Duration::from_millis(1), hanging_lookup);
        assert_eq!(ip.ok().map(|v| v.len()), Some(1));
        let local = resolve("localhost:1", Duration::from_secs(5), system_lookup);
        assert!(local.is_ok_and(|v| !v.is_empty()));
    }
}
