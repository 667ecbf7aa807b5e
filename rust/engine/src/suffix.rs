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

/// The parent names of a normalised domain that may carry an indicator,
/// nearest first; the name itself is not included.
pub fn parents(name: &str) -> impl Iterator<Item = &str> {
    let suffix_len = psl::suffix(name.as_bytes()).map_or(name.len(), |s| s.as_bytes().len());
    name.char_indices()
        .filter(|(_, c)| *c == '.')
        .map(move |(i, _)| &name[i + 1..])
        .take_while(move |parent| parent.len() > suffix_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Vec<&str> {
        parents(name).collect()
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
}
