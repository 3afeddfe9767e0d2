//! The BPI 2013 mapping on hand-written rows: every status pair, impacts, the opening status of
//! a closed row, follow-up chains, unmatched rows, and the errors a bad row gives.

use super::*;

const HEADER: &str = "\u{feff}SR Number,Change Date+Time,Status,Sub Status,Activity,Activity Level,Involved ST Function Div,\
                      Involved Org line 3,Involved ST,Involved ST 2,ST Level,SR Latest Impact,Product,Country,Owner Country,\
                      Owner First Name,Resource";

/// A data row with the columns the import reads; the others are filler.
fn line(sr: &str, time: &str, status: &str, sub_status: &str, group: &str, resource: &str) -> String {
    format!("{sr},{time},{status},{sub_status},x,x,A2_4,Org line A2,{group},{group},L1,Medium,PROD582,fr,France,Anne,{resource}")
}

fn records(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap()).collect()
}

fn columns() -> Columns {
    Columns::from_header(&records(HEADER)[0]).unwrap()
}

fn row(text: &str) -> std::result::Result<Row, String> {
    parse_row(&columns(), &records(text)[0]).map_err(|fault| fault.reason)
}

/// Plans the rows in order; the events, or the first error with its row index.
fn plan(lines: &[String]) -> std::result::Result<(Vec<CxEvent>, BpiReport), (usize, String)> {
    let mut planner = RowPlanner::new(Ids::new(rapport::IdKey::from_bytes([1; 32])));
    let mut events = Vec::new();
    for (idx, text) in lines.iter().enumerate() {
        let (input, _) = row(text).and_then(|row| planner.plan(row)).map_err(|e| (idx, e))?;
        let Input::Event(event) = input else { panic!("the import submits events") };
        events.push(event);
    }
    Ok((events, planner.report))
}

#[test]
fn every_status_pair_of_the_log_maps() {
    let cases = [
        ("Accepted", "In Progress", RowStatus::Set(Status::Open)),
        ("Accepted", "Assigned", RowStatus::Set(Status::Open)),
        ("Queued", "Awaiting Assignment", RowStatus::Set(Status::Open)),
        ("Accepted", "Wait", RowStatus::Set(Status::Pending)),
        ("Accepted", "Wait - User", RowStatus::Set(Status::Pending)),
        ("Accepted", "Wait - Customer", RowStatus::Set(Status::Pending)),
        ("Accepted", "Wait - Implementation", RowStatus::Set(Status::Hold)),
        ("Accepted", "Wait - Vendor", RowStatus::Set(Status::Hold)),
        ("Completed", "Resolved", RowStatus::Set(Status::Solved)),
        ("Completed", "In Call", RowStatus::Set(Status::Solved)),
        ("Completed", "Cancelled", RowStatus::Set(Status::Solved)),
        ("Completed", "Closed", RowStatus::Set(Status::Closed)),
        ("Unmatched", "Unmatched", RowStatus::Unmatched),
    ];
    for (status, sub_status, expected) in cases {
        assert_eq!(map_status(status, sub_status), Some(expected), "{status}/{sub_status}");
    }
    for (status, sub_status) in [("Accepted", "Closed"), ("Completed", "In Progress"), ("accepted", "Wait"), ("", "")] {
        assert_eq!(map_status(status, sub_status), None, "{status}/{sub_status} accepted");
    }
}

#[test]
fn impacts_map_to_priorities() {
    let cases =
        [("Low", Priority::Low), ("Medium", Priority::Normal), ("High", Priority::High), ("Major", Priority::Urgent)];
    for (impact, priority) in cases {
        assert_eq!(map_impact(impact), Some(priority), "{impact}");
    }
    assert_eq!(map_impact("Critical"), None);
}

#[test]
fn a_closed_row_opens_its_ticket_closed() {
    assert_eq!(opening_status(RowStatus::Set(Status::Closed)), Some(Status::Closed));
    assert_eq!(opening_status(RowStatus::Set(Status::Hold)), Some(Status::Hold));
    assert_eq!(opening_status(RowStatus::Unmatched), None, "unmatched opens the ticket new");
}

