//! The read routes answer the documents the store computes, and their pages add up to the
//! whole: every ticket once, every timeline entry once, in order.

use std::collections::BTreeSet;

use rapport::CustomerKey;
use rapport_server::json;
use rapport_server::ServerOptions;
use serde_json::Value;

use crate::{get, scenario_store, serve};

#[test]
fn customer_and_ticket_documents_are_the_stores() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 40);
    // What the store says, computed before the server holds it.
    let views = store.customers(None).unwrap();
    let view = views.iter().find(|v| v.profile.orders.count > 0 && v.identities.len() > 1).unwrap();
    let identity = view.identities.first().unwrap().to_string();
    let expected_customer = json::customer_document(&store, view, false, None, true).unwrap();
    let first = store.tickets().unwrap().into_iter().next().unwrap();
    let ticket = store.ticket(first.id()).unwrap().unwrap();
    let expected_ticket = json::ticket_document(&store, &ticket, None, None, true).unwrap();
    let id = view.id().to_string();
    let ticket_id = ticket.id().to_string();
    let server = serve(store, ServerOptions::default());

    let by_id = get(&server, &format!("/v1/customers/{id}?clv=false"), None);
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    assert_eq!(by_id.content_type, "application/json");
    assert_eq!(by_id.json(), expected_customer);
    // Any identity names the same customer (percent-encoded: `+` and `@` in the path).
    let encoded: String = identity.bytes().map(|b| format!("%{b:02X}")).collect();
    let by_identity = get(&server, &format!("/v1/customers/{encoded}?clv=false"), None);
    assert_eq!(by_identity.json(), expected_customer, "{identity}");
    // With CLV (the default): the same document plus `clv`.
    let with_clv = get(&server, &format!("/v1/customers/{id}"), None).json();
    assert!(with_clv.get("clv").is_some(), "{with_clv}");

    let answer = get(&server, &format!("/v1/tickets/{ticket_id}?history=true"), None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), expected_ticket);
    assert!(answer.json().get("sla").is_some());
    assert!(answer.json()["metrics"].is_object());

    get(&server, "/v1/customers/C999999", None).problem(404);
    get(&server, "/v1/customers/email:nobody@example.com", None).problem(404);
    get(&server, "/v1/tickets/no-such-ticket", None).problem(404);
    let bad_key = get(&server, "/v1/customers/fax:123", None).problem(400);
    assert_eq!(bad_key["field"], "key");
    let bad_time = get(&server, &format!("/v1/tickets/{ticket_id}?now=yesterday"), None).problem(400);
    assert_eq!(bad_time["field"], "now");
    let unknown = get(&server, &format!("/v1/customers/{id}?clvv=true"), None).problem(400);
    assert_eq!(unknown["field"], "clvv");
    server.stop().unwrap();
}

#[test]
fn pages_of_tickets_and_timelines_add_up_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 30);
    let mut all_ids: Vec<String> = store.tickets().unwrap().iter().map(|t| t.id().to_string()).collect();
    all_ids.sort_by(|a, b| {
        rapport::events::TicketId::new(a.clone()).unwrap().cmp(&rapport::events::TicketId::new(b.clone()).unwrap())
    });
    let solved: BTreeSet<String> = store
        .tickets()
        .unwrap()
        .iter()
        .filter(|t| t.status() == rapport::events::Status::Solved)
        .map(|t| t.id().to_string())
        .collect();
    let customer = store.customers(None).unwrap().into_iter().max_by_key(|v| v.profile.timeline.len()).unwrap();
    let timeline: Vec<u64> = store
        .timeline(&CustomerKey::Id(customer.id()), 0, usize::MAX)
        .unwrap()
        .iter()
        .map(|(recorded, _)| recorded.position.0)
        .collect();
    assert!(timeline.len() > 3);
    let server = serve(store, ServerOptions::default());

    // Every ticket once, in id order, over pages of 7.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tickets?limit=7&cursor={c}"),
            None => "/v1/tickets?limit=7".to_owned(),
        };
        let page = get(&server, &path, None).json();
        let tickets = page["tickets"].as_array().unwrap();
        assert!(tickets.len() <= 7);
        seen.extend(tickets.iter().map(|t| t["ticket_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, all_ids);

    // A status filter keeps exactly the solved ones.
    let page = get(&server, "/v1/tickets?status=solved&limit=1000", None).json();
    let got: BTreeSet<String> =
        page["tickets"].as_array().unwrap().iter().map(|t| t["ticket_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, solved);
    assert!(page["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "solved"));
    get(&server, "/v1/tickets?status=done", None).problem(400);
    get(&server, "/v1/tickets?cursor=%%%", None).problem(400);
    get(&server, "/v1/tickets?limit=1001", None).problem(400);

    // The timeline over pages of 2.
    let mut positions = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = get(&server, &format!("/v1/customers/{}/timeline?offset={at}&limit=2", customer.id()), None).json();
        positions.extend(page["entries"].as_array().unwrap().iter().map(|e| e["position"].as_u64().unwrap()));
        offset = page["next_offset"].as_u64();
    }
    assert_eq!(positions, timeline);
    server.stop().unwrap();
}

#[test]
fn segments_metrics_and_clv_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 60);
    let top: Vec<String> =
        store.segment(&"top_spend:5".parse().unwrap()).unwrap().iter().map(ToString::to_string).collect();
    let kakao = store.segment(&"channel:kakaotalk".parse().unwrap()).unwrap().len();
    let group_by = ["channel".to_owned()];
    let query = json::ReportParams {
        from: None,
        to: None,
        now: None,
        group_by: &group_by,
        filters: &[],
        within_hours: &[4],
        fcr_days: 7,
    }
    .query()
    .unwrap();
    let expected_report = json::report_json(&store.metrics_report(&query).unwrap(), false);
    let server = serve(store, ServerOptions::default());

    let page = get(&server, "/v1/customers?segment=top_spend:5", None).json();
    let got: Vec<String> =
        page["customers"].as_array().unwrap().iter().map(|c| c["customer_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, top);
    let page = get(&server, "/v1/customers?segment=channel:kakaotalk&limit=3", None).json();
    assert_eq!(page["total"], kakao);
    assert_eq!(page["customers"].as_array().unwrap().len(), 3.min(kakao));
    let problem = get(&server, "/v1/customers?segment=vip", None).problem(400);
    assert_eq!(problem["field"], "segment");

    let report = get(&server, "/v1/metrics?group_by=channel&within_hours=4", None);
    assert_eq!(report.status, 200, "{}", report.body);
    crate::assert_same(&report.json(), &expected_report);
    let problem = get(&server, "/v1/metrics?group_by=colour", None).problem(400);
    assert_eq!(problem["field"], "group_by");
    let problem = get(&server, "/v1/metrics?from=2026-02-01&to=2026-01-01", None).problem(400);
    assert_eq!(problem["field"], "to");

    let clv = get(&server, "/v1/clv?top=3", None);
    // The scenario's purchases may not fit (a 422 problem then), but never a failure.
    match clv.status {
        200 => {
            let value = clv.json();
            assert!(value["customers"].as_array().unwrap().len() <= 3);
            assert!(value["fit"]["bg_nbd"]["r"].is_number(), "{value}");
        }
        _ => {
            clv.problem(422);
        }
    }
    get(&server, "/v1/clv?unit=months", None).problem(400);
    let health: Value = get(&server, "/readyz", None).json();
    assert_eq!(health["status"], "ready");
    server.stop().unwrap();
}
