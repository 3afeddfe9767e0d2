//! Identity normalization: one person's address written two ways is one identity, and a
//! look-alike of someone else's is refused. Table-driven checks of each rule (e-mail, phones,
//! handles, look-alikes, control characters, placeholders), plus a proptest that normalizing is
//! idempotent and never panics.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn parse(kind: &str, value: &str) -> Result<Identity, Error> {
    Identity::parse(kind, value, &NormalizeOptions::default())
}

fn region(code: &str) -> NormalizeOptions {
    NormalizeOptions { default_region: Some(code.to_owned()) }
}

#[test]
fn email_is_trimmed_and_lower_cased() {
    assert_eq!(parse("email", "Kim@Example.com ").unwrap(), parse("email", "kim@example.com").unwrap());
    assert_eq!(parse("email", " KIM@EXAMPLE.COM").unwrap().value(), "kim@example.com");
    assert_eq!(parse("email", "\tkim@example.com\r\n").unwrap().value(), "kim@example.com");
    for bad in ["kim", "@example.com", "kim@", "a@b@c", "k im@example.com"] {
        assert!(matches!(parse("email", bad), Err(Error::InvalidIdentity { .. })), "{bad:?} accepted");
    }
}

#[test]
fn phones_become_e164_digits() {
    let korea = region("KR");
    let national = Identity::parse("phone", "010-1234-5678", &korea).unwrap();
    let international = Identity::parse("phone", "+82 10 1234 5678", &korea).unwrap();
    let double_zero = Identity::parse("phone", "0082 (10) 1234.5678", &korea).unwrap();
    assert_eq!(national.value(), "+821012345678");
    assert_eq!(national, international);
    assert_eq!(national, double_zero);
    assert_eq!(parse("phone", "+1 (415) 555-0100").unwrap().value(), "+14155550100");
    assert_eq!(Identity::parse("phone", "(415) 555-0100", &region("us")).unwrap().value(), "+14155550100");
    for bad in ["12ab34", "+1 555", "0123456789", "+1234567890123456", "ext. 12"] {
        assert!(matches!(parse("phone", bad), Err(Error::InvalidPhone { .. })), "{bad:?} accepted");
    }
}

/// `(value, options, expected)`: `Ok(stored E.164 form)` or the problem.
fn check_phone(value: &str, options: &NormalizeOptions, expected: Result<&str, PhoneProblem>) {
    let actual = Identity::parse("phone", value, options);
    match expected {
        Ok(digits) => assert_eq!(actual.as_ref().map(Identity::value), Ok(digits), "{value:?} with {options:?}"),
        Err(reason) => {
            assert_eq!(
                actual,
                Err(Error::InvalidPhone { value: value.to_owned(), reason }),
                "{value:?} with {options:?}"
            )
        }
    }
}

#[test]
fn national_numbers_need_a_default_region() {
    // Before libphonenumber, `555-123-4567` was read as `+55 51 2345 67` (Brazil).
    check_phone("555-123-4567", &NormalizeOptions::default(), Err(PhoneProblem::NoInternationalPrefix));
    check_phone("010-1234-5678", &NormalizeOptions::default(), Err(PhoneProblem::NoInternationalPrefix));
    check_phone(
        "+55 51 2345 67",
        &NormalizeOptions::default(),
        Err(PhoneProblem::NotValid { country_code: 55, e164: "+5551234567".to_owned() }),
    );
    check_phone("212-555-0123", &region("US"), Ok("+12125550123"));
    check_phone("02-312-3456", &region("KR"), Ok("+8223123456"));
    check_phone("010-1234-5678", &region("XX"), Err(PhoneProblem::UnknownRegion("XX".to_owned())));
}

