//! The JSON shapes of docs/api.md, shared by the server's responses and the CLI's `--json`
//! output (one place for each shape): customers, CLV predictions, tickets with their metrics,
//! survey answers, metrics reports and recorded events. Times are RFC 3339 in UTC with
//! microseconds; amounts are decimals in their currency's digits, never added across
//! currencies.

use base64::Engine;
use rapport::events::CxEvent;
use rapport::events::{CustomerId, Identity, Survey, TicketId};
use rapport::log::{RecordedEvent, Timestamp};
use rapport::metrics::report::{
    parse_filter, Dimension, Drill, GroupReport, PeriodRow, Quantiles, Report, ReportQuery, Satisfaction, SlaCounts,
};
use rapport::metrics::{Minutes, QaReport, QaScores, SlaStatus, SurveyReport, TicketMetrics, TicketSla};
use rapport::ticket::Ticket;
use rapport::{ClvOptions, ClvPrediction, CustomerKey, CustomerView, MetricsScope, Store, SurveyAnswer, TimeUnit};
use serde_json::{json, Value};

/// Parses a time: RFC 3339 (`2012-05-01T12:00:00+02:00`) or a date (`2012-05-01`, meaning
/// 00:00 UTC). The error says what was expected.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = text.trim().parse::<Timestamp>() {
        return Ok(time);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let midnight = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros());
        if let Some(micros) = midnight {
            return Ok(Timestamp(micros));
        }
    }
    Err(format!("{text:?} is not a time: expected RFC 3339 (2012-05-01T12:00:00Z) or a date (2012-05-01)"))
}

/// RFC 3339 in UTC with microseconds of unix microseconds (the number itself if out of range).
pub fn rfc3339(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        None => micros.to_string(),
    }
}

fn survey_json(view: &CustomerView, survey: Survey) -> Value {
    match view.profile.latest(survey) {
        Some(rating) => json!({"score": rating.score, "at": rfc3339(rating.at.0)}),
        None => Value::Null,
    }
}

/// The JSON object of one customer.
pub fn customer_json(view: &CustomerView) -> Value {
    let profile = &view.profile;
    let mut identities: Vec<String> = view.identities.iter().map(Identity::to_string).collect();
    identities.sort();
    let channels: serde_json::Map<String, Value> =
        profile.channels.iter().map(|(channel, count)| (channel.to_string(), json!(count))).collect();
    let conflicts: Vec<Value> = profile
        .conflicts
        .iter()
        .map(|c| {
            json!({
                "customers": c.customers.iter().map(CustomerId::to_string).collect::<Vec<_>>(),
                "kind": c.kind,
                "at": rfc3339(c.at.0),
            })
        })
        .collect();
    let orders = &profile.orders;
    json!({
        "customer_id": profile.id.to_string(),
        "erased_at": profile.erased_at.map(|t| rfc3339(t.0)),
        "identities": identities,
        "merged_from": profile.merged_from.iter().map(CustomerId::to_string).collect::<Vec<_>>(),
        "split_from": profile.split_from.map(|c| c.to_string()),
        "merge_conflicts": conflicts,
        "traits": profile.traits.iter().map(|(key, t)| (key, &t.value)).collect::<std::collections::BTreeMap<_, _>>(),
        "first_seen": profile.first_seen.map(|t| rfc3339(t.0)),
        "last_seen": profile.last_seen.map(|t| rfc3339(t.0)),
        "channels": channels,
        "tickets": {
            "open": view.open_tickets.len(),
            "total": profile.tickets.len(),
            "ids": profile.tickets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "open_ids": view.open_tickets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        },
        "orders": {
            "count": orders.count,
            "first_at": orders.first_at.map(|t| rfc3339(t.0)),
            "last_at": orders.last_at.map(|t| rfc3339(t.0)),
            // Per currency, never added across currencies; decimals with the currency's digits.
            "totals": orders.totals().iter().map(|t| json!({
                "currency": t.currency.as_str(),
                "count": t.count,
                "cancelled": t.cancelled,
                "fully_refunded": t.fully_refunded,
                "gross": t.gross.format(&t.currency),
                "refunded": t.refunded.format(&t.currency),
                "net": t.net.format(&t.currency),
            })).collect::<Vec<_>>(),
        },
        "reporting_currency": view.reporting_currency,
        "rfm_purchases_converted": view.rfm_converted,
        "rfm_purchases_excluded": view.rfm_excluded,
        "rfm": view.rfm.map(|rfm| json!({
            "frequency": rfm.frequency,
            "recency_days": rfm.recency_days,
            "t_days": rfm.t_days,
            "monetary": rfm.monetary,
        })),
        "ratings": {
            "csat": survey_json(view, Survey::Csat),
            "nps": survey_json(view, Survey::Nps),
            "ces": survey_json(view, Survey::Ces),
            "count": profile.ratings.len(),
        },
        "flags": {
            "repeat_inquiry": view.flags.repeat_inquiry,
            "open_urgent": view.flags.open_urgent,
            "merge_conflict": view.flags.merge_conflict,
        },
        "timeline_events": profile.timeline.len(),
    })
}

