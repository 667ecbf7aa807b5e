//! Parent names for suffix matching of domains.
//!
//! With `domain_match: suffix`, `a.b.evil.example` is also looked up as
//! `b.evil.example` and `evil.example`: on label boundaries only (so
//! `il.example` never matches `evil.example`), and never as a public suffix
//! (`com`, `co.uk`, `github.io`): an indicator on a public suffix would flag a
//! whole top-level domain.
//!
//! The public suffixes come from the `psl` crate: Mozilla's list compiled
//! into code (no file to ship or load at run time, no I/O, no allocation per
//! lookup), republished whenever the list changes. Names the list does not
//! know fall under its default rule: their last label is the suffix.

/// At most this many parent names of one value are looked up: the
/// registrable domain and the names up to 7 labels below it. A name deeper
/// than that (a crafted `a.a.a....evil.example` of 125 labels) still has its
/// registrable domain and nearest-to-it parents checked, so prefixing labels
/// cannot hide an indicator; it only stops costing 125 lookups per value.
pub const MAX_PARENTS: usize = 8;

/// The parent names of a normalised domain that may carry an indicator,
/// nearest first, never above the registrable domain (the public suffix
/// plus one label) and at most [`MAX_PARENTS`], the ones nearest the
/// registrable domain; the name itself is not included. The second value
/// is how many parents were left out by the cap.
pub fn parents(name: &str) -> (impl Iterator<Item = &str>, usize) {
    let suffix_len = psl::suffix(name.as_bytes()).map_or(name.len(), |s| s.as_bytes().len());
    let all = || {
        name.char_indices()
            .filter(|(_, c)| *c == '.')
            .map(move |(i, _)| &name[i + 1..])
            .take_while(move |parent| parent.len() > suffix_len)
    };
    let skip = all().count().saturating_sub(MAX_PARENTS);
    (all().skip(skip), skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Vec<&str> {
        parents(name).0.collect()
    }

    #[test]
    fn stops_above_the_public_suffix() {
        assert_eq!(
            p("a.b.evil.example"),
            vec!["b.evil.example", "evil.example"]
        );
        assert_eq!(p("x.evil.co.uk"), vec!["evil.co.uk"]);
        assert_eq!(p("evil.co.uk"), Vec::<&str>::new());
        assert_eq!(p("a.evil.com"), vec!["evil.com"]);
        assert_eq!(p("co.uk"), Vec::<&str>::new());
        assert_eq!(p("com"), Vec::<&str>::new());
        // A private-section suffix: `github.io` is never checked.
        assert_eq!(p("a.user.github.io"), vec!["user.github.io"]);
        assert_eq!(p("xn--bcher-kva.example"), Vec::<&str>::new());
    }

    #[test]
    fn deep_names_keep_the_parents_nearest_the_registrable_domain() {
        let deep = format!("{}evil.example", "a.".repeat(120));
        let (kept, left_out) = parents(&deep);
        let kept: Vec<&str> = kept.collect();
        assert_eq!(kept.len(), MAX_PARENTS);
        assert_eq!(left_out, 120 - MAX_PARENTS);
        assert_eq!(kept.last(), Some(&"evil.example"));
        assert_eq!(kept[0], format!("{}evil.example", "a.".repeat(7)));
    }
}