#[test]
fn dates_and_impossible_numbers_are_not_phones() {
    for options in [NormalizeOptions::default(), region("US"), region("KR"), region("DE")] {
        let actual = Identity::parse("phone", "12.12.1990", &options);
        assert!(matches!(actual, Err(Error::InvalidPhone { .. })), "date accepted with {options:?}: {actual:?}");
    }
    let zeros = Identity::parse("phone", "+1 000 000 0000", &NormalizeOptions::default());
    assert!(matches!(zeros, Err(Error::InvalidPhone { .. })), "{zeros:?}");
    check_phone(
        "+82 10",
        &NormalizeOptions::default(),
        Err(PhoneProblem::NotValid { country_code: 82, e164: "+8210".to_owned() }),
    );
    let no_such_country = Identity::parse("phone", "+999 1234 5678", &NormalizeOptions::default());
    assert!(
        matches!(&no_such_country, Err(Error::InvalidPhone { reason: PhoneProblem::Unreadable(_), .. })),
        "{no_such_country:?}"
    );
    check_phone("+1234567890123456", &NormalizeOptions::default(), Err(PhoneProblem::TooManyDigits(16)));
    check_phone(&"1".repeat(300), &region("US"), Err(PhoneProblem::TooManyDigits(300)));
    check_phone("+1 415 555 0100 x12", &NormalizeOptions::default(), Err(PhoneProblem::UnexpectedCharacter('x')));
}

#[test]
fn handles_and_external_ids() {
    assert_eq!(parse("twitter", "@KimSupport").unwrap().value(), "kimsupport");
    assert_eq!(parse("external:cdnow", "00012").unwrap().to_string(), "external:cdnow:00012");
    assert_eq!(parse("kakao", " kim_1 ").unwrap().value(), "kim_1");
    assert!(parse("external:cdnow", "00012").unwrap().kind().is_external());
}

#[test]
fn empty_and_unknown_are_errors() {
    assert!(matches!(parse("email", "   "), Err(Error::EmptyIdentity { .. })));
    assert!(matches!(parse("twitter", "@"), Err(Error::EmptyIdentity { .. })));
    assert!(matches!(parse("fax", "123"), Err(Error::UnknownIdentityKind(_))));
    assert!(matches!(parse("external:", "1"), Err(Error::UnknownIdentityKind(_))));
    assert!(matches!(parse("external:a b", "1"), Err(Error::UnknownIdentityKind(_))));
}

#[test]
fn pair_form_round_trips() {
    let options = NormalizeOptions::default();
    for text in [
        "email:kim@example.com",
        "phone:+14155550100",
        "external:cdnow:00012",
        "kakaotalk:kim_1",
        "whatsapp:+821012345678",
        "x:kim",
    ] {
        assert_eq!(Identity::parse_pair(text, &options).unwrap().to_string(), text);
    }
    assert!(Identity::parse_pair("nokind", &options).is_err());
}

#[test]
fn serde_round_trip() {
    let identity = parse("phone", "+82 10 1234 5678").unwrap();
    let json = serde_json::to_string(&identity).unwrap();
    assert_eq!(json, r#"{"kind":"phone","value":"+821012345678"}"#);
    assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), identity);
    // Logs written before phones kept their `+` read as the same identity.
    let legacy = serde_json::from_str::<Identity>(r#"{"kind":"phone","value":"821012345678"}"#).unwrap();
    assert_eq!(legacy, identity);
}

