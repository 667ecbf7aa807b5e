//! The memcached side: one connection per server, keys routed by the shared
//! `ServerRing`, servers worked in parallel, and every write batched and
//! pipelined. Merges read all affected keys of a batch in one multi-`gets`,
//! then send `add` for absent keys and `cas` for present ones; a key another
//! writer changed in between is read and merged again, so two runs at once
//! never lose an entry. Deletes are CAS-guarded for the same reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use misp_enrich_core::{Entry, EntryList, Keyspace, Namespace, ServerRing};
use misp_enrich_memcached::{Connection, DumpedKey, Error as McError, Item, Op, Reply, Timeouts};
use thiserror::Error;

use crate::config::MemcachedAuth;
use crate::plan::{self, Decision};

/// Rounds of re-read and retry for keys that other writers keep changing.
const MAX_ROUNDS: usize = 32;

/// Keys per multi-get call (each call has its own deadline).
const KEYS_PER_READ: usize = 2000;

/// Connections per server that a batch of merges is spread over, so that
/// memcached's worker threads and this process work at the same time
/// instead of waiting for each other's round trips.
const LANES: usize = 2;

/// Batches smaller than this per server use one lane.
const MIN_KEYS_PER_LANE: usize = 256;

/// What went wrong with memcached.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The server asks for a login that was not configured.
    #[error("memcached {server} requires authentication (it was started with -Y): set `memcached.username` and `memcached.password_file` (or `password`, or the MEMCACHED_PASSWORD environment variable)")]
    Unauthenticated {
        /// `host:port`.
        server: String,
    },
    /// A server failed.
    #[error("memcached {server}: {source}")]
    Server {
        /// `host:port`.
        server: String,
        /// The client's error.
        source: McError,
    },
    /// A value over the server's item size limit where skipping it would
    /// leave broken data (a range index chunk).
    #[error("memcached {server}: `{key}` ({bytes} bytes) is larger than the server's item size limit (memcached -I)")]
    TooLarge {
        /// `host:port`.
        server: String,
        /// The key.
        key: String,
        /// The value's size.
        bytes: usize,
    },
    /// Other writers kept changing the same keys.
    #[error("memcached {server}: {keys} keys kept changing under concurrent writers; gave up after {MAX_ROUNDS} rounds (run again)")]
    Contention {
        /// `host:port`.
        server: String,
        /// Keys not written.
        keys: usize,
    },
}

/// Additions to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAdd {
    /// The key.
    pub key: String,
    /// Its namespace.
    pub ns: Namespace,
    /// Entries to add.
    pub entries: EntryList,
    /// memcached exptime to write with.
    pub exptime: u32,
}

/// Removals from one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRemove {
    /// The key.
    pub key: String,
    /// Its namespace.
    pub ns: Namespace,
    /// Entries to remove.
    pub entries: Vec<Entry>,
    /// exptime for a rewritten value.
    pub exptime: u32,
}

/// Per-namespace counts of what a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NsCounts {
    /// Keys created.
    pub added: u64,
    /// Existing keys that got new entries.
    pub updated: u64,
    /// Keys that already held every entry.
    pub unchanged: u64,
    /// Entries added (to new or existing keys).
    pub entries_added: u64,
    /// Entries removed.
    pub revoked: u64,
    /// Keys deleted because no entry was left.
    pub deleted: u64,
}

impl NsCounts {
    fn add(&mut self, o: &NsCounts) {
        self.added += o.added;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.entries_added += o.entries_added;
        self.revoked += o.revoked;
        self.deleted += o.deleted;
    }
}

/// Counts by namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<Namespace, NsCounts>);

/// What merging a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Counts by namespace.
    pub counts: Counts,
    /// [`plan::key_hash`]es of keys whose stored value held entries other
    /// than the ones merged (a full reconcile reads these again).
    pub suspects: Vec<u64>,
    /// Keys whose merged value was over the server's item size limit: left
    /// as they were (warned about, key by key).
    pub too_large: u64,
}

impl Counts {
    /// The counts of `ns`, created empty.
    pub fn ns(&mut self, ns: Namespace) -> &mut NsCounts {
        self.0.entry(ns).or_default()
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: &Counts) {
        for (ns, c) in &other.0 {
            self.ns(*ns).add(c);
        }
    }

    /// The sum over namespaces.
    pub fn total(&self) -> NsCounts {
        let mut t = NsCounts::default();
        for c in self.0.values() {
            t.add(c);
        }
        t
    }
}