/// The CLV prediction of a customer: both models in weeks, 12 months at 1 % a month. At the
/// default observation end, the store's latest fit (fitted once on first use) applied to the
/// view; at a given observation end, the fit of that calibration end (cached per end). `Err`
/// text when the store cannot be fitted.
pub fn customer_clv(
    store: &Store,
    view: &CustomerView,
    end: Option<Timestamp>,
) -> Result<Option<ClvPrediction>, String> {
    let options = ClvOptions::default();
    match end {
        None => store.customer_clv(view, TimeUnit::Weeks, &options).map_err(|e| e.to_string()),
        Some(end) => {
            let fit = store.clv_fit(end, TimeUnit::Weeks).map_err(|e| e.to_string())?;
            store.predict_customer_clv(&fit, &options, view.id()).map_err(|e| e.to_string())
        }
    }
}

/// The customer document of `GET /v1/customers/{key}` and `rapport customer --json`: the
/// profile of [`customer_json`], with `clv` when asked for and the customer has orders (the
/// prediction of [`customer_clv`] at `observation_end`, `null` without one, or `{"error": ...}`
/// when the models cannot be fitted) and, with `answers`, every survey answer under
/// `ratings.answers`.
pub fn customer_document(
    store: &Store,
    view: &CustomerView,
    clv: bool,
    observation_end: Option<Timestamp>,
    answers: bool,
) -> rapport::Result<Value> {
    let mut value = customer_json(view);
    if clv && view.profile.orders.count > 0 {
        {
            set(
                &mut value,
                "clv",
                match customer_clv(store, view, observation_end) {
                    Ok(Some(prediction)) => clv_json(&prediction),
                    Ok(None) => Value::Null,
                    Err(reason) => json!({"error": reason}),
                },
            );
        }
    }
    if answers {
        // Every survey answer with its reason (a label) and comment (revealed): what the
        // customer said, beside the latest scores.
        let answers = store.customer_ratings(&CustomerKey::Id(view.id()))?;
        if let Some(ratings) = value.get_mut("ratings") {
            set(ratings, "answers", Value::Array(answers.iter().map(rating_json).collect()));
        }
    }
    Ok(value)
}

/// One entry of a customer's timeline: position, stream, type, time and the event's fields.
pub fn timeline_entry_json(recorded: &RecordedEvent, event: &CxEvent) -> Value {
    json!({
        "position": recorded.position.0,
        "stream": recorded.stream,
        "type": event.event_type(),
        "at": rfc3339(recorded.data.occurred_at.0),
        "fields": event.to_json(),
    })
}

