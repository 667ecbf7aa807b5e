//! restSearch filter semantics (misp_api.md §2): the filter syntaxes (scalar,
//! `a||b`, `a&&!b`, lists, `{"OR","NOT","AND"}`), LIKE with `%`, time values,
//! the to_ids/deleted/published tri-states, tags on the attribute or its event,
//! ordering and 1-based paging. A request is compiled once against the store
//! into per-event and per-attribute checks, then run over the rows.

use crate::data::{fixture::as_u64, Attribute, Event, Interner, Store, Sym};
use crate::timeutil;
use serde_json::{Map, Value};
use std::net::Ipv6Addr;

/// The three groups of a MISP filter.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Terms {
    pub or: Vec<String>,
    pub not: Vec<String>,
    pub and: Vec<String>,
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}

impl Terms {
    fn push(&mut self, s: &str, and: bool) {
        if s.is_empty() {
            return;
        }
        if let Some(rest) = s.strip_prefix('!') {
            self.not.push(rest.to_string());
        } else if and {
            self.and.push(s.to_string());
        } else {
            self.or.push(s.to_string());
        }
    }

    fn push_str(&mut self, s: &str) {
        if s.contains("&&") {
            for p in s.split("&&") {
                self.push(p, true);
            }
        } else if s.contains("||") {
            for p in s.split("||") {
                self.push(p, false);
            }
        } else {
            self.push(s, false);
        }
    }

    /// Parses a filter value; `None` when absent or empty (no filter).
    pub fn parse(v: &Value) -> Option<Terms> {
        let mut t = Terms::default();
        match v {
            Value::Null => return None,
            Value::Array(items) => {
                for i in items {
                    if let Some(s) = scalar(i) {
                        t.push_str(&s);
                    }
                }
            }
            Value::Object(m) => {
                for (k, group) in m {
                    let list: Vec<String> = match group {
                        Value::Array(a) => a.iter().filter_map(scalar).collect(),
                        other => scalar(other).into_iter().collect(),
                    };
                    let dest = match k.to_ascii_uppercase().as_str() {
                        "OR" => &mut t.or,
                        "NOT" => &mut t.not,
                        "AND" => &mut t.and,
                        _ => continue,
                    };
                    dest.extend(list.into_iter().filter(|s| !s.is_empty()));
                }
            }
            other => t.push_str(&scalar(other)?),
        }
        if t.or.is_empty() && t.not.is_empty() && t.and.is_empty() {
            None
        } else {
            Some(t)
        }
    }
}

/// An exact or SQL LIKE pattern, compared case-insensitively (MySQL's
/// default collation).
#[derive(Debug, Clone)]
pub struct Pat {
    text: Vec<char>,
    like: bool,
}