/// One server and its connection (made lazily, dropped after an error).
#[derive(Debug)]
pub struct Server {
    addr: String,
    timeouts: Timeouts,
    conn: Option<Connection>,
    /// Whether the server speaks the meta `md` command (memcached >= 1.6).
    meta_delete: bool,
    /// The login sent first on every new connection.
    auth: Option<MemcachedAuth>,
}

/// Whether the "server does not ask for the password" warning was given.
static NO_AUTH_WARNED: AtomicBool = AtomicBool::new(false);

impl Server {
    fn new(addr: &str, timeouts: Timeouts, auth: Option<MemcachedAuth>) -> Self {
        Server {
            addr: addr.to_owned(),
            timeouts,
            conn: None,
            meta_delete: true,
            auth,
        }
    }

    /// A new connection, logged in when a login is configured.
    fn open(&self) -> Result<Connection, StoreError> {
        let mut c = Connection::connect(&self.addr, self.timeouts).map_err(|e| self.wrap(e))?;
        if let Some(auth) = &self.auth {
            let logged_in = c
                .authenticate(&auth.username, auth.password.expose())
                .map_err(|e| self.wrap(e))?;
            if !logged_in && !NO_AUTH_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "memcached {} does not ask for authentication (not started with -Y): the password was not sent, and anyone who can reach it can read and change the indicators",
                    self.addr
                );
            }
        }
        Ok(c)
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn wrap(&self, source: McError) -> StoreError {
        match source {
            McError::Server(m) if m.contains("unauthenticated") => StoreError::Unauthenticated {
                server: self.addr.clone(),
            },
            source => StoreError::Server {
                server: self.addr.clone(),
                source,
            },
        }
    }

    /// Runs `f` on the connection. On error the connection is dropped; a
    /// read (`retry`) is tried once more on a new connection.
    fn call<T>(
        &mut self,
        retry: bool,
        mut f: impl FnMut(&mut Connection) -> Result<T, McError>,
    ) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            if self.conn.is_none() {
                self.conn = Some(self.open()?);
            }
            let result = match self.conn.as_mut() {
                Some(c) => f(c),
                None => continue,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.conn = None;
                    if retry && tries < 2 && e.is_transient() {
                        tracing::debug!("memcached {}: {e}; reconnecting", self.addr);
                        thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    return Err(self.wrap(e));
                }
            }
        }
    }

    /// Reads `keys` with CAS uniques, in calls of bounded size.
    pub fn read(&mut self, keys: &[&str], with_cas: bool) -> Result<Vec<Option<Item>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_READ) {
            out.extend(self.call(true, |c| c.get_multi(chunk, with_cas))?);
        }
        Ok(out)
    }

    /// Runs writes (not retried: a lost reply could make a retry count twice).
    pub fn write(&mut self, ops: &[Op<'_>]) -> Result<Vec<Reply>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.call(false, |c| c.execute(ops))
    }

    /// Deletes keys whose CAS unique is unchanged. Servers older than 1.6
    /// lack the meta command; they get plain deletes (a value changed by
    /// another writer in the same instant may then be lost; documented).
    fn delete_guarded(&mut self, items: &[(&str, u64)]) -> Result<Vec<Reply>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if self.meta_delete {
            match self.call(false, |c| c.delete_if_unchanged(items)) {
                Err(StoreError::Server {
                    source: McError::Server(m),
                    ..
                }) if m.starts_with("ERROR") => {
                    tracing::warn!(
                        "memcached {} does not know the meta delete command (memcached < 1.6); using plain deletes",
                        self.addr
                    );
                    self.meta_delete = false;
                }
                other => return other,
            }
        }
        let ops: Vec<Op<'_>> = items.iter().map(|(key, _)| Op::Delete { key }).collect();
        self.write(&ops)
    }

    /// Lists the server's keys (see `Connection::metadump`).
    pub fn metadump(&mut self, each: impl FnMut(DumpedKey)) -> Result<u64, StoreError> {
        let mut each = each;
        let summary = self.call(false, |c| c.metadump(&mut each))?;
        if summary.unusable > 0 {
            tracing::debug!(
                "memcached {}: {} keys not usable in text commands skipped",
                self.addr,
                summary.unusable
            );
        }
        Ok(summary.listed)
    }

    /// A second, independent connection (e.g. to read while listing).
    pub fn extra(&self) -> Server {
        Server::new(&self.addr, self.timeouts, self.auth.clone())
    }

    /// The server's version.
    pub fn version(&mut self) -> Result<String, StoreError> {
        self.call(true, |c| c.version())
    }

    /// `stats settings`-free probe of the LRU crawler: lists nothing useful
    /// on an empty server, so `check` uses `stats` instead.
    pub fn stats(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.call(true, |c| c.stats())
    }

    /// Merges additions into this server's keys.
    pub fn merge(&mut self, items: Vec<KeyAdd>, dry_run: bool) -> Result<Merged, StoreError> {
        let mut counts = Counts::default();
        let mut suspects = Vec::new();
        let mut too_large = 0;
        let mut pending = items;
        for _round in 0..MAX_ROUNDS {
            if pending.is_empty() {
                return Ok(Merged {
                    counts,
                    suspects,
                    too_large,
                });
            }
            let keys: Vec<&str> = pending.iter().map(|i| i.key.as_str()).collect();
            let existing = self.read(&keys, true)?;
            let mut decisions = Vec::with_capacity(pending.len());
            for (item, found) in pending.iter().zip(&existing) {
                let found = found.as_ref().map(|i| (i.value.as_slice(), i.cas));
                let (decision, foreign) =
                    plan::merge_checked(found, &item.entries, item.exptime != 0);
                if foreign {
                    suspects.push(plan::key_hash(&item.key));
                }
                decisions.push(decision);
            }
            let mut ops = Vec::new();
            let mut op_items = Vec::new();
            for (i, (item, d)) in pending.iter().zip(&decisions).enumerate() {
                match d {
                    Decision::Create { value, .. } => {
                        ops.push(Op::Add {
                            key: &item.key,
                            value: value.as_bytes(),
                            exptime: item.exptime,
                        });
                        op_items.push(i);
                    }
                    Decision::Replace { value, cas, .. } => {
                        ops.push(Op::Cas {
                            key: &item.key,
                            value: value.as_bytes(),
                            exptime: item.exptime,
                            cas: *cas,
                        });
                        op_items.push(i);
                    }
                    Decision::Keep | Decision::Absent | Decision::Delete { .. } => {
                        counts.ns(item.ns).unchanged += 1;
                    }
                }
            }
            let replies = if dry_run {
                vec![Reply::Stored; ops.len()]
            } else {
                self.write(&ops)?
            };
            drop(ops);
            let mut retry = Vec::new();
            for (i, reply) in op_items.into_iter().zip(replies) {
                let item = &pending[i];
                match (reply, &decisions[i]) {
                    (Reply::Stored, Decision::Create { entries, .. }) => {
                        let c = counts.ns(item.ns);
                        c.added += 1;
                        c.entries_added += *entries as u64;
                    }
                    (Reply::Stored, Decision::Replace { added, .. }) => {
                        let c = counts.ns(item.ns);
                        if *added > 0 {
                            c.updated += 1;
                            c.entries_added += *added as u64;
                        } else {
                            c.unchanged += 1;
                        }
                    }
                    // Over the item limit: this key keeps what it held; the
                    // rest of the run goes on (issue 14).
                    (Reply::TooLarge, d) => {
                        too_large += 1;
                        let bytes = match d {
                            Decision::Create { value, .. } | Decision::Replace { value, .. } => {
                                value.len()
                            }
                            _ => 0,
                        };
                        tracing::warn!(
                            "memcached {}: `{}` would hold {bytes} bytes, more than the server's item size limit (memcached -I): not updated, the other keys are",
                            self.addr,
                            misp_enrich_core::excerpt(&item.key)
                        );
                    }
                    _ => retry.push(i),
                }
            }
            if !retry.is_empty() {
                tracing::debug!(
                    "memcached {}: {} keys changed by another writer; merging again",
                    self.addr,
                    retry.len()
                );
            }
            let mut keep = vec![false; pending.len()];
            for i in retry {
                keep[i] = true;
            }
            let mut flags = keep.into_iter();
            pending.retain(|_| flags.next().unwrap_or(false));
        }
        Err(StoreError::Contention {
            server: self.addr.clone(),
            keys: pending.len(),
        })
    }

    /// Removes entries from this server's keys; keys left empty are deleted.
    pub fn remove(&mut self, items: Vec<KeyRemove>, dry_run: bool) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        let mut pending = items;
        for _round in 0..MAX_ROUNDS {
            if pending.is_empty() {
                return Ok(counts);
            }
            let keys: Vec<&str> = pending.iter().map(|i| i.key.as_str()).collect();
            let existing = self.read(&keys, true)?;
            let decisions: Vec<Decision> = pending
                .iter()
                .zip(&existing)
                .map(|(item, found)| {
                    let found = found.as_ref().map(|i| (i.value.as_slice(), i.cas));
                    plan::remove(found, &item.entries)
                })
                .collect();
            let mut writes = Vec::new();
            let mut write_items = Vec::new();
            let mut deletes = Vec::new();
            let mut delete_items = Vec::new();
            for (i, (item, d)) in pending.iter().zip(&decisions).enumerate() {
                match d {
                    Decision::Replace { value, cas, .. } => {
                        writes.push(Op::Cas {
                            key: &item.key,
                            value: value.as_bytes(),
                            exptime: item.exptime,
                            cas: *cas,
                        });
                        write_items.push(i);
                    }
                    Decision::Delete { cas, .. } => {
                        deletes.push((item.key.as_str(), *cas));
                        delete_items.push(i);
                    }
                    _ => {}
                }
            }
            let (write_replies, delete_replies) = if dry_run {
                (
                    vec![Reply::Stored; writes.len()],
                    vec![Reply::Deleted; deletes.len()],
                )
            } else {
                (self.write(&writes)?, self.delete_guarded(&deletes)?)
            };
            drop(writes);
            drop(deletes);
            let mut retry = vec![false; pending.len()];
            for (i, reply) in write_items
                .into_iter()
                .zip(write_replies)
                .chain(delete_items.into_iter().zip(delete_replies))
            {
                let item = &pending[i];
                match (reply, &decisions[i]) {
                    (Reply::Stored, Decision::Replace { removed, .. }) => {
                        counts.ns(item.ns).revoked += *removed as u64;
                    }
                    (Reply::Deleted, Decision::Delete { removed, .. }) => {
                        let c = counts.ns(item.ns);
                        c.revoked += *removed as u64;
                        c.deleted += 1;
                    }
                    // Gone meanwhile: nothing left to remove. Over the item
                    // limit (a shorter value cannot be, unless the limit
                    // shrank): left as it is rather than retried.
                    (Reply::NotFound, _) | (Reply::TooLarge, _) => {}
                    _ => retry[i] = true,
                }
            }
            let mut flags = retry.into_iter();
            pending.retain(|_| flags.next().unwrap_or(false));
        }
        Err(StoreError::Contention {
            server: self.addr.clone(),
            keys: pending.len(),
        })
    }
}