/// The JSON object of a CLV prediction.
pub fn clv_json(prediction: &ClvPrediction) -> Value {
    json!({
        "p_alive": prediction.p_alive,
        "expected_purchases": prediction.expected_purchases,
        "expected_average_spend": prediction.expected_average_spend,
        "clv": prediction.clv,
    })
}

fn minutes(value: Option<Minutes>, business: bool) -> Value {
    match value {
        Some(m) if business => json!(m.business),
        Some(m) => json!(m.calendar),
        None => Value::Null,
    }
}

/// The `metrics` object of a ticket (docs/metrics.md).
pub fn metrics_json(metrics: Option<&TicketMetrics>) -> Value {
    let Some(m) = metrics else { return Value::Null };
    json!({
        "first_reply_minutes": minutes(m.first_reply, false),
        "first_reply_business_minutes": minutes(m.first_reply, true),
        "first_resolution_minutes": minutes(m.first_resolution, false),
        "first_resolution_business_minutes": minutes(m.first_resolution, true),
        "full_resolution_minutes": minutes(m.full_resolution, false),
        "full_resolution_business_minutes": minutes(m.full_resolution, true),
        "requester_wait_minutes": m.requester_wait.calendar,
        "requester_wait_business_minutes": m.requester_wait.business,
        "agent_wait_minutes": m.agent_wait.calendar,
        "agent_wait_business_minutes": m.agent_wait.business,
        "on_hold_minutes": m.on_hold.calendar,
        "on_hold_business_minutes": m.on_hold.business,
        "reopens": m.reopens,
        "replies": m.replies,
        "group_stations": m.group_stations,
        "assignee_stations": m.assignee_stations,
        "one_touch": m.one_touch,
        "channels": m.channels,
        "bot_messages": m.bot_messages,
        "bot_handoff_minutes": minutes(m.bot_handoff, false),
        "bot_handoff_business_minutes": minutes(m.bot_handoff, true),
    })
}

/// A ticket of a listing (`GET /v1/tickets`, `rapport tickets`): [`ticket_json`] of the
/// ticket as the projection holds it, decrypting nothing (fast on any number of tickets): the
/// requester as its customer id — the pseudonym the projection holds means nothing outside the
/// store, and an erased requester's resolves to nobody (`null`) — and no subject
/// (`GET /v1/tickets/{id}` reveals both).
pub fn ticket_listing_json(store: &Store, ticket: &Ticket, metrics: Option<&TicketMetrics>) -> rapport::Result<Value> {
    let channels: Vec<String> = store.ticket_channels(ticket.id())?.iter().map(|c| c.to_string()).collect();
    let mut value = ticket_json(ticket, &channels, metrics);
    let customer = store.customer_id(&CustomerKey::Identity(ticket.requester().clone()))?;
    set(&mut value, "requester", json!(customer.map(|c| c.to_string())));
    set(&mut value, "subject", Value::Null);
    Ok(value)
}

/// The JSON object of a ticket (without its events).
pub fn ticket_json(ticket: &Ticket, channels: &[String], metrics: Option<&TicketMetrics>) -> Value {
    json!({
        "ticket_id": ticket.id().as_str(),
        "status": ticket.status().as_str(),
        "created_at": rfc3339(ticket.created_at().0),
        "updated_at": rfc3339(ticket.updated_at().0),
        "requester": ticket.requester().to_string(),
        "channel": ticket.created_channel().to_string(),
        "channels": channels,
        "subject": ticket.subject(),
        "priority": ticket.priority().map(|p| p.as_str()),
        "type": ticket.ticket_type().map(|t| t.as_str()),
        "topic": ticket.topic(),
        "group": ticket.group(),
        "assignee": ticket.assignee(),
        "tags": ticket.tags().iter().collect::<Vec<_>>(),
        "department": ticket.department(),
        "inquiry_type": ticket.inquiry_type(),
        "flags": ticket.flags().iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "follow_up_of": ticket.follow_up_of().map(TicketId::as_str),
        "merged_into": ticket.merged_into().map(TicketId::as_str),
        "merged_from": ticket.merged_from().iter().map(TicketId::as_str).collect::<Vec<_>>(),
        "customer_messages": ticket.customer_messages(),
        "public_replies": ticket.public_replies(),
        "internal_notes": ticket.internal_notes(),
        "events": ticket.events(),
        "metrics": metrics_json(metrics),
    })
}

