//! Organizations: `organization.updated` folds into organizations and the domains they claim;
//! a customer belongs to the one its `organization_id` trait names, else to the one claiming
//! the domain of one of its e-mail addresses; `metrics --group-by organization` groups tickets
//! by their requester's organization — all computed through the key store, since trait values
//! and identities are sealed in the log.

use std::collections::BTreeMap;

use rapport::events::{
    Channel, CustomerIdentified, CxEvent, Identity, MessageReceived, NormalizeOptions, OrganizationUpdated,
};
use rapport::log::Timestamp;
use rapport::metrics::report::{Dimension, ReportQuery};
use rapport::{CustomerKey, Input, Meta, Store, StoreOptions};

const HOUR: i64 = 3_600_000_000;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn organization(id: &str, name: Option<&str>, domains: &[&str]) -> Input {
    Input::Event(CxEvent::OrganizationUpdated(OrganizationUpdated {
        organization_id: id.into(),
        name: name.map(Into::into),
        domains: Some(domains.iter().map(|d| (*d).to_owned()).collect()),
    }))
}

fn message(from: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: identity(from),
        ticket_id: None,
        topic: Some(format!("about {from}")),
        subject: None,
        body: Some("help".into()),
    }))
}

fn org_of(store: &Store, pair: &str) -> Option<String> {
    let key = CustomerKey::parse(pair, &NormalizeOptions::default()).unwrap();
    let customer = store.customer_id(&key).unwrap().unwrap();
    store.organization_of(customer).unwrap().map(|o| o.id)
}

#[test]
fn membership_by_trait_then_by_domain_and_grouped_in_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let mut hour = 0;
    let mut submit = |input: Input| {
        hour += 1;
        store.submit(input, Meta::at(Timestamp(hour * HOUR))).unwrap();
    };
    submit(organization("acme", Some("ACME Corp"), &["acme.example"]));
    submit(organization("beta", Some("Beta Ltd"), &["beta.example"]));
    submit(message("email:kim@acme.example"));
    submit(message("email:lee@beta.example"));
    submit(message("email:park@gmail.example"));
    // Park's trait names ACME although the address is elsewhere; Lee's trait overrides the domain.
    for (who, org) in [("email:park@gmail.example", "acme"), ("email:lee@beta.example", "gamma")] {
        submit(Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
            identities: vec![identity(who)],
            traits: BTreeMap::from([("organization_id".to_owned(), org.to_owned())]),
        })));
    }
    submit(message("kakaotalk:nobody_1"));
    assert_eq!(org_of(&store, "email:kim@acme.example").as_deref(), Some("acme"), "by domain");
    assert_eq!(org_of(&store, "email:park@gmail.example").as_deref(), Some("acme"), "by trait");
    assert_eq!(org_of(&store, "email:lee@beta.example").as_deref(), Some("gamma"), "the trait wins");
    assert_eq!(org_of(&store, "kakaotalk:nobody_1"), None);
    let gamma = store
        .organization_of(
            store.customer_id(&CustomerKey::Identity(identity("email:lee@beta.example"))).unwrap().unwrap(),
        )
        .unwrap()
        .unwrap();
    assert_eq!((gamma.name, gamma.domains), (None, Vec::new()), "named by a trait only, never described");

    let query = ReportQuery { group_by: Some(Dimension::Organization), ..ReportQuery::default() };
    let report = store.metrics_report(&query).unwrap();
    let created: BTreeMap<String, u64> =
        report.groups.iter().map(|g| (g.key.clone(), g.created.count as u64)).filter(|(_, n)| *n > 0).collect();
    assert_eq!(created, BTreeMap::from([("(none)".into(), 1), ("acme".into(), 2), ("gamma".into(), 1)]));

    // Beta's domain moves to ACME: Kim stays, and a new Beta-domain customer joins ACME.
    submit(organization("acme", None, &["acme.example", "beta.example"]));
    submit(message("email:choi@beta.example"));
    assert_eq!(org_of(&store, "email:choi@beta.example").as_deref(), Some("acme"));
    let orgs = store.organizations().unwrap();
    let domains: BTreeMap<&str, Vec<String>> = orgs.iter().map(|o| (o.id.as_str(), o.domains.clone())).collect();
    assert_eq!(domains["acme"], ["acme.example", "beta.example"]);
    assert!(domains["beta"].is_empty(), "beta lost its domain to the later claim");
    assert_eq!(orgs.iter().find(|o| o.id == "acme").unwrap().name.as_deref(), Some("ACME Corp"));
    // The same after a rebuild from the log.
    drop(store);
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(org_of(&store, "email:choi@beta.example").as_deref(), Some("acme"));
    assert_eq!(org_of(&store, "email:lee@beta.example").as_deref(), Some("gamma"));
}