/// All servers of a deployment.
#[derive(Debug)]
pub struct Store {
    ring: ServerRing,
    servers: Vec<Server>,
    /// Extra connections per server (lanes 2..), made on first use.
    lanes: Vec<Vec<Server>>,
    keyspace: Keyspace,
}

impl Store {
    /// Connects to every server (failing with the server's name).
    pub fn connect(
        ring: &ServerRing,
        keyspace: &Keyspace,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        Store::connect_with(ring, keyspace, timeout, None)
    }

    /// Like [`Store::connect`], logging every connection in with `auth`.
    pub fn connect_with(
        ring: &ServerRing,
        keyspace: &Keyspace,
        timeout: Duration,
        auth: Option<&MemcachedAuth>,
    ) -> Result<Self, StoreError> {
        let timeouts = Timeouts {
            connect: timeout.min(Duration::from_secs(5)),
            io: timeout,
        };
        let mut servers: Vec<Server> = ring
            .servers()
            .iter()
            .map(|a| Server::new(a, timeouts, auth.cloned()))
            .collect();
        for s in &mut servers {
            s.version()?;
        }
        let lanes = servers
            .iter()
            .map(|s| (1..LANES).map(|_| s.extra()).collect())
            .collect();
        Ok(Store {
            ring: ring.clone(),
            servers,
            lanes,
            keyspace: keyspace.clone(),
        })
    }