/// Why routing chose this ticket for a customer message (`rapport.routing` metadata), so
/// that a wrong choice is explainable.
pub fn routing_reason(recorded: &RecordedEvent) -> Option<&str> {
    recorded.data.metadata.iter().find(|(key, _)| key == rapport::ROUTING_METADATA_KEY).map(|(_, value)| value.as_str())
}

/// The SLA clocks of a ticket: its policy and each target's outcome (`achieved`/`breached`
/// with the time, `active` with the time it runs out and the calendar minutes left at `now`);
/// `null` for a target the policy does not set, and without a policy.
pub fn ticket_sla_json(sla: Option<&TicketSla>, now: Timestamp) -> Value {
    let status = |s: Option<SlaStatus>| match s {
        None => Value::Null,
        Some(SlaStatus::Achieved { at }) => json!({"state": "achieved", "at": rfc3339(at)}),
        Some(SlaStatus::Breached { at }) => json!({"state": "breached", "at": rfc3339(at)}),
        Some(SlaStatus::Active { due }) => json!({
            "state": "active",
            "due": rfc3339(due),
            "remaining_minutes": due.saturating_sub(now.0) as f64 / 60e6,
        }),
    };
    match sla {
        None => Value::Null,
        Some(sla) => json!({
            "policy": sla.policy,
            "first_reply": status(sla.first_reply),
            "next_reply": status(sla.next_reply),
            "resolution": status(sla.resolution),
        }),
    }
}

/// The ticket document of `GET /v1/tickets/{id}` and `rapport ticket --json`: the ticket of
/// [`ticket_json`] as it stood (at `now` and as known at `known_at`), with its custom
/// `fields`, `sla` clocks and survey answers (`ratings`) and, with `history`, every event of
/// its stream (`history`: position, version, type, time, whether derived, the routing
/// reason, the fields).
pub fn ticket_document(
    store: &Store,
    ticket: &Ticket,
    now: Option<Timestamp>,
    known_at: Option<Timestamp>,
    history: bool,
) -> rapport::Result<Value> {
    let id = ticket.id();
    let scope = MetricsScope { known_at, ..Default::default() };
    let channels: Vec<String> = store.ticket_channels(id)?.iter().map(|c| c.to_string()).collect();
    let metrics = store.ticket_metrics_in(id, now, &scope)?;
    let fields = store.ticket_fields_in(id, &scope)?.unwrap_or_default();
    let mut value = ticket_json(ticket, &channels, metrics.as_ref());
    set(&mut value, "fields", json!(fields));
    // Time left on active clocks: from the time the clocks were measured at.
    let measured_at = match now {
        Some(now) => now,
        None => store.latest_event_at()?,
    };
    set(&mut value, "sla", ticket_sla_json(store.ticket_sla_in(id, now, &scope)?.as_ref(), measured_at));
    let mut ratings = store.ticket_ratings(id)?;
    ratings.retain(|rating| now.is_none_or(|t| rating.at <= t));
    set(&mut value, "ratings", Value::Array(ratings.iter().map(rating_json).collect()));
    if history {
        let mut events = store.ticket_history(id)?;
        events.retain(|(recorded, _)| {
            known_at.is_none_or(|t| recorded.recorded_at <= t) && now.is_none_or(|t| recorded.data.occurred_at <= t)
        });
        set(
            &mut value,
            "history",
            Value::Array(
                events
                    .iter()
                    .map(|(recorded, event)| {
                        json!({
                            "position": recorded.position.0,
                            "version": recorded.version.0,
                            "type": event.event_type(),
                            "at": rfc3339(recorded.data.occurred_at.0),
                            "derived": recorded.data.causation_id.is_some(),
                            "routing": routing_reason(recorded),
                            "fields": event.to_json(),
                        })
                    })
                    .collect(),
            ),
        );
    }
    Ok(value)
}