/// What a look-alike check should give.
#[derive(Debug)]
enum Expect {
    /// Accepted, with this normalized value.
    Same(&'static str),
    /// Refused as a look-alike.
    Confusable,
    /// Refused for a control character.
    Control,
}

#[test]
fn look_alikes() {
    use Expect::{Confusable, Control, Same};
    let table: &[(&str, &str, Expect)] = &[
        ("email", "kim@example.com", Same("kim@example.com")),
        // Cyrillic а (U+0430) in a Latin domain.
        ("email", "kim@ex\u{430}mple.com", Confusable),
        // Greek ο (U+03BF) in a Latin local part.
        ("email", "k\u{3bf}m@example.com", Confusable),
        // Latin + Han + Hiragana: Japanese users need it.
        ("email", "kim@例え.jp", Same("kim@例え.jp")),
        ("email", "KIM@例え.jp", Same("kim@例え.jp")),
        // One script other than Latin.
        ("email", "иван@почта.рф", Same("иван@почта.рф")),
        // Latin + Hangul handle.
        ("twitter", "@kim_김민수", Same("kim_김민수")),
        ("instagram", "민수.kim", Same("민수.kim")),
        // Latin + one other recommended script (Thai) is Moderately Restrictive.
        ("twitter", "kimสมชาย", Same("kimสมชาย")),
        // Latin + Cyrillic + Greek.
        ("twitter", "k\u{456}m\u{3bf}", Confusable),
        // U+212A KELVIN SIGN: lower-cased it would be `kim@example.com`.
        ("email", "\u{212a}im@example.com", Confusable),
        // Full-width ｋｉｍ: NFKC would be `kim`.
        ("email", "\u{ff4b}\u{ff49}\u{ff4d}@example.com", Confusable),
        ("twitter", "\u{ff4b}\u{ff49}\u{ff4d}", Confusable),
        // Full-width @ and a no-break space.
        ("email", "kim\u{ff20}example.com", Confusable),
        ("email", "kim\u{a0}@example.com", Confusable),
        // Half-width katakana fold to ordinary katakana (nothing ASCII is imitated).
        ("email", "ｷﾑ@example.jp", Same("キム@example.jp")),
        // Decomposed é is the same address as the precomposed one.
        ("email", "re\u{301}my@example.fr", Same("r\u{e9}my@example.fr")),
        // Zero-width joiner / space / BOM / word joiner: no invisible twin of an address.
        ("email", "ki\u{200d}m@example.com", Confusable),
        ("email", "ki\u{200b}m@example.com", Confusable),
        ("email", "\u{feff}kim@example.com", Confusable),
        ("twitter", "kim\u{2060}", Confusable),
        // Emoji are outside the identifier profile.
        ("twitter", "kim\u{1f600}", Confusable),
        // Control characters and bidi overrides, in every kind.
        ("kakao", "kim\u{1b}[2J", Control),
        ("kakao", "kim\u{202e}moc", Control),
        ("email", "kim\u{2066}@example.com", Control),
        ("external:shop", "7\u{85}8", Control),
        ("kakao", "kim\u{7f}", Control),
    ];
    for (kind, value, expected) in table {
        let actual = parse(kind, value);
        let ok = match (expected, &actual) {
            (Same(normalized), Ok(identity)) => identity.value() == *normalized,
            (Confusable, Err(Error::ConfusableIdentity { value: v, .. })) => v == value,
            (Control, Err(Error::ControlCharacter { value: v, .. })) => v == value,
            _ => false,
        };
        assert!(ok, "{kind}:{value:?}: expected {expected:?}, got {actual:?}");
    }
}

#[test]
fn look_alike_reasons_name_the_character() {
    let kelvin = parse("email", "\u{212a}im@example.com");
    assert_eq!(
        kelvin,
        Err(Error::ConfusableIdentity {
            kind: "email".to_owned(),
            value: "\u{212a}im@example.com".to_owned(),
            reason: ConfusableReason::CompatibilityCharacter { character: '\u{212a}', ascii: "K".to_owned() },
        })
    );
    let cyrillic = parse("email", "kim@ex\u{430}mple.com");
    assert!(
        matches!(&cyrillic, Err(Error::ConfusableIdentity { reason: ConfusableReason::MixedScripts(s), .. })
            if s == "Cyrillic + Latin"),
        "{cyrillic:?}"
    );
}

#[test]
fn errors_never_print_control_characters_raw() {
    for value in ["kakao:kim\u{1b}[2J", "kakao:a\u{202e}b", "email:k\u{200d}im@x.io", "phone:+1\u{7}555"] {
        let message = Identity::parse_pair(value, &NormalizeOptions::default()).unwrap_err().to_string();
        assert!(
            !message.chars().any(|c| c.is_control() || characters::is_format(c)),
            "raw control or format character in {message:?}"
        );
    }
    let message = check_no_control_chars("ticket id", "T-1\u{1b}[2J").unwrap_err().to_string();
    assert_eq!(message, r#"ticket id "T-1\u{1b}[2J" contains the control character '\u{1b}' (U+001B)"#);
    assert_eq!(check_no_control_chars("ticket id", "T-1 김"), Ok(()));
}

#[test]
fn placeholders_are_blocked() {
    let options = NormalizeOptions::default();
    let none = BTreeSet::new();
    for pair in [
        "email:test@test.com",
        "email:Test@Test.com",
        "email:noemail@shop.kr",
        "email:none@example.com",
        "email:0000@example.com",
        "email:xxx@example.com",
        "chat:unknown",
        "kakao:Unknown",
        "kakao:N/A",
        "kakao:unkn\u{200b}own",
        "external:shop:0000",
        "chat:--",
    ] {
        let identity = Identity::parse_pair(pair, &options).unwrap();
        assert!(identity.is_placeholder(), "{pair:?} is not a placeholder");
        assert!(identity.is_blocked(&none), "{pair:?} is not blocked");
    }
    // Placeholder phones are not valid numbers: refused outright, so they never link either.
    for value in ["+1 000 000 0000", "000-000-0000", "1111111111", "+82 000 0000 0000"] {
        let actual = Identity::parse("phone", value, &region("US"));
        assert!(matches!(actual, Err(Error::InvalidPhone { .. })), "{value:?}: {actual:?}");
    }
    // Stored values from before libphonenumber are still caught by the pattern.
    for digits in ["10000000000", "1111111111", "821011111111", "12345678901", "000000000"] {
        let identity = Identity { kind: IdentityKind::Phone, value: digits.to_owned(), form: super::Form::Plain };
        assert!(identity.is_placeholder(), "phone {digits} is not a placeholder");
    }
    for real in
        ["email:kim@example.com", "email:k@kim.io", "phone:+82 10 1234 5678", "phone:+1 415 555 0100", "kakao:kim_1"]
    {
        let identity = Identity::parse_pair(real, &options).unwrap();
        assert!(!identity.is_blocked(&none), "{real:?} is blocked");
    }
    let extra: BTreeSet<String> = ["kim_1".to_owned()].into();
    assert!(Identity::parse_pair("kakao:kim_1", &options).unwrap().is_blocked(&extra));
    assert!(Identity::parse_pair("kakao:KIM_1", &options).unwrap().is_blocked(&extra), "compared lower-case");
}

#[test]
fn zero_width_characters_do_not_evade_the_block_list() {
    let options = NormalizeOptions::default();
    // E-mail: refused outright, so there is no identity that differs from the blocked one.
    for value in ["te\u{200d}st@test.com", "test@test\u{200c}.com", "\u{feff}test@test.com"] {
        let actual = Identity::parse("email", value, &options);
        assert!(matches!(actual, Err(Error::ConfusableIdentity { .. })), "{value:?}: {actual:?}");
    }
    // Opaque ids keep the character but the block list does not see it.
    for value in ["unk\u{200d}nown", "n\u{2060}/a", "\u{feff}none", "nu\u{ad}ll"] {
        let identity = Identity::parse("chat", value, &options).unwrap();
        assert!(identity.is_blocked(&BTreeSet::new()), "chat:{value:?} evades the block list");
    }
}

fn all_kinds() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["email", "phone", "kakao", "twitter", "instagram", "chat", "external:shop"])
}