#[test]
fn a_row_parses_into_the_mapped_fields() {
    let parsed =
        row(&line("1-364285768", "2010-03-31T15:59:42+01:00", "Accepted", "Wait - User", "V30", "fr-Anne")).unwrap();
    assert_eq!(parsed.sr, "1-364285768");
    assert_eq!(parsed.at, Timestamp(1_270_047_582_000_000), "15:59:42+01:00 is 14:59:42 UTC");
    assert_eq!(parsed.status, RowStatus::Set(Status::Pending));
    assert_eq!(parsed.activity, "Accepted/Wait - User");
    assert_eq!(parsed.group.as_deref(), Some("V30"));
    assert_eq!(parsed.assignee.as_deref(), Some("fr-Anne"));
    assert_eq!(parsed.priority, Priority::Normal);
    assert_eq!((parsed.product.as_str(), parsed.country.as_str()), ("PROD582", "fr"));
}

#[test]
fn bad_rows_name_what_is_wrong() {
    let ok = line("1-1", "2010-03-31T15:59:42+01:00", "Accepted", "In Progress", "V30", "fr-Anne");
    assert!(row(&ok).is_ok());
    let cases = [
        (ok.replace("1-1,", ",").to_string(), "empty \"SR Number\""),
        (ok.replace("2010-03-31T15:59:42+01:00", "31/03/2010 15:59"), "not an ISO 8601 time"),
        (ok.replace("2010-03-31T15:59:42+01:00", "2010-03-31T15:59:42"), "not an ISO 8601 time"),
        (ok.replace("In Progress", "Sleeping"), "unknown \"Status\"/\"Sub Status\" pair"),
        (ok.replace("Medium", "Critical"), "unknown \"SR Latest Impact\""),
        ("1-1,2010-03-31T15:59:42+01:00,Accepted".to_owned(), "3 fields"),
        (ok.replace("fr-Anne", &"x".repeat(FIELD_BYTES_MAX + 1)), "over the limit"),
    ];
    for (text, expected) in cases {
        let error = row(&text).unwrap_err();
        assert!(error.contains(expected), "{text:?}: {error:?} does not say {expected:?}");
    }
    let missing = Columns::from_header(&records("SR Number,Status")[0]).unwrap_err();
    assert!(missing.contains("Change Date+Time"), "{missing}");
}