/// A survey answer about the ticket: score, reason (a label) and comment (personal, revealed).
pub fn rating_json(rating: &SurveyAnswer) -> Value {
    json!({
        "at": rfc3339(rating.at.0),
        "identity": rating.identity.to_string(),
        "survey": rating.survey.as_str(),
        "score": rating.score,
        "reason": rating.reason,
        "comment": rating.comment,
    })
}

fn drill(d: &Drill, with_ids: bool) -> Value {
    if with_ids {
        json!({"count": d.count, "tickets": d.tickets.iter().map(|t| t.as_str()).collect::<Vec<_>>()})
    } else {
        json!(d.count)
    }
}

fn quantiles_json(q: &Quantiles, ids: bool) -> Value {
    json!({
        "n": q.n,
        "tickets": drill(&q.tickets, ids),
        "median_minutes": q.calendar_median, "p90_minutes": q.calendar_p90,
        "median_business_minutes": q.business_median, "p90_business_minutes": q.business_p90,
    })
}

fn sla_json(s: &SlaCounts, ids: bool) -> Value {
    json!({
        "achieved": drill(&s.achieved, ids), "breached": drill(&s.breached, ids), "active": drill(&s.active, ids),
        "percent_achieved": s.percent_achieved,
    })
}

fn periods_json(rows: &[PeriodRow], ids: bool) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "period": r.period, "created": drill(&r.created, ids), "solved": drill(&r.solved, ids),
                    "created_change": r.created_change, "solved_change": r.solved_change,
                })
            })
            .collect(),
    )
}

fn satisfaction_json(s: &Satisfaction, ids: bool) -> Value {
    json!({
        "csat_responses": s.csat_responses, "csat_satisfied": s.csat_satisfied, "csat_percent": s.csat_percent,
        "nps_responses": s.nps_responses, "promoters": s.promoters, "detractors": s.detractors, "nps": s.nps,
        "ces_responses": s.ces_responses, "ces_mean": s.ces_mean, "tickets": drill(&s.tickets, ids),
    })
}

fn group_json(g: &GroupReport, ids: bool) -> Value {
    json!({
        "key": g.key,
        "keys": g.keys,
        "created": drill(&g.created, ids),
        "solved": drill(&g.solved, ids),
        "unsolved": drill(&g.unsolved, ids),
        "reopened": drill(&g.reopened, ids),
        "reopen_rate": g.reopen_rate,
        "one_touch": drill(&g.one_touch, ids),
        "one_touch_rate": g.one_touch_rate,
        "repeat_inquiry": drill(&g.repeat_inquiry, ids),
        "repeat_inquiry_rate": g.repeat_inquiry_rate,
        "durations": g.durations.iter().map(|(name, q)| ((*name).to_owned(), quantiles_json(q, ids))).collect::<serde_json::Map<_, _>>(),
        "response_rates": g.response_rates.iter().map(|(hours, d, share)| json!({
            "within_hours": hours, "tickets": drill(d, ids), "share": share,
        })).collect::<Vec<_>>(),
        "sla": {
            "first_reply": sla_json(&g.sla_first_reply, ids),
            "next_reply": sla_json(&g.sla_next_reply, ids),
            "resolution": sla_json(&g.sla_resolution, ids),
        },
        "satisfaction": satisfaction_json(&g.satisfaction, ids),
        "satisfaction_monthly": g.satisfaction_monthly.iter().map(|row| json!({
            "period": row.period, "satisfaction": satisfaction_json(&row.satisfaction, ids),
        })).collect::<Vec<_>>(),
        "daily": periods_json(&g.daily, ids),
        "weekly": periods_json(&g.weekly, ids),
        "monthly": periods_json(&g.monthly, ids),
        "backlog": g.backlog.iter().map(|row| json!({"day": row.day, "unsolved": drill(&row.unsolved, ids)})).collect::<Vec<_>>(),
        "throughput": g.throughput.iter().map(|t| json!({
            "agent": t.agent, "solved": t.solved, "tickets": drill(&t.tickets, ids), "active_days": t.active_days, "per_active_day": t.per_active_day,
        })).collect::<Vec<_>>(),
        "bots": {
            "tickets": drill(&g.bots.tickets, ids),
            "handoff": drill(&g.bots.handoff, ids),
            "handoff_rate": g.bots.handoff_rate,
            "solved": drill(&g.bots.solved, ids),
            "bot_resolved": drill(&g.bots.bot_resolved, ids),
            "bot_resolved_rate": g.bots.bot_resolved_rate,
        },
        "fcr": {"solved": drill(&g.fcr.solved, ids), "fcr": drill(&g.fcr.fcr, ids), "fcr_rate": g.fcr.fcr_rate},
    })
}

