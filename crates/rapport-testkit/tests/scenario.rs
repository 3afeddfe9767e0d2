//! The generated omnichannel scenario end to end: every input is accepted, each person ends as
//! one customer with all identities and one ticket that carries all three channels, and a second
//! run of the same scenario records nothing.

use rapport::events::{Channel, NormalizeOptions};
use rapport::log::{Durability, LogOptions};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_testkit::scenario;

#[test]
fn scenario_people_become_one_profile_and_one_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    let store = Store::open(dir.path(), StoreOptions { log, ..StoreOptions::default() }).unwrap();
    let people = 40;
    let inputs = scenario::omnichannel(store.ids(), 7, people, 1_767_225_600_000_000);
    let total = inputs.len();
    for (n, result) in store.submit_many(inputs.clone(), false).unwrap().into_iter().enumerate() {
        assert!(result.is_ok(), "input {n}: {result:?}");
    }
    assert_eq!(store.customer_count().unwrap(), people);
    for person in [0usize, 13, 39] {
        let key = CustomerKey::parse(&format!("kakao:kakao_user{person}"), &NormalizeOptions::default()).unwrap();
        let view = store.customer(&key, None).unwrap().unwrap();
        assert_eq!(view.identities.len(), 3, "person {person}: {:?}", view.identities);
        assert_eq!(view.tickets().len(), 1, "person {person}: one ticket for one problem");
        let ticket = store.ticket(&view.tickets()[0]).unwrap().unwrap();
        assert_eq!(ticket.channels(), &[Channel::KakaoTalk, Channel::Email, Channel::Phone]);
        assert_eq!(ticket.customer_messages(), 3);
    }
    let end = store.log().end_position();
    let again = store.submit_many(inputs, false).unwrap();
    assert_eq!(again.len(), total);
    assert!(again.iter().all(|r| r.as_ref().is_ok_and(|s| s.already_recorded)));
    assert_eq!(store.log().end_position(), end, "a second run records nothing");
}

#[test]
fn every_generated_person_has_valid_identities() {
    // The generator skips a person whose identities do not parse; none may be skipped.
    let ids = rapport::Ids::new(rapport::IdKey::from_bytes([3; 32]));
    let people = 10_000;
    let inputs = scenario::omnichannel(&ids, 1, people, 1_767_225_600_000_000);
    let mut kakao = std::collections::BTreeSet::new();
    for (input, _) in &inputs {
        if let rapport::Input::Event(event) = input {
            for identity in event.identities() {
                if identity.to_string().starts_with("kakaotalk:") {
                    kakao.insert(identity.to_string());
                }
            }
        }
    }
    assert_eq!(kakao.len(), people, "every person appears");
}