#[test]
fn later_rows_update_what_changed() {
    let lines = [
        line("1-1", "2010-01-01T10:00:00+01:00", "Queued", "Awaiting Assignment", "V30", "fr-Anne"),
        line("1-1", "2010-01-01T11:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
        line("1-1", "2010-01-01T12:00:00+01:00", "Accepted", "Wait - Vendor", "V5 3rd", "fr-Anne"),
        line("1-1", "2010-01-01T13:00:00+01:00", "Unmatched", "Unmatched", "V5 3rd", "se-Lena"),
    ];
    let (events, report) = plan(&lines).unwrap();
    let CxEvent::TicketOpened(opened) = &events[0] else { panic!("{:?}", events[0]) };
    assert_eq!(opened.requester.to_string(), "external:bpi2013:1-1");
    assert_eq!(opened.channel.to_string(), "other:servicedesk");
    assert_eq!(opened.status, Some(Status::Open));
    assert_eq!(opened.priority, Some(Priority::Normal));
    assert_eq!(opened.tags, ["product:PROD582", "country:fr"]);
    let updates: Vec<&TicketUpdated> = events[1..]
        .iter()
        .map(|e| match e {
            CxEvent::TicketUpdated(update) => update,
            other => panic!("{other:?}"),
        })
        .collect();
    // Same status, group and assignee: only the activity.
    assert_eq!((updates[0].status, &updates[0].group, &updates[0].assignee), (None, &None, &None));
    assert_eq!(updates[0].activity.as_deref(), Some("Accepted/In Progress"));
    assert_eq!((updates[1].status, updates[1].group.as_deref()), (Some(Status::Hold), Some("V5 3rd")));
    assert_eq!(updates[1].assignee, None);
    assert_eq!((updates[2].status, updates[2].assignee.as_deref()), (None, Some("se-Lena")));
    assert_eq!(updates[2].activity.as_deref(), Some("Unmatched/Unmatched"));
    assert_eq!((report.rows, report.tickets, report.follow_ups, report.unmatched), (4, 1, 0, 1));
}

#[test]
fn rows_after_closed_open_a_chain_of_follow_ups() {
    let lines = [
        line("1-7", "2010-01-01T10:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
        line("1-7", "2010-01-02T10:00:00+01:00", "Completed", "Closed", "V30", "fr-Anne"),
        line("1-7", "2010-01-03T10:00:00+01:00", "Unmatched", "Unmatched", "V30", "fr-Anne"),
        line("1-7", "2010-01-04T10:00:00+01:00", "Completed", "Closed", "V30", "fr-Anne"),
        // A second close right after a close: the next follow-up, opened closed.
        line("1-7", "2010-01-05T10:00:00+01:00", "Completed", "Closed", "V31", "fr-Anne"),
        line("1-7", "2010-01-06T10:00:00+01:00", "Accepted", "In Progress", "V31", "fr-Anne"),
    ];
    let (events, report) = plan(&lines).unwrap();
    let opened: Vec<(&str, Option<&str>, Option<Status>)> = events
        .iter()
        .filter_map(|e| match e {
            CxEvent::TicketOpened(o) => {
                Some((o.ticket_id.as_str(), o.follow_up_of.as_ref().map(TicketId::as_str), o.status))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [
            ("1-7", None, Some(Status::Open)),
            ("1-7-f1", Some("1-7"), None),
            ("1-7-f2", Some("1-7-f1"), Some(Status::Closed)),
            ("1-7-f3", Some("1-7-f2"), Some(Status::Open)),
        ]
    );
    assert_eq!(events.len(), lines.len(), "one event per row");
    let CxEvent::TicketUpdated(close) = &events[3] else { panic!("{:?}", events[3]) };
    assert_eq!((close.ticket_id.as_str(), close.status), ("1-7-f1", Some(Status::Closed)));
    assert_eq!((report.tickets, report.follow_ups, report.unmatched), (4, 3, 1));
}

#[test]
fn rows_out_of_time_order_and_clashing_ids_are_errors() {
    let back = [
        line("1-1", "2010-01-02T10:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
        line("1-1", "2010-01-01T10:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
    ];
    let (idx, error) = plan(&back).unwrap_err();
    assert_eq!(idx, 1);
    assert!(error.contains("goes back in time"), "{error}");
    let clash = [
        line("1-1", "2010-01-01T10:00:00+01:00", "Completed", "Closed", "V30", "fr-Anne"),
        line("1-1-f1", "2010-01-01T10:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
        line("1-1", "2010-01-02T10:00:00+01:00", "Accepted", "In Progress", "V30", "fr-Anne"),
    ];
    let (idx, error) = plan(&clash).unwrap_err();
    assert_eq!(idx, 2);
    assert!(error.contains("opened twice"), "{error}");
}

#[test]
fn a_line_splits_into_its_csv_fields_as_the_csv_crate_reads_them() {
    let lines = [
        "1-364285768,2010-03-31T15:59:42+01:00,Accepted,In Progress",
        r#"a,"b, with a comma","c ""quoted""",,"""#.trim_end_matches('"'),
        r#""",x,"""#,
        "\u{feff}SR Number,Change Date+Time\r\n",
        "",
        "trailing,",
    ];
    for line in lines {
        let mut ours = csv::StringRecord::new();
        record_of(line.as_bytes(), &mut ours).unwrap();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
        let mut theirs = csv::StringRecord::new();
        if !reader.read_record(&mut theirs).unwrap() {
            theirs.push_field("");
        }
        assert_eq!(ours, theirs, "{line:?}");
    }
    let mut record = csv::StringRecord::new();
    assert!(record_of(br#"a,"not closed"#, &mut record).is_err());
}