fn qa_scores_json(s: &QaScores) -> Value {
    json!({"reviews": s.reviews, "iqs": s.iqs, "failed_critical": s.failed_critical})
}

fn qa_json(qa: &QaReport) -> Value {
    let map = |m: &std::collections::BTreeMap<String, QaScores>| {
        m.iter().map(|(k, s)| (k.clone(), qa_scores_json(s))).collect::<serde_json::Map<_, _>>()
    };
    json!({
        "reviews": qa.all.reviews,
        "iqs": qa.all.iqs,
        "failed_critical": qa.all.failed_critical,
        "by_agent": map(&qa.by_agent),
        "by_group": map(&qa.by_group),
        "by_scorecard": map(&qa.by_scorecard),
        "by_month": map(&qa.by_month),
        "categories": qa.categories.iter().map(|(name, c)| (name.clone(), json!({
            "scored": c.scored, "passed": c.passed, "pass_rate": c.pass_rate, "mean_score": c.mean_score,
        }))).collect::<serde_json::Map<_, _>>(),
    })
}

fn surveys_json(surveys: &SurveyReport) -> Value {
    Value::Object(
        surveys
            .iter()
            .map(|(survey, c)| {
                (
                    survey.clone(),
                    json!({
                        "offered": c.offered, "answered": c.answered, "response_rate": c.response_rate,
                        "responses": c.responses, "unsolicited": c.unsolicited, "reasons": c.reasons,
                    }),
                )
            })
            .collect(),
    )
}

/// The text parameters of a metrics report (the CLI's flags, the API's query).
#[derive(Debug, Clone, Copy)]
pub struct ReportParams<'a> {
    /// Start of the period (inclusive; RFC 3339 or a date).
    pub from: Option<&'a str>,
    /// End of the period (exclusive).
    pub to: Option<&'a str>,
    /// When unsolved tickets are measured.
    pub now: Option<&'a str>,
    /// Dimensions to group by, outermost first (`channel`, `field:NAME`, ...).
    pub group_by: &'a [String],
    /// `DIMENSION=VALUE` filters, combined with AND.
    pub filters: &'a [String],
    /// The N of "response rate within N hours" (empty: the default 3, 6, 16, 24).
    pub within_hours: &'a [u32],
    /// First-contact-resolution window in days.
    pub fcr_days: u32,
}