impl Pat {
    pub fn new(s: &str) -> Pat {
        let like = s.starts_with('%') || s.ends_with('%');
        Pat {
            text: s.chars().map(|c| c.to_ascii_lowercase()).collect(),
            like,
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        if !self.like {
            return s.chars().count() == self.text.len()
                && s.chars()
                    .zip(&self.text)
                    .all(|(a, b)| a.to_ascii_lowercase() == *b);
        }
        let s: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
        like(&self.text, &s)
    }
}

/// SQL LIKE with `%` (any run) and `_` (one char), iterative with one
/// backtrack point.
fn like(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// Include/exclude/all-of over an interned column (type, category).
#[derive(Debug, Default)]
struct SymCond {
    allow: Option<Vec<bool>>,
    deny: Vec<bool>,
    and: Vec<Vec<bool>>,
}

impl SymCond {
    fn compile(t: &Terms, names: &Interner, expand: impl Fn(&str) -> Vec<String>) -> SymCond {
        let set = |terms: &[String]| {
            let mut v = vec![false; names.len()];
            for term in terms {
                for term in expand(term) {
                    let p = Pat::new(&term);
                    for (s, n) in names.iter() {
                        if p.matches(n) {
                            v[usize::from(s)] = true;
                        }
                    }
                }
            }
            v
        };
        SymCond {
            allow: (!t.or.is_empty()).then(|| set(&t.or)),
            deny: set(&t.not),
            and: t.and.iter().map(|a| set(std::slice::from_ref(a))).collect(),
        }
    }

    fn ok(&self, s: Sym) -> bool {
        let i = usize::from(s);
        let hit = |v: &Vec<bool>| v.get(i).copied().unwrap_or(false);
        self.allow.as_ref().is_none_or(hit) && !hit(&self.deny) && self.and.iter().all(hit)
    }
}

/// OR/NOT/AND patterns over one or two string columns.
#[derive(Debug, Default)]
struct PatCond {
    or: Vec<Pat>,
    not: Vec<Pat>,
    and: Vec<Pat>,
}

impl PatCond {
    fn compile(t: &Terms, norm: impl Fn(&str) -> String) -> PatCond {
        let pats = |v: &[String]| v.iter().map(|s| Pat::new(&norm(s))).collect();
        PatCond {
            or: pats(&t.or),
            not: pats(&t.not),
            and: pats(&t.and),
        }
    }

    fn ok(&self, cols: &[&str]) -> bool {
        let any = |p: &Pat| cols.iter().any(|c| p.matches(c));
        (self.or.is_empty() || self.or.iter().any(any))
            && !self.not.iter().any(any)
            && self.and.iter().all(any)
    }
}

/// MISP compresses IPv6 values before matching them.
fn norm_value(s: &str) -> String {
    match s.parse::<Ipv6Addr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => s.to_string(),
    }
}

/// Both, only true, or only false.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tri {
    Any,
    Only(bool),
}

impl Tri {
    fn ok(self, b: bool) -> bool {
        match self {
            Tri::Any => true,
            Tri::Only(x) => x == b,
        }
    }
}

/// PHP truthiness, as MISP reads `include*` flags (`"0"` and `""` are false).
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !(s.is_empty() || s == "0"),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// `to_ids`: bool, 0/1, "yes"/"no", `[0,1]`, `"exclude"` (= 0). Other
/// strings compare like MySQL (non-numeric = 0).
fn to_ids_tri(v: &Value) -> Tri {
    fn one(v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_f64().is_some_and(|x| x != 0.0)),
            Value::String(s) => Some(match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "" => return None,
                _ => false,
            }),
            _ => None,
        }
    }
    match v {
        Value::Array(a) => {
            let vals: Vec<bool> = a.iter().filter_map(one).collect();
            match (vals.contains(&true), vals.contains(&false)) {
                (true, false) => Tri::Only(true),
                (false, true) => Tri::Only(false),
                _ => Tri::Any,
            }
        }
        other => one(other).map_or(Tri::Any, Tri::Only),
    }
}

/// `deleted`: absent/false = live only, truthy = only deleted, `[0,1]` = both.
fn deleted_tri(v: Option<&Value>) -> Tri {
    match v {
        None | Some(Value::Null) => Tri::Only(false),
        Some(Value::Array(a)) => {
            let t = a.iter().any(|x| truthy(Some(x)));
            let f = a.iter().any(|x| !truthy(Some(x)));
            match (t, f) {
                (true, true) => Tri::Any,
                (true, false) => Tri::Only(true),
                _ => Tri::Only(false),
            }
        }
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Tri::Only(false),
        Some(x) => Tri::Only(truthy(Some(x))),
    }
}

/// `published`: omitted = both.
fn published_tri(v: Option<&Value>) -> Tri {
    match v {
        None | Some(Value::Null) => Tri::Any,
        Some(Value::Array(a)) => match a.len() {
            0 => Tri::Any,
            _ => {
                let t = a.iter().any(|x| truthy(Some(x)));
                let f = a.iter().any(|x| !truthy(Some(x)));
                if t && f {
                    Tri::Any
                } else {
                    Tri::Only(t)
                }
            }
        },
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Tri::Only(false),
        Some(x) => Tri::Only(truthy(Some(x))),
    }
}

/// An inclusive time window; absent or empty values give none.
fn time_window(v: Option<&Value>, now: i64) -> Option<(i64, Option<i64>)> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(x) => Some(timeutil::window(x, now)),
    }
}