    /// The ring.
    pub fn ring(&self) -> &ServerRing {
        &self.ring
    }

    /// The keyspace.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The servers.
    pub fn servers_mut(&mut self) -> &mut [Server] {
        &mut self.servers
    }

    /// Index of the server that holds `key`.
    pub fn server_of(&self, key: &str) -> usize {
        self.ring.server_for(key.as_bytes())
    }

    /// `host:port` of the server that holds `key`.
    pub fn server_addr(&self, key: &str) -> &str {
        self.servers
            .get(self.server_of(key))
            .map_or("", |s| s.addr())
    }

    /// Runs `f` on each server with its share of `groups` (one group per
    /// server), in parallel when more than one server has work.
    pub fn per_server<T: Send, R: Send + Default>(
        &mut self,
        groups: Vec<Vec<T>>,
        f: impl Fn(&mut Server, Vec<T>) -> Result<R, StoreError> + Sync,
    ) -> Result<Vec<R>, StoreError> {
        let busy = groups.iter().filter(|g| !g.is_empty()).count();
        if busy <= 1 {
            let mut out = Vec::with_capacity(self.servers.len());
            for (server, group) in self.servers.iter_mut().zip(groups) {
                out.push(if group.is_empty() {
                    R::default()
                } else {
                    f(server, group)?
                });
            }
            return Ok(out);
        }
        in_parallel(
            self.servers.iter_mut().zip(groups).collect(),
            |(server, group)| {
                if group.is_empty() {
                    Ok(R::default())
                } else {
                    f(server, group)
                }
            },
        )
        .into_iter()
        .collect()
    }