/// Strings that hit the rules: ASCII, look-alikes, format and control characters, CJK, digits.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "kim", "K", "@", ".", "+", "-", " ", "0", "00", "82", "1", "555", "\u{212a}", "\u{ff4b}", "\u{430}", "例え",
        "김", "\u{200d}", "\u{feff}", "\u{1b}", "\u{202e}", "e\u{301}", "İ", "ß", "ﬁ", "\u{a0}", "ｷ", "Σ",
    ]);
    prop_oneof![prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat()), any::<String>(), "[ -~]{0,24}"]
}

proptest! {
    #[test]
    fn normalizing_is_idempotent_and_never_panics(kind in all_kinds(), value in tricky_string()) {
        for options in [NormalizeOptions::default(), region("KR")] {
            if let Ok(first) = Identity::parse(kind, &value, &options) {
                let again = Identity::parse(kind, first.value(), &options);
                prop_assert_eq!(again.as_ref(), Ok(&first), "{}:{:?} normalizes to {:?}, which does not", kind, value, first.value());
                prop_assert!(Identity::is_normalized(first.kind(), first.value()), "{:?} is not of normalized shape", first);
                let _ = first.is_blocked(&BTreeSet::new());
            }
        }
    }
}

#[test]
fn messenger_kinds_have_one_name_each_and_the_old_names_are_aliases() {
    for (name, kind) in [
        ("kakaotalk", IdentityKind::KakaoTalk),
        ("whatsapp", IdentityKind::WhatsApp),
        ("line", IdentityKind::Line),
        ("telegram", IdentityKind::Telegram),
        ("instagram", IdentityKind::Instagram),
        ("messenger", IdentityKind::Messenger),
        ("web_widget", IdentityKind::WebWidget),
        ("x", IdentityKind::X),
    ] {
        assert_eq!(IdentityKind::parse(name).unwrap(), kind);
        assert_eq!(kind.name(), name);
    }
    // The first release's names read as the new kinds (stored events upcast by this parse)...
    assert_eq!(parse("kakao", "kim_1").unwrap(), parse("kakaotalk", "kim_1").unwrap());
    assert_eq!(parse("twitter", "@Kim").unwrap(), parse("x", "kim").unwrap());
    assert_eq!(parse("kakao", "kim_1").unwrap().to_string(), "kakaotalk:kim_1");
    // ...and the keyed hash keeps the old name, so pseudonyms already in a log still match.
    assert_eq!(IdentityKind::KakaoTalk.hash_name(), "kakao");
    assert_eq!(IdentityKind::X.hash_name(), "twitter");
    assert_eq!(IdentityKind::WhatsApp.hash_name(), "whatsapp");
    let stored: Identity = postcard::from_bytes(&postcard::to_allocvec(&("kakao", "kim_1")).unwrap()).unwrap();
    assert_eq!(stored.kind(), &IdentityKind::KakaoTalk);
}