fn in_window(w: Option<(i64, Option<i64>)>, t: i64) -> bool {
    match w {
        None => true,
        Some((lo, hi)) => t >= lo && hi.is_none_or(|h| t <= h),
    }
}

/// Tag sets resolved to tag indexes.
#[derive(Debug)]
struct TagCond {
    or: Option<Vec<bool>>,
    not: Vec<bool>,
    and: Vec<Vec<bool>>,
}

fn tag_set(store: &Store, terms: &[String]) -> Vec<bool> {
    let mut v = vec![false; store.tags.len()];
    for term in terms {
        let by_id = term.parse::<u32>().ok();
        let p = Pat::new(term);
        for (i, t) in store.tags.iter().enumerate() {
            if by_id.map_or_else(|| p.matches(&t.name), |id| t.id == id) {
                v[i] = true;
            }
        }
    }
    v
}

fn any_in(tags: &[u32], set: &[bool]) -> bool {
    tags.iter()
        .any(|&t| set.get(t as usize).copied().unwrap_or(false))
}

/// Sort keys accepted by `order` (misp_api.md §2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderKey {
    Id,
    EventId,
    ObjectId,
    Type,
    Category,
    Value,
    Distribution,
    Timestamp,
    ObjectRelation,
    EventPublishTimestamp,
}

/// Parses `"Attribute.id asc"` and friends; unknown fields are ignored.
pub fn parse_order(v: Option<&Value>) -> Option<(OrderKey, bool)> {
    let s = v?.as_str()?.trim();
    let mut it = s.split_whitespace();
    let field = it.next()?;
    let desc = it.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
    let key = match field {
        "Attribute.id" => OrderKey::Id,
        "Attribute.event_id" => OrderKey::EventId,
        "Attribute.object_id" => OrderKey::ObjectId,
        "Attribute.type" => OrderKey::Type,
        "Attribute.category" => OrderKey::Category,
        "Attribute.value" => OrderKey::Value,
        "Attribute.distribution" => OrderKey::Distribution,
        "Attribute.timestamp" => OrderKey::Timestamp,
        "Attribute.object_relation" => OrderKey::ObjectRelation,
        "Event.publish_timestamp" => OrderKey::EventPublishTimestamp,
        _ => return None,
    };
    Some((key, desc))
}

/// `limit` and 1-based `page` after MISP's rules: limit 0 or absent = no
/// paging, page 0 = 1, page without limit ignored.
pub fn paging(p: &Map<String, Value>) -> Option<(usize, usize)> {
    let limit = p.get("limit").and_then(as_u64).filter(|&l| l > 0)?;
    let page = p.get("page").and_then(as_u64).unwrap_or(1).max(1);
    Some((
        usize::try_from(limit).unwrap_or(usize::MAX),
        usize::try_from(page).unwrap_or(usize::MAX),
    ))
}

/// Event-level checks shared by both restSearch endpoints.
#[derive(Debug, Default)]
struct EventCond {
    published: Option<Tri>,
    event_ts: Option<(i64, Option<i64>)>,
    publish_ts: Option<(i64, Option<i64>)>,
    from: Option<String>,
    to: Option<String>,
    ids: Option<Terms>,
    org: Option<PatCond>,
    threat: Option<Terms>,
    info: Option<PatCond>,
}

impl EventCond {
    fn any(&self) -> bool {
        self.published.is_some()
            || self.event_ts.is_some()
            || self.publish_ts.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.ids.is_some()
            || self.org.is_some()
            || self.threat.is_some()
            || self.info.is_some()
    }