    /// Splits `items` into one group per server.
    pub fn group<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &str,
    ) -> Vec<Vec<T>> {
        let mut groups: Vec<Vec<T>> = (0..self.servers.len()).map(|_| Vec::new()).collect();
        for item in items {
            let s = self.server_of(key(&item));
            groups[s].push(item);
        }
        groups
    }

    /// Merges additions already grouped per server. Large groups are split
    /// over several connections to the server, all worked at once (each key
    /// is in one part only, so the parts never race with each other).
    pub fn merge(&mut self, groups: Vec<Vec<KeyAdd>>, dry_run: bool) -> Result<Merged, StoreError> {
        let mut jobs: Vec<(&mut Server, Vec<KeyAdd>)> = Vec::new();
        for ((primary, extra), mut group) in self
            .servers
            .iter_mut()
            .zip(self.lanes.iter_mut())
            .zip(groups)
        {
            if group.is_empty() {
                continue;
            }
            let lanes = (group.len() / MIN_KEYS_PER_LANE).clamp(1, extra.len() + 1);
            let per_lane = group.len().div_ceil(lanes);
            for server in extra.iter_mut().take(lanes - 1) {
                let part = group.split_off(group.len().saturating_sub(per_lane));
                jobs.push((server, part));
            }
            jobs.push((primary, group));
        }
        let mut total = Merged::default();
        let mut add = |m: Merged| {
            total.counts.merge(&m.counts);
            total.suspects.extend(m.suspects);
            total.too_large += m.too_large;
        };
        if jobs.len() <= 1 {
            for (server, items) in jobs {
                add(server.merge(items, dry_run)?);
            }
            return Ok(total);
        }
        let results = in_parallel(jobs, |(server, items)| server.merge(items, dry_run));
        for r in results {
            add(r?);
        }
        Ok(total)
    }

    /// Removes entries (grouped per server here).
    pub fn remove(&mut self, items: Vec<KeyRemove>, dry_run: bool) -> Result<Counts, StoreError> {
        let groups = self.group(items, |i| &i.key);
        let parts = self.per_server(groups, |s, items| s.remove(items, dry_run))?;
        let mut total = Counts::default();
        for p in &parts {
            total.merge(p);
        }
        Ok(total)
    }

    /// Reads keys from wherever they live; aligned with `keys`.
    pub fn read(
        &mut self,
        keys: &[String],
        with_cas: bool,
    ) -> Result<Vec<Option<Item>>, StoreError> {
        let indexed: Vec<(usize, &str)> = keys.iter().map(String::as_str).enumerate().collect();
        let groups = self.group(indexed, |(_, k)| k);
        let parts = self.per_server(groups, |s, items| {
            let keys: Vec<&str> = items.iter().map(|(_, k)| *k).collect();
            let values = s.read(&keys, with_cas)?;
            Ok(items
                .into_iter()
                .map(|(i, _)| i)
                .zip(values)
                .collect::<Vec<_>>())
        })?;
        let mut out = vec![None; keys.len()];
        for (i, v) in parts.into_iter().flatten() {
            out[i] = v;
        }
        Ok(out)
    }

    /// Reads one key.
    pub fn get(&mut self, key: &str) -> Result<Option<Item>, StoreError> {
        let s = self.server_of(key);
        Ok(self.servers[s].read(&[key], true)?.pop().flatten())
    }

    /// Stores values unconditionally (`set`), each on its server.
    /// Returns the keys (and value sizes) the servers refused as larger
    /// than their item size limit; everything else was written.
    pub fn set_many(
        &mut self,
        items: Vec<(String, Vec<u8>, u32)>,
    ) -> Result<Vec<(String, usize)>, StoreError> {
        let groups = self.group(items, |(k, _, _)| k);
        let parts = self.per_server(groups, |s, items| {
            let ops: Vec<Op<'_>> = items
                .iter()
                .map(|(key, value, exptime)| Op::Set {
                    key,
                    value,
                    exptime: *exptime,
                })
                .collect();
            let replies = s.write(&ops)?;
            Ok(items
                .iter()
                .zip(replies)
                .filter(|(_, r)| *r == Reply::TooLarge)
                .map(|((key, value, _), _)| (key.clone(), value.len()))
                .collect::<Vec<_>>())
        })?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Deletes keys unconditionally; returns how many existed.
    pub fn delete_many(&mut self, keys: Vec<String>) -> Result<u64, StoreError> {
        let groups = self.group(keys, |k| k);
        let parts = self.per_server(groups, |s, keys| {
            let ops: Vec<Op<'_>> = keys.iter().map(|key| Op::Delete { key }).collect();
            let replies = s.write(&ops)?;
            Ok(replies.iter().filter(|r| **r == Reply::Deleted).count() as u64)
        })?;
        Ok(parts.into_iter().sum())
    }

    /// Runs one write op on the key's server.
    pub fn write_one(&mut self, op: Op<'_>) -> Result<Reply, StoreError> {
        let s = self.server_of(op.key());
        let mut replies = self.servers[s].write(&[op])?;
        replies.pop().ok_or_else(|| StoreError::Server {
            server: self.servers[s].addr.clone(),
            source: McError::Protocol("no reply".into()),
        })
    }

    /// Sets the `<prefix>-stats` counter to `count` (the indicator keys a
    /// full listing found) if it says something else, unless another writer
    /// changes it meanwhile (`cas`). Another run's `incr` between the
    /// listing and this read is lost; the counter is exact again at the next
    /// `--full`.
    pub fn set_stats(&mut self, count: u64) -> Result<(), StoreError> {
        let key = self.keyspace.stats_key();
        let item = self.get(&key)?;
        let held = item
            .as_ref()
            .and_then(|i| String::from_utf8_lossy(&i.value).trim().parse::<u64>().ok());
        if held == Some(count) {
            return Ok(());
        }
        let value = count.to_string();
        let op = match &item {
            Some(i) => Op::Cas {
                key: &key,
                value: value.as_bytes(),
                exptime: 0,
                cas: i.cas,
            },
            None => Op::Add {
                key: &key,
                value: value.as_bytes(),
                exptime: 0,
            },
        };
        if self.write_one(op)? == Reply::Stored {
            if let Some(held) = held {
                tracing::info!("{key} was {held}; set to {count}, the indicator keys found");
            }
        } else {
            tracing::debug!("{key} changed meanwhile; left as another writer set it");
        }
        Ok(())
    }

    /// Adjusts the `<prefix>-stats` counter by `delta` (creating it at 0).
    pub fn adjust_stats(&mut self, delta: i64) -> Result<(), StoreError> {
        if delta == 0 {
            return Ok(());
        }
        let key = self.keyspace.stats_key();
        let op = if delta > 0 {
            Op::Incr {
                key: &key,
                by: delta.unsigned_abs(),
            }
        } else {
            Op::Decr {
                key: &key,
                by: delta.unsigned_abs(),
            }
        };
        if self.write_one(op)? == Reply::NotFound {
            // Evicted or flushed since the run began: start again from what this run did.
            let value = delta.max(0).to_string();
            self.write_one(Op::Add {
                key: &key,
                value: value.as_bytes(),
                exptime: 0,
            })?;
        }
        Ok(())
    }
}

/// Runs `f` on every job, each on its own scoped thread, and returns the
/// results in job order; a thread that panicked gives an error.
fn in_parallel<J: Send, R: Send>(
    jobs: Vec<J>,
    f: impl Fn(J) -> Result<R, StoreError> + Sync,
) -> Vec<Result<R, StoreError>> {
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| scope.spawn(move || f(job)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Contention {
                        server: "(worker thread panicked)".into(),
                        keys: 0,
                    })
                })
            })
            .collect()
    })
}