impl ReportParams<'_> {
    /// The report query, or the parameter at fault (`from`, `group_by`, ...) and why.
    pub fn query(&self) -> Result<ReportQuery, (&'static str, String)> {
        let time = |name: &'static str, t: Option<&str>| t.map(parse_time).transpose().map_err(|e| (name, e));
        let mut dimensions = self
            .group_by
            .iter()
            .map(|g| g.parse::<Dimension>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("group_by", e.to_string()))?
            .into_iter();
        let filters = self
            .filters
            .iter()
            .map(|f| parse_filter(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("where", e.to_string()))?;
        let mut query = ReportQuery {
            from: time("from", self.from)?,
            to: time("to", self.to)?,
            now: time("now", self.now)?,
            group_by: dimensions.next(),
            then_by: dimensions.collect(),
            filters,
            fcr_window_days: self.fcr_days,
            ..ReportQuery::default()
        };
        if let (Some(from), Some(to)) = (query.from, query.to) {
            if to <= from {
                return Err(("to", "the end of the period must be after its start".into()));
            }
        }
        if !self.within_hours.is_empty() {
            query.response_hours = self.within_hours.to_vec();
        }
        query.validate().map_err(|e| ("query", e.to_string()))?;
        Ok(query)
    }
}

/// The JSON object of a report.
pub fn report_json(report: &Report, ids: bool) -> Value {
    json!({
        "from": report.from.map(|from| rfc3339(from.0)),
        "to": rfc3339(report.to.0),
        "rows_truncated": report.rows_truncated,
        "now": rfc3339(report.now.0),
        "groups": report.groups.iter().map(|g| group_json(g, ids)).collect::<Vec<_>>(),
        "surveys": surveys_json(&report.surveys),
        "qa": qa_json(&report.qa),
    })
}

/// The JSON form of one event: its payload revealed through the store (personal values, or
/// `[erased]`, `[expired]`, `[encrypted]`; never a pseudonym or a sealed blob as if it were the
/// value), and the raw bytes as `payload_base64`.
pub fn event_json(store: Option<&Store>, event: &RecordedEvent) -> serde_json::Value {
    let data = &event.data;
    let mut value = json!({
        "position": event.position.0,
        "stream": event.stream,
        "version": event.version.0,
        "event_id": data.id.to_string(),
        "type": data.event_type,
        "schema_version": data.schema_version,
        "recorded_at": rfc3339(event.recorded_at.0),
    });
    let Some(fields) = value.as_object_mut() else { return value };
    // The store's header holds its secret id key: shown as a note, never as bytes.
    if data.event_type == rapport::STORE_CREATED_TYPE {
        fields.insert(
            "payload".into(),
            json!({"note": "the store's header: format version and secret id key (not shown)"}),
        );
        return value;
    }
    let metadata: serde_json::Map<String, serde_json::Value> =
        data.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    // A Rapport event is printed as its revealed JSON form; anything else only as base64.
    // A first-release store (no store for it: `None`) holds no sealed value: decoded as it is.
    let payload = match store {
        Some(store) => store.reveal(event).map(|(event, _)| event.to_json()).ok(),
        None => rapport::events::codec::decode(&data.event_type, data.schema_version, &data.payload)
            .map(|event| event.to_json())
            .ok(),
    };
    let payload = payload.unwrap_or(serde_json::Value::Null);
    fields.insert("occurred_at".into(), json!(rfc3339(data.occurred_at.0)));
    fields.insert("correlation_id".into(), json!(data.correlation_id.map(|id| id.to_string())));
    fields.insert("causation_id".into(), json!(data.causation_id.map(|id| id.to_string())));
    fields.insert("metadata".into(), serde_json::Value::Object(metadata));
    fields.insert("payload".into(), payload);
    fields.insert("payload_base64".into(), json!(base64::engine::general_purpose::STANDARD.encode(&data.payload)));
    value
}

/// Sets `key` of a JSON object (the documents built here are objects; anything else is left
/// as it is).
fn set(value: &mut Value, key: &str, field: Value) {
    if let Value::Object(object) = value {
        object.insert(key.to_owned(), field);
    }
}