    fn ok(&self, store: &Store, e: &Event) -> bool {
        if let Some(p) = self.published {
            if !p.ok(e.published) {
                return false;
            }
        }
        if !in_window(self.event_ts, e.timestamp)
            || !in_window(self.publish_ts, e.publish_timestamp)
        {
            return false;
        }
        if self.from.as_deref().is_some_and(|f| &*e.date < f)
            || self.to.as_deref().is_some_and(|t| &*e.date > t)
        {
            return false;
        }
        if let Some(t) = &self.ids {
            let hit = |k: &String| match k.parse::<u64>() {
                Ok(id) => id == e.id,
                Err(_) => k.eq_ignore_ascii_case(&e.uuid),
            };
            if (!t.or.is_empty() && !t.or.iter().any(hit))
                || t.not.iter().any(hit)
                || !t.and.iter().all(hit)
            {
                return false;
            }
        }
        if let Some(o) = &self.org {
            let org = store.orgs.get(e.orgc as usize);
            let id = org.map(|o| o.id.to_string()).unwrap_or_default();
            let cols = [
                id.as_str(),
                org.map_or("", |o| &o.name),
                org.map_or("", |o| &o.uuid),
            ];
            if !o.ok(&cols) {
                return false;
            }
        }
        if let Some(t) = &self.threat {
            let v = e.threat_level_id.to_string();
            if (!t.or.is_empty() && !t.or.contains(&v)) || t.not.contains(&v) {
                return false;
            }
        }
        if let Some(i) = &self.info {
            if !i.ok(&[&e.info]) {
                return false;
            }
        }
        true
    }
}

/// A compiled `/attributes/restSearch` request.
#[derive(Debug)]
pub struct Query {
    /// Nothing can match (unknown OR tag, unparseable time, ...).
    pub none: bool,
    types: Option<SymCond>,
    categories: Option<SymCond>,
    value: Option<PatCond>,
    uuid: Option<PatCond>,
    object_relation: Option<PatCond>,
    to_ids: Tri,
    deleted: Tri,
    attr_ts: Vec<(i64, Option<i64>)>,
    event_ok: Option<Vec<bool>>,
    tags: Option<TagCond>,
    /// Per event: (has an OR tag, has a NOT tag, bitmask of AND sets hit).
    event_tags: Vec<(bool, bool, u64)>,
    pub enforce_warninglist: bool,
    pub exclude_decayed: bool,
    pub order: Option<(OrderKey, bool)>,
    pub paging: Option<(usize, usize)>,
}

impl Query {
    /// Compiles the request body's filters against the store at time `now`.
    pub fn compile(p: &Map<String, Value>, store: &Store, now: i64) -> Query {
        let mut none = false;
        let types = p.get("type").and_then(Terms::parse).map(|t| {
            SymCond::compile(&t, &store.types, |s| {
                let mut v = vec![s.to_string()];
                if s == "email-src" || s == "email-dst" {
                    v.push("email".into());
                }
                v
            })
        });
        let categories = p
            .get("category")
            .and_then(Terms::parse)
            .map(|t| SymCond::compile(&t, &store.categories, |s| vec![s.to_string()]));
        let value = p
            .get("value")
            .and_then(Terms::parse)
            .map(|t| PatCond::compile(&t, norm_value));
        let uuid = p
            .get("uuid")
            .and_then(Terms::parse)
            .map(|t| PatCond::compile(&t, str::to_string));
        let object_relation = p
            .get("object_relation")
            .and_then(Terms::parse)
            .map(|t| PatCond::compile(&t, str::to_string));
        let to_ids = p.get("to_ids").map_or(Tri::Any, to_ids_tri);
        let deleted = deleted_tri(p.get("deleted"));
        let attr_ts: Vec<_> = ["timestamp", "attribute_timestamp"]
            .iter()
            .filter_map(|k| time_window(p.get(*k), now))
            .collect();

        let ev = event_cond(p, now);
        let event_ok = ev
            .any()
            .then(|| store.events.iter().map(|e| ev.ok(store, e)).collect());

        let mut event_tags = Vec::new();
        let tags = p.get("tags").and_then(Terms::parse).map(|t| {
            let or = (!t.or.is_empty()).then(|| tag_set(store, &t.or));
            if or.as_ref().is_some_and(|s| !s.contains(&true)) {
                none = true;
            }
            let and: Vec<Vec<bool>> = t
                .and
                .iter()
                .map(|a| tag_set(store, std::slice::from_ref(a)))
                .collect();
            if and.iter().any(|s| !s.contains(&true)) || and.len() > 64 {
                none = true;
            }
            let cond = TagCond {
                or,
                not: tag_set(store, &t.not),
                and,
            };
            event_tags = store
                .events
                .iter()
                .map(|e| {
                    let mut mask = 0u64;
                    for (i, s) in cond.and.iter().enumerate() {
                        if any_in(&e.tags, s) {
                            mask |= 1 << i;
                        }
                    }
                    (
                        cond.or.as_ref().is_some_and(|s| any_in(&e.tags, s)),
                        any_in(&e.tags, &cond.not),
                        mask,
                    )
                })
                .collect();
            cond
        });

        Query {
            none,
            types,
            categories,
            value,
            uuid,
            object_relation,
            to_ids,
            deleted,
            attr_ts,
            event_ok,
            tags,
            event_tags,
            enforce_warninglist: truthy(p.get("enforceWarninglist")),
            exclude_decayed: truthy(p.get("excludeDecayed")),
            order: parse_order(p.get("order")),
            paging: paging(p),
        }
    }

