//! Phone numbers read by libphonenumber once per raw text: imports see the same few numbers
//! again and again (every message of a caller), and a parse costs microseconds.

use std::cell::RefCell;
use std::collections::HashMap;

use super::PhoneProblem;

/// Most results one thread keeps; the cache is emptied when it is full (keys are
/// customer-supplied, so it must stay bounded whatever the input).
pub(super) const PHONE_CACHE_ENTRIES_MAX: usize = 1 << 14;

/// Longest raw text that is cached; longer ones (separators around at most 15 digits) are
/// parsed every time.
pub(super) const PHONE_CACHE_TEXT_BYTES_MAX: usize = 64;

/// One thread's results, all for one default region (another region empties it).
#[derive(Default)]
struct PhoneCache {
    region: Option<String>,
    /// Seeded at random (foldhash): the keys come from outside, so nobody can pick texts that
    /// all land in one bucket.
    results: HashMap<Box<str>, Result<String, PhoneProblem>, foldhash::fast::RandomState>,
}

thread_local! {
    static PHONE_CACHE: RefCell<PhoneCache> = RefCell::new(PhoneCache::default());
}

/// `parse(text)` under `region`, from the cache when this thread read `text` under `region`
/// before. `parse` must be a pure function of `(text, region)`.
pub(super) fn cached(
    text: &str,
    region: Option<&String>,
    parse: impl FnOnce() -> Result<String, PhoneProblem>,
) -> Result<String, PhoneProblem> {
    if text.len() > PHONE_CACHE_TEXT_BYTES_MAX {
        return parse();
    }
    let hit = PHONE_CACHE
        .with_borrow(|cache| (cache.region.as_ref() == region).then(|| cache.results.get(text).cloned()).flatten());
    if let Some(result) = hit {
        return result;
    }
    let result = parse();
    PHONE_CACHE.with_borrow_mut(|cache| {
        if cache.region.as_ref() != region {
            cache.region = region.cloned();
            cache.results.clear();
        }
        if cache.results.len() >= PHONE_CACHE_ENTRIES_MAX {
            cache.results.clear();
        }
        cache.results.insert(text.into(), result.clone());
    });
    result
}

/// Entries this thread's cache holds (tests).
#[cfg(test)]
pub(super) fn cached_entries() -> usize {
    PHONE_CACHE.with_borrow(|cache| cache.results.len())
}
