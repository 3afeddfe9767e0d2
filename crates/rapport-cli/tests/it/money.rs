//! Money from the outside: orders in two currencies with a refund, `rapport customer --json`
//! shows totals per currency (never summed), and `--currency`/`--rates` choose the reporting
//! currency of RFM, and the view lists rating comments with their reasons — with a usage error (exit 2) for an unknown code or rates without a base.

use crate::commands::{json_lines, jsonl_store, ok, rapport};

const ORDERS: &str = r#"{"type":"customer.order_placed","at":"2024-05-01T09:00:00Z","id":"o1","identity":"email:kim@example.com","order_id":"O-1","amount":"30.00","currency":"USD"}
{"type":"customer.order_refunded","at":"2024-05-02T09:00:00Z","id":"r1","identity":"email:kim@example.com","order_id":"O-1","amount":10,"currency":"USD"}
{"type":"customer.order_placed","at":"2024-05-03T09:00:00Z","id":"o2","identity":"email:kim@example.com","order_id":"O-2","amount":15000,"currency":"KRW"}
{"type":"customer.order_placed","at":"2024-05-04T09:00:00Z","id":"o3","identity":"email:kim@example.com","order_id":"O-3","amount":5000,"currency":"KRW"}
{"type":"customer.rated","at":"2024-05-05T09:00:00Z","id":"c1","identity":"email:kim@example.com","survey":"csat","score":2,"comment":"the refund took a week","reason":"slow_refund"}
"#;

#[test]
fn totals_per_currency_and_the_reporting_currency_flags() {
    let dir = tempfile::tempdir().unwrap();
    let store = jsonl_store(dir.path(), ORDERS);
    let view = |extra: &[&str]| {
        let mut args = vec!["customer", "email:kim@example.com", "--store", &store, "--json", "--no-clv"];
        args.extend_from_slice(extra);
        json_lines(&ok(&args)).remove(0)
    };
    let default = view(&[]);
    // The customer view lists what the customer said, with the reason label.
    let answers = default["ratings"]["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!((answers[0]["score"].as_u64(), answers[0]["reason"].as_str()), (Some(2), Some("slow_refund")));
    assert_eq!(answers[0]["comment"], "the refund took a week");
    let said = ok(&["customer", "email:kim@example.com", "--store", &store, "--no-clv"]);
    assert!(said.contains("(slow_refund): the refund took a week"), "{said}");
    assert_eq!(default["reporting_currency"], "KRW", "the currency of most orders: {default}");
    let rates = dir.path().join("rates.txt");
    std::fs::write(&rates, "# KRW per unit\nUSD 1300\n").unwrap();
    let usd = view(&["--currency", "usd"]);
    assert_eq!(usd["reporting_currency"], "USD");
    let converted = view(&["--currency", "KRW", "--rates", rates.to_str().unwrap()]);
    assert_eq!(converted["reporting_currency"], "KRW");
    assert_eq!(default["rfm_purchases_excluded"], 1, "the USD order is left out without rates: {default}");
    assert_eq!(converted["rfm_purchases_excluded"], 0, "converted with the table: {converted}");
    let text = serde_json::to_string(&default).unwrap();
    assert!(!text.contains("20030") && !text.contains("15030"), "no sum across currencies: {text}");
    for bad in [vec!["--currency", "XYZ"], vec!["--rates", rates.to_str().unwrap()]] {
        let mut args = vec!["customer", "email:kim@example.com", "--store", &store];
        args.extend(bad.iter().copied());
        let output = rapport(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}