    /// The SQL part of the search: does this row match?
    pub fn matches(&self, store: &Store, a: &Attribute) -> bool {
        if !self.deleted.ok(a.deleted) || !self.to_ids.ok(a.to_ids) {
            return false;
        }
        if let Some(t) = &self.types {
            if !t.ok(a.kind) {
                return false;
            }
        }
        if let Some(ok) = &self.event_ok {
            if !ok.get(a.event as usize).copied().unwrap_or(false) {
                return false;
            }
        }
        if !self
            .attr_ts
            .iter()
            .all(|w| in_window(Some(*w), a.timestamp))
        {
            return false;
        }
        if let Some(c) = &self.categories {
            if !c.ok(a.category) {
                return false;
            }
        }
        if let Some(t) = &self.tags {
            let (ev_or, ev_not, ev_and) = self
                .event_tags
                .get(a.event as usize)
                .copied()
                .unwrap_or((false, false, 0));
            if let Some(or) = &t.or {
                if !ev_or && !any_in(&a.tags, or) {
                    return false;
                }
            }
            if ev_not || any_in(&a.tags, &t.not) {
                return false;
            }
            for (i, s) in t.and.iter().enumerate() {
                if ev_and & (1 << i) == 0 && !any_in(&a.tags, s) {
                    return false;
                }
            }
        }
        if let Some(v) = &self.value {
            let (v1, v2) = a.value_parts(store);
            let cols: &[&str] = match v2 {
                Some(v2) => &[v1, v2],
                None => &[v1],
            };
            if !v.ok(cols) {
                return false;
            }
        }
        if let Some(u) = &self.uuid {
            let ev_uuid = store.events.get(a.event as usize).map_or("", |e| &e.uuid);
            if !u.ok(&[&a.uuid, ev_uuid]) {
                return false;
            }
        }
        if let Some(r) = &self.object_relation {
            let rel = a
                .extra
                .as_ref()
                .and_then(|x| x.object_relation.as_deref())
                .unwrap_or("");
            if !r.ok(&[rel]) {
                return false;
            }
        }
        true
    }

    /// Filtering MISP applies after the SQL LIMIT (warninglists, decay).
    pub fn post_ok(&self, a: &Attribute) -> bool {
        !((self.enforce_warninglist && a.warninglisted) || (self.exclude_decayed && a.decayed))
    }
}

fn event_cond(p: &Map<String, Value>, now: i64) -> EventCond {
    let date = |k: &str| {
        p.get(k).and_then(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => n.as_i64().map(timeutil::date_string),
            _ => None,
        })
    };
    EventCond {
        published: p
            .get("published")
            .filter(|v| !v.is_null())
            .map(|v| published_tri(Some(v))),
        event_ts: time_window(p.get("event_timestamp"), now),
        publish_ts: time_window(p.get("publish_timestamp"), now)
            .or_else(|| time_window(p.get("last"), now)),
        from: date("from"),
        to: date("to"),
        ids: p.get("eventid").and_then(Terms::parse),
        org: p
            .get("org")
            .and_then(Terms::parse)
            .map(|t| PatCond::compile(&t, str::to_string)),
        threat: p.get("threat_level_id").and_then(Terms::parse),
        info: p
            .get("eventinfo")
            .and_then(Terms::parse)
            .map(|t| PatCond::compile(&t, str::to_string)),
    }
}

