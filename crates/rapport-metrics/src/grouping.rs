//! Nested grouping and filters of the report: the keys of a ticket (and of a rating) for each
//! dimension, including a ticket's custom fields (`field:<name>`) and its requester's customer
//! facts (`trait:<name>`, `segment`, `organization`), which the caller resolves
//! ([`RequesterKeys`]: the metrics crate knows no customers).

use std::collections::BTreeMap;

use rapport_events::{Properties, TicketId};

use crate::error::MetricsError;
use crate::projection::{MetricsProjection, RatingRecord, TicketRecord};
use crate::report::{keys, rating_keys, Dimension, ReportQuery};

/// A ticket's custom fields: name -> JSON value (`ticket.fields_set`; JSON `null` clears).
pub type TicketFields = BTreeMap<String, serde_json::Value>;

/// Custom fields kept per ticket, at most; fields of new names beyond it are ignored.
pub const TICKET_FIELDS_MAX: usize = 256;

/// Dimensions of one report's grouping (`group_by` then `then_by`), at most.
pub const GROUP_BY_MAX: usize = 4;

/// `where` filters of one report, at most.
pub const FILTERS_MAX: usize = 16;

/// Keys of one ticket across the grouping dimensions (their product), at most; a ticket with
/// more (many tags under nested tag groupings) counts under the first ones.
pub const GROUP_KEYS_PER_TICKET_MAX: usize = 4_096;

/// The keys of the requester dimensions (`trait:<name>`, `segment`, `organization`) of a ticket,
/// answered by whoever holds the customers (the store); empty: `(none)`.
pub type RequesterKeys<'a> = dyn Fn(&TicketId, &Dimension) -> Vec<String> + 'a;

/// Merges a `ticket.fields_set` into a ticket's fields.
pub(crate) fn set_fields(fields: &mut TicketFields, set: &Properties) {
    for key in set.keys() {
        let Some(value) = set.get(key) else { continue };
        if value.is_null() {
            fields.remove(key);
        } else if fields.len() < TICKET_FIELDS_MAX || fields.contains_key(key) {
            fields.insert(key.to_owned(), value);
        }
    }
}

/// A field value as text: a JSON string without its quotes, anything else as compact JSON
/// (`42`, `true`, `["a","b"]`), as `Properties::text` gives it.
pub fn field_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn none_if_empty(mut keys: Vec<String>) -> Vec<String> {
    if keys.is_empty() {
        keys.push("(none)".to_owned());
    }
    keys
}

/// A ticket's keys for one dimension.
pub(crate) fn ticket_keys(
    projection: &MetricsProjection,
    record: &TicketRecord,
    dimension: &Dimension,
    requester: &RequesterKeys<'_>,
) -> Vec<String> {
    match dimension {
        Dimension::Field(name) => none_if_empty(
            projection.fields(&record.ticket_id).and_then(|f| f.get(name)).map(field_text).into_iter().collect(),
        ),
        Dimension::Trait(_) | Dimension::Segment | Dimension::Organization => {
            none_if_empty(requester(&record.ticket_id, dimension))
        }
        other => keys(record, Some(other)),
    }
}

/// A rating's keys for one dimension: the rating's own context for agent, group and channel,
/// else its ticket's keys (`(none)` without a ticket).
pub(crate) fn rating_dimension_keys(
    projection: &MetricsProjection,
    rating: &RatingRecord,
    dimension: &Dimension,
    requester: &RequesterKeys<'_>,
) -> Vec<String> {
    match dimension {
        Dimension::Field(_) | Dimension::Trait(_) | Dimension::Segment | Dimension::Organization => {
            match rating.ticket_id.as_ref().and_then(|t| projection.ticket(t)) {
                Some(record) => ticket_keys(projection, record, dimension, requester),
                None => vec!["(none)".to_owned()],
            }
        }
        other => rating_keys(rating, projection, Some(other)),
    }
}

/// Every dimension of the query, outermost first.
pub(crate) fn dimensions(query: &ReportQuery) -> Vec<&Dimension> {
    query.group_by.iter().chain(&query.then_by).take(GROUP_BY_MAX).collect()
}

