//! A generated omnichannel scenario for the demo, tests and benchmarks: people who write about
//! the same problem on KakaoTalk, then by e-mail, then call; agents who link their identities
//! (so their profiles merge) and merge the duplicate tickets; replies, pending/solved cycles,
//! ratings and orders. Deterministic for a seed; ids are stable, so re-running records nothing.

use std::collections::BTreeMap;

use rapport::events::{
    Amount, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent,
    NormalizeOptions, OrderPlaced, Status, Survey, TicketFlag, TicketFlagged, TicketId, TicketLabeled,
    TicketStatusChanged,
};
use rapport::log::Timestamp;

use rapport::Ids;
use rapport::{Input, Meta};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn identity(kind: &str, value: &str) -> Option<Identity> {
    Identity::parse(kind, value, &NormalizeOptions::default()).ok()
}

/// The inputs of the scenario, in time order, with stable ids (the store's import ids of
/// `scenario`, `<seed>:<person>:<step>`, so a second run records nothing). `ids` are the rules
/// of the store the inputs are for (`Store::ids`); `start` is the time of the first event (unix
/// microseconds).
pub fn omnichannel(ids: &Ids, seed: u64, people: usize, start: i64) -> Vec<(Input, Meta)> {
    let id_of = |key: &str| ids.import_id("scenario", &[key.as_bytes()]);
    let mut rng = Rng(seed | 1);
    let mut timed: Vec<(i64, String, Input)> = Vec::new();
    let topics = ["delivery", "refund", "broken item", "login", "billing"];
    let agents = ["Minji", "Joon", "Sara", "Tom"];
    for person in 0..people {
        let (Some(kakao), Some(email), Some(phone)) = (
            identity("kakaotalk", &format!("kakao_user{person}")),
            identity("email", &format!("Person{person}@Example.com")),
            // Unique per person up to 30 million people (the same numbers as before for the first
            // 3,000): `j * 7001` is distinct mod 10,000 for the persons `r + 3000 j` sharing a
            // first group, as 7001 is coprime with 10,000.
            identity(
                "phone",
                &format!("+82 10 {:04} {:04}", 2000 + person % 3000, (person * 7919 + person / 3000) % 10_000),
            ),
        ) else {
            continue;
        };
        let mut at = start + (rng.below(40 * 24) as i64) * HOUR;
        // Orders first: the person is a customer before they are a requester.
        let key = |k: &str| format!("scenario:{seed}:{person}:{k}");
        // The ticket the store opens for the first message: its id derives from the message's id.
        let Ok(ticket) = ids.opened_ticket_id(id_of(&key("kakao"))) else { continue };
        for order in 0..rng.below(4) {
            // At most 125 units: far inside the amount bound.
            let Ok(amount) = Amount::from_minor((5 + rng.below(120)) as i64 * 100 + rng.below(100) as i64) else {
                continue;
            };
            timed.push((
                at - (order as i64 + 1) * 7 * DAY,
                key(&format!("order{order}")),
                Input::Event(CxEvent::OrderPlaced(OrderPlaced {
                    identity: email.clone(),
                    order_id: format!("S{seed}-{person}-{order}"),
                    amount,
                    currency: "KRW".into(),
                })),
            ));
        }
        let topic = topics[rng.below(topics.len() as u64) as usize].to_owned();
        let message = |channel: Channel, from: &Identity, ticket: Option<TicketId>| {
            Input::Event(CxEvent::MessageReceived(MessageReceived {
                channel,
                from: from.clone(),
                ticket_id: ticket,
                topic: Some(topic.clone()),
                subject: Some(format!("About my {topic}")),
                body: Some("Hello, I need help.".into()),
            }))
        };
        // 1. KakaoTalk: the store opens a ticket (routing finds none).
        timed.push((at, key("kakao"), message(Channel::KakaoTalk, &kakao, None)));
        let agent = agents[rng.below(agents.len() as u64) as usize].to_owned();
        // 2. The agent identifies the person: KakaoTalk id, e-mail and phone are one customer
        //    (the e-mail already has a profile from the orders: the profiles merge).
        at += (10 + rng.below(120) as i64) * MINUTE;
        timed.push((
            at,
            key("identified"),
            Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
                identities: vec![kakao.clone(), email.clone(), phone.clone()],
                traits: BTreeMap::from([("segment".to_owned(), ["retail", "vip"][person % 2].to_owned())]),
            })),
        ));
        // 3. The same problem by e-mail and then by phone: routing joins the same ticket.
        at += (1 + rng.below(20) as i64) * HOUR;
        timed.push((at, key("email"), message(Channel::Email, &email, None)));
        at += (1 + rng.below(6) as i64) * HOUR;
        timed.push((at, key("phone"), message(Channel::Phone, &phone, None)));
        timed.push((
            at + 5 * MINUTE,
            key("reply"),
            Input::Event(CxEvent::MessageSent(MessageSent {
                ticket_id: ticket.clone(),
                channel: Channel::Phone,
                agent: agent.clone(),
                public: true,
                body: Some("We are on it.".into()),
                actor: Default::default(),
            })),
        ));
        timed.push((
            at + 6 * MINUTE,
            key("label"),
            Input::Event(CxEvent::TicketLabeled(TicketLabeled {
                ticket_id: ticket.clone(),
                department: Some(["logistics", "finance", "support"][rng.below(3) as usize].to_owned()),
                inquiry_type: Some(topic.clone()),
            })),
        ));
        if person % 17 == 0 {
            timed.push((
                at + 7 * MINUTE,
                key("urgent"),
                Input::Event(CxEvent::TicketFlagged(TicketFlagged {
                    ticket_id: ticket.clone(),
                    flag: TicketFlag::Urgent,
                    reason: Some("consumer-agency complaint".into()),
                })),
            ));
        }
        let mut status_at = at + (10 + rng.below(180) as i64) * MINUTE;
        for status in [Status::Pending, Status::Solved] {
            timed.push((
                status_at,
                key(status.as_str()),
                Input::Event(CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: ticket.clone(), status })),
            ));
            status_at += (30 + rng.below(48 * 60) as i64) * MINUTE;
        }
        if rng.below(3) > 0 {
            let survey = [Survey::Csat, Survey::Nps, Survey::Ces][rng.below(3) as usize];
            let range = survey.score_range();
            let score = *range.start() + rng.below(u64::from(*range.end() - *range.start()) + 1) as u8;
            timed.push((
                status_at,
                key("rating"),
                Input::Event(CxEvent::CustomerRated(CustomerRated {
                    identity: kakao.clone(),
                    survey,
                    score,
                    ticket_id: Some(ticket.clone()),
                    comment: None,
                    reason: None,
                })),
            ));
        }
    }
    timed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    timed.into_iter().map(|(at, key, input)| (input, Meta::at(Timestamp(at)).with_id(id_of(&key)))).collect()
}