/// The rows of one page.
#[derive(Debug, Default)]
pub struct Page {
    /// Positions in `Store::attrs` to return, in order.
    pub rows: Vec<usize>,
    /// Rows the "SQL" query returned for this page (before post-filtering).
    pub db_rows: usize,
    /// Rows dropped by post-filtering.
    pub skipped: usize,
}

fn order_cmp(store: &Store, key: OrderKey, a: &Attribute, b: &Attribute) -> std::cmp::Ordering {
    let ev = |x: &Attribute| store.events.get(x.event as usize);
    let o = match key {
        OrderKey::Id => a.id.cmp(&b.id),
        OrderKey::EventId => ev(a).map(|e| e.id).cmp(&ev(b).map(|e| e.id)),
        OrderKey::ObjectId => a.object_id.cmp(&b.object_id),
        OrderKey::Type => store.types.name(a.kind).cmp(store.types.name(b.kind)),
        OrderKey::Category => store
            .categories
            .name(a.category)
            .cmp(store.categories.name(b.category)),
        OrderKey::Value => a.value.cmp(&b.value),
        OrderKey::Distribution => a.distribution.cmp(&b.distribution),
        OrderKey::Timestamp => a.timestamp.cmp(&b.timestamp),
        OrderKey::ObjectRelation => {
            let r = |x: &Attribute| x.extra.as_ref().and_then(|e| e.object_relation.clone());
            r(a).cmp(&r(b))
        }
        OrderKey::EventPublishTimestamp => ev(a)
            .map(|e| e.publish_timestamp)
            .cmp(&ev(b).map(|e| e.publish_timestamp)),
    };
    o.then(a.id.cmp(&b.id))
}

