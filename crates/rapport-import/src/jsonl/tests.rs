//! Line parsing and formatting of the JSONL interchange: each kind of bad line gives its reason,
//! ids come from `id` or the line's content, bounded line reads, times round-trip to the
//! microsecond, and the line form of `ticket.opened` keeps the envelope's `type` apart.

use rapport::events::{Channel, Status};

use super::*;

fn test_ids() -> Ids {
    Ids::new(rapport::IdKey::from_bytes([1; 32]))
}

fn parse(text: &str) -> std::result::Result<ParsedLine, String> {
    parse_line(&test_ids(), text, &NormalizeOptions::default()).map_err(|fault| fault.to_string())
}

/// Asserts that `text` is refused with a reason containing `expected`.
fn check_bad(text: &str, expected: &str) {
    match parse(text) {
        Ok(parsed) => panic!("{text:?} was accepted as {parsed:?}"),
        Err(reason) => assert!(reason.contains(expected), "{text:?}: {reason:?} does not say {expected:?}"),
    }
}

const AT: &str = r#""at":"2024-05-01T09:30:00Z""#;

#[test]
fn each_kind_of_bad_line_names_its_reason() {
    check_bad("{", "not JSON");
    check_bad("[1,2]", "not a JSON object");
    check_bad("\"ticket.opened\"", "not a JSON object");
    check_bad(&format!(r#"{{{AT},"ticket_id":"T-1","status":"open"}}"#), "field \"type\": missing");
    check_bad(&format!(r#"{{"type":7,{AT}}}"#), "field \"type\": not a string");
    check_bad(&format!(r#"{{"type":"ticket.deleted",{AT}}}"#), "unknown event type \"ticket.deleted\"");
    check_bad(r#"{"type":"ticket.status_changed","ticket_id":"T-1","status":"open"}"#, "field \"at\": missing");
    check_bad(
        r#"{"type":"ticket.status_changed","at":1714555800,"ticket_id":"T-1","status":"open"}"#,
        "field \"at\": not a string",
    );
    check_bad(
        r#"{"type":"ticket.status_changed","at":"2024-05-01 09:30","ticket_id":"T-1","status":"open"}"#,
        "field \"at\": not an RFC 3339 time",
    );
    check_bad(
        r#"{"type":"ticket.status_changed","at":"2024-05-01T09:30:00","ticket_id":"T-1","status":"open"}"#,
        "field \"at\": not an RFC 3339 time",
    );
    check_bad(
        &format!(r#"{{"type":"ticket.status_changed",{AT},"id":12,"ticket_id":"T-1","status":"open"}}"#),
        "field \"id\": not a string",
    );
    check_bad(
        &format!(r#"{{"type":"ticket.status_changed",{AT},"id":null,"ticket_id":"T-1","status":"open"}}"#),
        "field \"id\": not a string",
    );
    check_bad(
        &format!(r#"{{"type":"ticket.status_changed",{AT},"id":"","ticket_id":"T-1","status":"open"}}"#),
        "field \"id\": empty",
    );
    let long_id = "x".repeat(ID_BYTES_MAX + 1);
    check_bad(
        &format!(r#"{{"type":"ticket.status_changed",{AT},"id":"{long_id}","ticket_id":"T-1","status":"open"}}"#),
        "over the limit of 200",
    );
    // Field errors carry the events crate's text.
    check_bad(&format!(r#"{{"type":"ticket.status_changed",{AT},"ticket_id":"T-1","status":"asleep"}}"#), "asleep");
    check_bad(&format!(r#"{{"type":"ticket.status_changed",{AT},"status":"open"}}"#), "missing field `ticket_id`");
    check_bad(
        &format!(r#"{{"type":"ticket.status_changed",{AT},"ticket_id":"T-1","status":"Open"}}"#),
        "unknown variant `Open`",
    );
    check_bad(&format!(r#"{{"type":"ticket.tagged",{AT},"ticket_id":"T-1","add":null}}"#), "invalid type: null");
    check_bad(
        &format!(
            r#"{{"type":"customer.order_placed",{AT},"identity":"fax:1","order_id":"o","amount":1,"currency":"USD"}}"#
        ),
        "unknown identity kind",
    );
    check_bad(
        &format!(
            r#"{{"type":"customer.order_placed",{AT},"identity":"email:kim@x.io","order_id":"o","amount":1,"currency":"usd"}}"#
        ),
        "currency",
    );
    check_bad(
        &format!(r#"{{"type":"customer.rated",{AT},"identity":"email:kim@x.io","survey":"csat","score":9}}"#),
        "score",
    );
    check_bad(
        &format!(r#"{{"type":"ticket.assigned",{AT},"ticket_id":"T-1","assigne":"Minji"}}"#),
        "field \"assigne\": unknown field",
    );
    check_bad(
        &format!(
            r#"{{"type":"ticket.opened",{AT},"ticket_id":"T-1","requester":"email:kim@x.io","channel":"email","type":"incident"}}"#
        ),
        "unknown event type \"incident\"",
    );
}

#[test]
fn derived_types_are_refused_with_the_reason() {
    let derived_types = rapport::events::EVENT_TYPES.iter().filter(|info| !info.is_input()).map(|info| info.name());
    for derived in derived_types {
        let text = format!(r#"{{"type":"{derived}",{AT}}}"#);
        check_bad(&text, &format!("{derived} is derived by the store and cannot be imported"));
    }
}

#[test]
fn identities_normalize_in_both_forms() {
    let pair =
        parse(&format!(r#"{{"type":"customer.identified",{AT},"identities":["email: Kim@X.io ","kakao:kim_1"]}}"#))
            .unwrap();
    let object =
        parse(&format!(r#"{{"type":"customer.identified",{AT},"identities":[{{"kind":"email","value":"KIM@x.io"}},{{"kind":"kakao","value":"kim_1"}}]}}"#))
            .unwrap();
    assert_eq!(pair.event, object.event);
    let CxEvent::CustomerIdentified(identified) = pair.event else { panic!("{:?}", pair.event) };
    assert_eq!(identified.identities[0].to_string(), "email:kim@x.io");
    // Channel names and identity kinds are read in any case.
    let sent =
        parse(&format!(r#"{{"type":"message.received",{AT},"channel":"KakaoTalk","from":"EMAIL:kim@x.io"}}"#)).unwrap();
    let CxEvent::MessageReceived(message) = sent.event else { panic!("{:?}", sent.event) };
    assert_eq!((message.channel, message.from.to_string()), (Channel::KakaoTalk, "email:kim@x.io".to_owned()));
}

#[test]
fn ticket_type_has_its_own_key() {
    let text = format!(
        r#"{{"type":"ticket.opened",{AT},"ticket_id":"T-1","requester":"email:kim@x.io","channel":"email","ticket_type":"incident"}}"#
    );
    let parsed = parse(&text).unwrap();
    let CxEvent::TicketOpened(opened) = &parsed.event else { panic!("{:?}", parsed.event) };
    assert_eq!(opened.ticket_type, Some(rapport::events::TicketType::Incident));
    let line = line_of(&parsed.event, parsed.at, EventId::from_u128(1)).unwrap();
    assert!(
        line.starts_with(
            r#"{"type":"ticket.opened","at":"2024-05-01T09:30:00Z","id":"00000000000000000000000000000001","#
        ),
        "{line}"
    );
    assert!(line.contains(r#""ticket_type":"incident""#), "{line}");
    assert!(!line.contains("null"), "nulls are left out: {line}");
    let again = parse(&line).unwrap();
    assert_eq!(again.event, parsed.event);
    assert_eq!(again.id, LineId::Given(EventId::from_u128(1)));
}

#[test]
fn ids_come_from_the_id_field_or_the_content() {
    let with_id =
        parse(&format!(r#"{{"type":"ticket.status_changed",{AT},"id":"ev-1","ticket_id":"T-1","status":"open"}}"#))
            .unwrap();
    assert_eq!(with_id.id, LineId::Given(test_ids().user_id("ev-1")));
    let a = parse(&format!(r#"{{"type":"ticket.status_changed",{AT},"ticket_id":"T-1","status":"open"}}"#)).unwrap();
    // The same object written with other spacing and key order: the same content id.
    let b = parse(&format!(r#"{{ "status" : "open", "ticket_id":"T-1",  {AT}, "type":"ticket.status_changed" }}"#))
        .unwrap();
    let c = parse(&format!(r#"{{"type":"ticket.status_changed",{AT},"ticket_id":"T-1","status":"solved"}}"#)).unwrap();
    assert!(matches!(a.id, LineId::Content(_)), "{:?}", a.id);
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, c.id);
    assert_eq!(
        a.event,
        CxEvent::TicketStatusChanged(rapport::events::TicketStatusChanged {
            ticket_id: TicketId::new("T-1").unwrap(),
            status: Status::Open
        })
    );
}

#[test]
fn times_round_trip_to_the_microsecond() {
    for micros in [0, 1, 1_714_555_800_000_000, 1_714_555_800_123_000, 1_714_555_800_123_456, -1_000_001] {
        let text = format_time(Timestamp(micros)).unwrap();
        assert_eq!(parse_time(&text), Ok(Timestamp(micros)), "{text}");
    }
    assert_eq!(format_time(Timestamp(0)).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(parse_time("2024-05-01T11:30:00+02:00"), parse_time("2024-05-01T09:30:00Z"));
    assert_eq!(parse_time("1970-01-01T00:00:00.0000019Z"), Ok(Timestamp(1)), "finer fractions truncate");
    assert!(format_time(Timestamp(i64::MAX)).is_err());
}

#[test]
fn addressed_metadata_restores_the_submitted_ticket() {
    let routed = CxEvent::MessageReceived(rapport::events::MessageReceived {
        channel: Channel::Email,
        from: rapport::events::Identity::parse_pair("email:kim@x.io", &NormalizeOptions::default()).unwrap(),
        ticket_id: Some(TicketId::new("t-abc").unwrap()),
        topic: None,
        subject: None,
        body: None,
    });
    let CxEvent::MessageReceived(message) = rapport::as_submitted(routed.clone(), "").unwrap() else { panic!() };
    assert_eq!(message.ticket_id, None, "routed by the store: submitted without a ticket");
    let CxEvent::MessageReceived(message) = rapport::as_submitted(routed, "T-1").unwrap() else { panic!() };
    assert_eq!(message.ticket_id, Some(TicketId::new("T-1").unwrap()), "sent to a closed ticket");
    let update = CxEvent::TicketStatusChanged(rapport::events::TicketStatusChanged {
        ticket_id: TicketId::new("T-1-f1").unwrap(),
        status: Status::Solved,
    });
    let CxEvent::TicketStatusChanged(change) = rapport::as_submitted(update, "T-1").unwrap() else { panic!() };
    assert_eq!(change.ticket_id.as_str(), "T-1");
}

/// Any JSON value, biased towards what the event fields hold.
fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "open",
            "closed",
            "new",
            "email",
            "kakaotalk",
            "other:x",
            "email:kim@x.io",
            "phone:+82 10 1234 5678",
            "external:shop:7",
            "csat",
            "urgent",
            "T-1",
            "USD",
            "29.33",
            "",
            " ",
            "C1",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["kind", "value", "a"]), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// One valid line per importable type, for the property below to start from.
const VALID: [&str; 15] = [
    r#"{"type":"customer.identified","at":"2024-05-01T09:00:00Z","identities":["email:kim@x.io"],"traits":{"a":"b"}}"#,
    r#"{"type":"customer.order_placed","at":"2024-05-01T09:00:00Z","identity":"email:kim@x.io","order_id":"O","amount":1.5,"currency":"USD"}"#,
    r#"{"type":"customer.rated","at":"2024-05-01T09:00:00Z","identity":"kakao:k","survey":"nps","score":3,"ticket_id":"T-1"}"#,
    r#"{"type":"customer.split","at":"2024-05-01T09:00:00Z","customer":1,"identities":["kakao:k"]}"#,
    r#"{"type":"message.received","at":"2024-05-01T09:00:00Z","channel":"email","from":"email:kim@x.io","body":"hi"}"#,
    r#"{"type":"message.sent","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","channel":"sms","agent":"A","public":false}"#,
    r#"{"type":"ticket.opened","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","requester":"phone:+14155550100","channel":"phone","ticket_type":"task","tags":["x"]}"#,
    r#"{"type":"ticket.status_changed","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","status":"hold"}"#,
    r#"{"type":"ticket.assigned","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","group":"g"}"#,
    r#"{"type":"ticket.tagged","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","add":["a"],"remove":["b"]}"#,
    r#"{"type":"ticket.priority_changed","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","priority":"low"}"#,
    r#"{"type":"ticket.merged","at":"2024-05-01T09:00:00Z","source":"T-2","target":"T-1"}"#,
    r#"{"type":"ticket.labeled","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","inquiry_type":"refund"}"#,
    r#"{"type":"ticket.flagged","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","flag":"repeat_inquiry"}"#,
    r#"{"type":"ticket.updated","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","status":"solved","activity":"x"}"#,
];

proptest::proptest! {
    #[test]
    fn no_text_makes_parsing_panic(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    /// Valid lines with fields removed or replaced by arbitrary JSON: parsing never panics, and
    /// whatever parses formats to a line that parses back to the same event and time.
    #[test]
    fn mutated_lines_never_panic_and_what_parses_round_trips(
        base in 0..VALID.len(),
        changes in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "type", "at", "id", "ticket_id", "status", "identity", "from", "requester", "channel", "amount",
                    "score", "identities", "customer", "tags", "add", "remove", "survey", "currency", "order_id",
                    "public", "agent", "flag", "source", "target", "traits", "ticket_type", "group", "body",
                    "follow_up_of", "priority",
                ]),
                proptest::option::of(json_value()),
            ),
            0..3,
        ),
    ) {
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(VALID[base]) else {
            panic!("VALID[{base}] is not an object")
        };
        for (key, value) in changes {
            match value {
                Some(value) => object.insert(key.to_owned(), value),
                None => object.remove(key),
            };
        }
        let text = Value::Object(object).to_string();
        if let Ok(parsed) = parse(&text) {
            let line = line_of(&parsed.event, parsed.at, EventId::from_u128(7)).unwrap();
            let again = parse(&line).unwrap();
            proptest::prop_assert_eq!(again.event, parsed.event, "{} -> {}", text, line);
            proptest::prop_assert_eq!(again.at, parsed.at);
        }
    }
}

#[test]
fn the_valid_lines_of_the_property_are_valid() {
    for text in VALID {
        assert!(parse(text).is_ok(), "{text}: {:?}", parse(text));
    }
}

#[test]
fn amounts_in_range_come_back_exactly_and_larger_ones_are_refused() {
    // Every amount within the bound (10^15 minor units < 2^53) is exact as a JSON number.
    for (value, exported) in [
        ("29.33", "29.33"),
        ("\"90071992547.09\"", "90071992547.09"),
        ("1e3", "1000"),
        ("10000000000000", "10000000000000"),
        ("\"9999999999999.99\"", "9999999999999.99"),
    ] {
        let text = format!(
            r#"{{"type":"customer.order_placed",{AT},"identity":"email:kim@x.io","order_id":"O","amount":{value},"currency":"USD"}}"#
        );
        let parsed = parse(&text).unwrap();
        let line = line_of(&parsed.event, parsed.at, EventId::from_u128(7)).unwrap();
        assert!(line.contains(&format!(r#""amount":{exported},"#)), "{line}");
        assert_eq!(parse(&line).unwrap().event, parsed.event, "{line}");
    }
    let mut inexact = 0;
    for i in 0..2000u64 {
        let value = 90_071_992_547.0 * (1.0 + i as f64 * 0.00005) + 0.12;
        let text = format!(
            r#"{{"type":"customer.order_placed",{AT},"identity":"email:kim@x.io","order_id":"O","amount":{value:.2},"currency":"USD"}}"#
        );
        let parsed = parse(&text).unwrap();
        let line = line_of(&parsed.event, parsed.at, EventId::from_u128(7)).unwrap();
        inexact += usize::from(parse(&line).unwrap().event != parsed.event);
    }
    assert_eq!(inexact, 0, "large amounts come back exactly");
    for over in ["10000000000000.01", "\"-10000000000000.01\"", "90071992547409.93"] {
        let text = format!(
            r#"{{"type":"customer.order_placed",{AT},"identity":"email:kim@x.io","order_id":"O","amount":{over},"currency":"USD"}}"#
        );
        let error = parse(&text).unwrap_err();
        assert!(error.contains("beyond the limit of ±1000000000000000"), "{over}: {error}");
    }
}
