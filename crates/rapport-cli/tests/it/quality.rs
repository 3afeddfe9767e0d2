//! Goal: `rapport metrics` reports bots, first-contact resolution, surveys and QA as documented
//! (docs/metrics.md), and `rapport ticket` shows the ticket's ratings with reason and comment.
//! Method: import a small JSONL history whose numbers are worked out in comments, then parse the
//! JSON and text output.

use serde_json::Value;

use crate::commands::{json_lines, ok};

/// Kim writes by e-mail (T-1) and, 2 days later, on KakaoTalk (T-2): one customer. A bot
/// answers T-2 alone. A CSAT offer to the e-mail about T-1 is answered from KakaoTalk. Two QA
/// reviews: (90 + 70 + 40) / 3 under the built-in scorecard, and 0 after accuracy became
/// critical with pass mark 50.
const EVENTS: &str = r#"{"type":"customer.identified","at":"2026-03-02T00:00:00Z","id":"q-01","identities":["email:kim@example.com","kakao:kim_1"]}
{"type":"ticket.opened","at":"2026-03-02T00:00:00Z","id":"q-02","ticket_id":"T-1","requester":"email:kim@example.com","channel":"email"}
{"type":"message.sent","at":"2026-03-02T00:10:00Z","id":"q-03","ticket_id":"T-1","channel":"email","agent":"lee","public":true}
{"type":"ticket.status_changed","at":"2026-03-02T00:20:00Z","id":"q-04","ticket_id":"T-1","status":"solved"}
{"type":"survey.offered","at":"2026-03-02T00:30:00Z","id":"q-05","identity":"email:kim@example.com","survey":"csat","ticket_id":"T-1"}
{"type":"customer.rated","at":"2026-03-02T01:00:00Z","id":"q-06","identity":"kakao:kim_1","survey":"csat","score":4,"ticket_id":"T-1","reason":"friendly","comment":"quick and kind"}
{"type":"qa.reviewed","at":"2026-03-02T01:10:00Z","id":"q-07","ticket_id":"T-1","agent":"lee","reviewer":"park","categories":[{"name":"courtesy","score":90},{"name":"delivery","score":70},{"name":"accuracy","score":40}]}
{"type":"qa.scorecard_set","at":"2026-03-02T01:20:00Z","id":"q-08","name":"default","valid_from":"2026-03-03T00:00:00Z","categories":[{"name":"courtesy"},{"name":"delivery"},{"name":"accuracy","critical":true}]}
{"type":"ticket.opened","at":"2026-03-04T00:00:00Z","id":"q-09","ticket_id":"T-2","requester":"kakao:kim_1","channel":"kakaotalk"}
{"type":"message.sent","at":"2026-03-04T00:01:00Z","id":"q-10","ticket_id":"T-2","channel":"kakaotalk","agent":"helpbot","public":true,"actor":"bot"}
{"type":"ticket.status_changed","at":"2026-03-04T00:10:00Z","id":"q-11","ticket_id":"T-2","status":"solved"}
{"type":"qa.reviewed","at":"2026-03-05T00:00:00Z","id":"q-12","ticket_id":"T-2","agent":"kim","reviewer":"park","categories":[{"name":"courtesy","score":90},{"name":"delivery","score":70},{"name":"accuracy","score":40}]}
"#;

fn store(dir: &std::path::Path) -> String {
    crate::commands::jsonl_store(dir, EVENTS)
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[test]
fn metrics_json_has_bots_fcr_surveys_and_qa() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let report = json_lines(&ok(&["metrics", "--store", &store, "--json", "--drill", "--now", "2026-03-12"])).remove(0);
    let all = &report["groups"][0];
    // FCR at 03-12, 7 days: T-1 (solved 03-02) and T-2 (03-04) count; T-1 is not FCR (kim's
    // T-2 two days later, on another channel); T-2 is. 1 / 2.
    assert_eq!(all["fcr"]["solved"]["tickets"], serde_json::json!(["T-1", "T-2"]));
    assert_eq!(all["fcr"]["fcr"]["tickets"], serde_json::json!(["T-2"]));
    assert!(close(&all["fcr"]["fcr_rate"], 0.5), "{}", all["fcr"]);
    // Bots: T-2 only; no handoff; resolved by the bot alone.
    assert_eq!(all["bots"]["tickets"]["tickets"], serde_json::json!(["T-2"]));
    assert!(
        close(&all["bots"]["handoff_rate"], 0.0) && close(&all["bots"]["bot_resolved_rate"], 1.0),
        "{}",
        all["bots"]
    );
    // A one-day window: T-1's window ends 03-03, before T-2: FCR too.
    let short = json_lines(&ok(&["metrics", "--store", &store, "--json", "--now", "2026-03-12", "--fcr-days", "1"]));
    assert!(close(&short[0]["groups"][0]["fcr"]["fcr_rate"], 1.0), "{}", short[0]["groups"][0]["fcr"]);
    let csat = &report["surveys"]["csat"];
    assert_eq!(
        (&csat["offered"], &csat["answered"], &csat["unsolicited"]),
        (&1.into(), &1.into(), &0.into()),
        "{csat}"
    );
    assert_eq!(csat["reasons"], serde_json::json!({"friendly": 1}));
    let qa = &report["qa"];
    // (200 / 3 + 0) / 2 = 100 / 3; lee 200 / 3, kim 0.
    assert_eq!(qa["reviews"], 2);
    assert!(close(&qa["iqs"], 100.0 / 3.0), "{qa}");
    assert!(close(&qa["by_agent"]["lee"]["iqs"], 200.0 / 3.0) && close(&qa["by_agent"]["kim"]["iqs"], 0.0), "{qa}");
    assert!(close(&qa["categories"]["accuracy"]["pass_rate"], 0.0), "{qa}");
    assert!(close(&qa["categories"]["courtesy"]["pass_rate"], 1.0), "{qa}");
    let table = ok(&["metrics", "--store", &store, "--now", "2026-03-12"]);
    assert!(table.contains("QA: 2 reviews, IQS 33.3"), "{table}");
    assert!(table.contains("surveys:") && table.contains("friendly 1"), "{table}");
    assert!(table.contains("first-contact resolution"), "{table}");
}

#[test]
fn ticket_view_shows_its_ratings_with_reason_and_comment() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let ticket = json_lines(&ok(&["ticket", "T-1", "--store", &store, "--json"])).remove(0);
    let ratings = ticket["ratings"].as_array().expect("ratings");
    assert_eq!(ratings.len(), 1, "{ticket}");
    assert_eq!(ratings[0]["survey"], "csat");
    assert_eq!(ratings[0]["score"], 4);
    assert_eq!(ratings[0]["reason"], "friendly");
    assert_eq!(ratings[0]["comment"], "quick and kind");
    assert_eq!(ratings[0]["at"], "2026-03-02T01:00:00.000000Z");
    let text = ok(&["ticket", "T-1", "--store", &store]);
    assert!(text.contains("rating") && text.contains("csat 4") && text.contains("\"quick and kind\""), "{text}");
    let other = json_lines(&ok(&["ticket", "T-2", "--store", &store, "--json"])).remove(0);
    assert_eq!(other["ratings"], serde_json::json!([]));
    assert_eq!(other["metrics"]["bot_messages"], 1);
    assert_eq!(other["metrics"]["replies"], 0, "a bot's message is no reply");
}
