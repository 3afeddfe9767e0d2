//! Channels and identity kinds, one name each: the first release's names (`kakao`, `twitter`)
//! are aliases, so a person written once with the old name and once with the new one is one
//! customer — before and after the store is reopened (a rebuild from the log) — and the
//! messengers added by the domain issue route like every other channel.

use rapport::events::{Channel, CxEvent, Identity, IdentityKind, MessageReceived, NormalizeOptions};
use rapport::log::Timestamp;
use rapport::{CustomerKey, Input, Meta, Store, StoreOptions};

const HOUR: i64 = 3_600_000_000;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn key(pair: &str) -> CustomerKey {
    CustomerKey::parse(pair, &NormalizeOptions::default()).unwrap()
}

fn message(from: &str, channel: Channel, topic: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel,
        from: identity(from),
        ticket_id: None,
        topic: Some(topic.into()),
        subject: None,
        body: Some("help".into()),
    }))
}

#[test]
fn old_and_new_kind_names_are_one_person_before_and_after_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let first = store.submit(message("kakao:kim_1", Channel::KakaoTalk, "O-1"), Meta::at(Timestamp(0))).unwrap();
    let second =
        store.submit(message("kakaotalk:kim_1", Channel::KakaoTalk, "O-1"), Meta::at(Timestamp(HOUR))).unwrap();
    assert_eq!(first.ticket_id, second.ticket_id, "the same person's second message joins the ticket");
    store.submit(message("twitter:@Lee", Channel::X, "O-2"), Meta::at(Timestamp(2 * HOUR))).unwrap();
    store.submit(message("x:lee", Channel::X, "O-2"), Meta::at(Timestamp(3 * HOUR))).unwrap();
    let check = |store: &Store| {
        assert_eq!(store.customer_count().unwrap(), 2, "kim and lee, one customer each");
        let kim = store.customer(&key("kakaotalk:kim_1"), None).unwrap().unwrap();
        assert_eq!(kim.identities, vec![identity("kakaotalk:kim_1")]);
        assert_eq!(kim.identities[0].kind(), &IdentityKind::KakaoTalk);
        assert_eq!(kim.identities[0].to_string(), "kakaotalk:kim_1", "shown with the new name");
        let by_old_name = store.customer(&key("kakao:kim_1"), None).unwrap().unwrap();
        assert_eq!(by_old_name.profile.id, kim.profile.id, "found by the old name too");
        let lee = store.customer(&key("x:lee"), None).unwrap().unwrap();
        assert_eq!(lee.profile.channels, vec![(Channel::X, 2)]);
    };
    check(&store);
    drop(store);
    let reopened = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    check(&reopened);
}

#[test]
fn every_messenger_is_a_channel_and_a_kind_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let messengers = [
        ("whatsapp:+821012345678", Channel::WhatsApp),
        ("line:U4af4980629", Channel::Line),
        ("telegram:@kim_lee", Channel::Telegram),
        ("instagram:@kim.shop", Channel::Instagram),
        ("messenger:6123456789", Channel::Messenger),
        ("web_widget:c0ffee", Channel::WebWidget),
        ("x:kim", Channel::X),
    ];
    for (n, (from, channel)) in messengers.iter().enumerate() {
        let kind = from.split(':').next().unwrap();
        assert_eq!(channel.to_string(), kind, "one name as channel and as identity kind");
        let hour = i64::try_from(n).unwrap() * HOUR;
        let submitted = store.submit(message(from, channel.clone(), from), Meta::at(Timestamp(hour))).unwrap();
        let ticket = store.ticket(submitted.ticket_id.as_ref().unwrap()).unwrap().unwrap();
        assert_eq!(ticket.channels(), std::slice::from_ref(channel));
        let view = store.customer(&key(from), None).unwrap().unwrap();
        assert_eq!(view.identities[0].kind().name(), kind);
    }
    assert_eq!(store.customer_count().unwrap(), messengers.len());
}