/// The product of per-dimension keys: one tuple per group the item counts under (`["all"]`
/// without dimensions), at most [`GROUP_KEYS_PER_TICKET_MAX`].
pub(crate) fn product(per_dimension: Vec<Vec<String>>) -> Vec<Vec<String>> {
    if per_dimension.is_empty() {
        return vec![vec!["all".to_owned()]];
    }
    let mut tuples: Vec<Vec<String>> = vec![Vec::new()];
    for keys in per_dimension {
        let mut next = Vec::with_capacity(tuples.len() * keys.len());
        'outer: for tuple in &tuples {
            for key in &keys {
                if next.len() >= GROUP_KEYS_PER_TICKET_MAX {
                    break 'outer;
                }
                let mut longer = tuple.clone();
                longer.push(key.clone());
                next.push(longer);
            }
        }
        tuples = next;
    }
    tuples
}

impl ReportQuery {
    /// Checks the limits of the grouping and the filters ([`GROUP_BY_MAX`], [`FILTERS_MAX`]).
    pub fn validate(&self) -> Result<(), MetricsError> {
        let dimensions = usize::from(self.group_by.is_some()) + self.then_by.len();
        if dimensions > GROUP_BY_MAX {
            return Err(MetricsError::TooMany { what: "group-by dimensions", actual: dimensions, limit: GROUP_BY_MAX });
        }
        if self.filters.len() > FILTERS_MAX {
            return Err(MetricsError::TooMany {
                what: "where filters",
                actual: self.filters.len(),
                limit: FILTERS_MAX,
            });
        }
        Ok(())
    }
}

/// Parses a `where` filter `dimension=value` (`channel=email`, `field:plan=gold`).
pub fn parse_filter(text: &str) -> Result<(Dimension, String), MetricsError> {
    let (dimension, value) =
        text.split_once('=').ok_or_else(|| MetricsError::InvalidFilter { value: text.to_owned() })?;
    Ok((dimension.trim().parse()?, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_and_filters_parse() {
        assert_eq!("field:plan".parse::<Dimension>(), Ok(Dimension::Field("plan".into())));
        assert_eq!("trait:tier".parse::<Dimension>(), Ok(Dimension::Trait("tier".into())));
        assert_eq!("segment".parse::<Dimension>(), Ok(Dimension::Segment));
        assert!(matches!("field:".parse::<Dimension>(), Err(MetricsError::UnknownDimension { .. })));
        assert_eq!(parse_filter("field:plan=gold"), Ok((Dimension::Field("plan".into()), "gold".to_owned())));
        // Only the first `=` splits: values may hold one.
        assert_eq!(parse_filter("type=a=b"), Ok((Dimension::Type, "a=b".to_owned())));
        assert!(matches!(parse_filter("channel"), Err(MetricsError::InvalidFilter { .. })));
    }

    #[test]
    fn the_product_of_keys_is_every_tuple_in_order_and_bounded() {
        let keys = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(product(vec![]), vec![keys(&["all"])]);
        assert_eq!(
            product(vec![keys(&["a", "b"]), keys(&["x"]), keys(&["1", "2"])]),
            vec![keys(&["a", "x", "1"]), keys(&["a", "x", "2"]), keys(&["b", "x", "1"]), keys(&["b", "x", "2"])]
        );
        let many: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        let big = product(vec![many.clone(), many.clone(), many]);
        assert_eq!(big.len(), GROUP_KEYS_PER_TICKET_MAX);
    }

    #[test]
    fn fields_merge_clear_on_null_and_read_as_text() {
        let mut fields = TicketFields::new();
        let set = |json: serde_json::Value| serde_json::from_value::<Properties>(json).unwrap();
        set_fields(&mut fields, &set(serde_json::json!({"plan": "gold", "seats": 3, "tags": ["a"]})));
        set_fields(&mut fields, &set(serde_json::json!({"plan": null, "seats": 4})));
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["seats", "tags"]);
        assert_eq!(fields.get("seats").map(field_text).as_deref(), Some("4"));
        assert_eq!(fields.get("tags").map(field_text).as_deref(), Some(r#"["a"]"#));
        let query = ReportQuery { then_by: vec![Dimension::Tag; GROUP_BY_MAX], ..ReportQuery::default() };
        assert!(query.validate().is_ok(), "then_by alone may hold the limit");
        let query = ReportQuery { group_by: Some(Dimension::Tag), ..query };
        assert_eq!(
            query.validate(),
            Err(MetricsError::TooMany { what: "group-by dimensions", actual: 5, limit: GROUP_BY_MAX })
        );
    }
}