/// Runs a compiled query: filter, order, page, post-filter.
pub fn run(store: &Store, q: &Query) -> Page {
    if q.none {
        return Page::default();
    }
    let (skip, take) = match q.paging {
        Some((limit, page)) => (limit.saturating_mul(page - 1), limit),
        None => (0, usize::MAX),
    };
    let mut db = Vec::new();
    match q.order {
        None | Some((OrderKey::Id, false)) => {
            let mut seen = 0usize;
            for (i, a) in store.attrs.iter().enumerate() {
                if q.matches(store, a) {
                    if seen >= skip {
                        db.push(i);
                        if db.len() >= take {
                            break;
                        }
                    }
                    seen += 1;
                }
            }
        }
        Some((OrderKey::Id, true)) => {
            let mut seen = 0usize;
            for (i, a) in store.attrs.iter().enumerate().rev() {
                if q.matches(store, a) {
                    if seen >= skip {
                        db.push(i);
                        if db.len() >= take {
                            break;
                        }
                    }
                    seen += 1;
                }
            }
        }
        Some((key, desc)) => {
            let mut all: Vec<usize> = (0..store.attrs.len())
                .filter(|&i| q.matches(store, &store.attrs[i]))
                .collect();
            all.sort_by(|&x, &y| {
                let o = order_cmp(store, key, &store.attrs[x], &store.attrs[y]);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            db = all.into_iter().skip(skip).take(take).collect();
        }
    }
    let db_rows = db.len();
    let rows: Vec<usize> = db
        .into_iter()
        .filter(|&i| q.post_ok(&store.attrs[i]))
        .collect();
    Page {
        skipped: db_rows - rows.len(),
        db_rows,
        rows,
    }
}

/// A compiled `/events/restSearch` request.
#[derive(Debug)]
pub struct EventQuery {
    cond: EventCond,
    tags: Option<TagCond>,
    none: bool,
    pub paging: Option<(usize, usize)>,
}

impl EventQuery {
    pub fn compile(p: &Map<String, Value>, store: &Store, now: i64) -> EventQuery {
        let mut cond = event_cond(p, now);
        // On /events/restSearch, `timestamp` is the event's.
        if cond.event_ts.is_none() {
            cond.event_ts = time_window(p.get("timestamp"), now);
        }
        let mut none = false;
        let tags = p.get("tags").and_then(Terms::parse).map(|t| {
            let or = (!t.or.is_empty()).then(|| tag_set(store, &t.or));
            if or.as_ref().is_some_and(|s| !s.contains(&true)) {
                none = true;
            }
            TagCond {
                or,
                not: tag_set(store, &t.not),
                and: t
                    .and
                    .iter()
                    .map(|a| tag_set(store, std::slice::from_ref(a)))
                    .collect(),
            }
        });
        EventQuery {
            cond,
            tags,
            none,
            paging: paging(p),
        }
    }

    /// Indexes of matching events, in id order, paged.
    pub fn run(&self, store: &Store) -> Vec<usize> {
        if self.none {
            return Vec::new();
        }
        let mut idx: Vec<usize> = (0..store.events.len())
            .filter(|&i| {
                let e = &store.events[i];
                self.cond.ok(store, e)
                    && self.tags.as_ref().is_none_or(|t| {
                        t.or.as_ref().is_none_or(|s| any_in(&e.tags, s))
                            && !any_in(&e.tags, &t.not)
                            && t.and.iter().all(|s| any_in(&e.tags, s))
                    })
            })
            .collect();
        idx.sort_by_key(|&i| store.events[i].id);
        match self.paging {
            Some((limit, page)) => idx
                .into_iter()
                .skip(limit.saturating_mul(page - 1))
                .take(limit)
                .collect(),
            None => idx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_syntaxes() {
        let t = Terms::parse(&json!("md5||sha1")).unwrap();
        assert_eq!(t.or, vec!["md5", "sha1"]);
        let t = Terms::parse(&json!("a&&b&&!c")).unwrap();
        assert_eq!(
            (t.and.clone(), t.not.clone()),
            (vec!["a".into(), "b".into()], vec!["c".to_string()])
        );
        let t = Terms::parse(&json!(["a", "!c"])).unwrap();
        assert_eq!(
            (t.or.clone(), t.not.clone()),
            (vec!["a".to_string()], vec!["c".to_string()])
        );
        let t = Terms::parse(&json!({"OR": ["x"], "NOT": "y"})).unwrap();
        assert_eq!(
            (t.or.clone(), t.not.clone()),
            (vec!["x".to_string()], vec!["y".to_string()])
        );
        assert!(Terms::parse(&json!("")).is_none());
        assert!(Terms::parse(&json!(null)).is_none());
    }

    #[test]
    fn like_patterns() {
        assert!(Pat::new("tlp:%").matches("TLP:Amber"));
        assert!(!Pat::new("tlp:%").matches("xtlp:amber"));
        assert!(Pat::new("%.example.com").matches("a.b.example.com"));
        assert!(Pat::new("%mid%").matches("amidb"));
        assert!(Pat::new("a_c%").matches("abcdef"));
        assert!(!Pat::new("tlp:amber").matches("tlp:amber2"));
        assert!(Pat::new("tlp:amber").matches("TLP:AMBER"));
    }

    #[test]
    fn tri_states() {
        assert_eq!(to_ids_tri(&json!("yes")), Tri::Only(true));
        assert_eq!(to_ids_tri(&json!("no")), Tri::Only(false));
        assert_eq!(to_ids_tri(&json!("exclude")), Tri::Only(false));
        assert_eq!(to_ids_tri(&json!([0, 1])), Tri::Any);
        assert_eq!(to_ids_tri(&json!(1)), Tri::Only(true));
        assert_eq!(deleted_tri(None), Tri::Only(false));
        assert_eq!(deleted_tri(Some(&json!(1))), Tri::Only(true));
        assert_eq!(deleted_tri(Some(&json!([0, 1]))), Tri::Any);
        assert_eq!(deleted_tri(Some(&json!(false))), Tri::Only(false));
        assert_eq!(published_tri(Some(&json!(true))), Tri::Only(true));
    }

    #[test]
    fn paging_rules() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(paging(&m(json!({"limit": 10}))), Some((10, 1)));
        assert_eq!(paging(&m(json!({"limit": "10", "page": 0}))), Some((10, 1)));
        assert_eq!(paging(&m(json!({"page": 3}))), None);
        assert_eq!(paging(&m(json!({"limit": 5, "page": "3"}))), Some((5, 3)));
    }
}