#[test]
fn whatsapp_ids_are_international_numbers_and_handles_fold_like_x() {
    assert_eq!(parse("whatsapp", "+82 10-1234-5678").unwrap().value(), "+821012345678");
    assert_eq!(parse("whatsapp", "821012345678").unwrap().value(), "+821012345678");
    for bad in ["12345", "+82 10 abc", "1234567890123456"] {
        assert!(matches!(parse("whatsapp", bad), Err(Error::InvalidIdentity { .. })), "{bad:?} was accepted");
    }
    assert_eq!(parse("telegram", "@Kim_Lee").unwrap().value(), "kim_lee");
    assert_eq!(parse("messenger", " 6123456789 ").unwrap().value(), "6123456789");
    assert_eq!(parse("web_widget", "c0ffee").unwrap().value(), "c0ffee");
}

/// The phone cache answers as libphonenumber does, per default region, and stays bounded.
#[test]
fn cached_phone_results_equal_uncached_ones_per_region_and_the_cache_is_bounded() {
    let korea = region("KR");
    let us = region("US");
    for _ in 0..3 {
        for (text, options) in [("010-1234-5678", &korea), ("010-1234-5678", &us), ("(415) 555-0100", &us)] {
            assert_eq!(normalize_phone(text, options), parse_phone(text, options), "{text:?} in {options:?}");
        }
        // Refusals are cached as refusals.
        assert_eq!(normalize_phone("12", &korea), parse_phone("12", &korea));
    }
    for n in 0..phone_cache::PHONE_CACHE_ENTRIES_MAX + 10 {
        let text = format!("+82 10 {:04} {:04}", n / 10_000, n % 10_000);
        let _ = normalize_phone(&text, &korea);
        assert!(phone_cache::cached_entries() <= phone_cache::PHONE_CACHE_ENTRIES_MAX, "after {n} texts");
    }
    let long = format!("+82 10 1234 5678{}", " ".repeat(phone_cache::PHONE_CACHE_TEXT_BYTES_MAX));
    assert_eq!(normalize_phone(&long, &korea), parse_phone(&long, &korea), "long texts are parsed, not cached");
}
