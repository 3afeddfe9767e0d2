//! `rapport serve` as a process: it prints its address, serves with tokens from
//! `rapport token add`, logs requests without their values, and stops on SIGTERM with the store
//! closed (and everything it acknowledged in it).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::commands::{json_lines, ok, rapport, scenario_store};

fn call(request: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> (u16, String) {
    let mut response = request.call().unwrap();
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
}

#[test]
fn serve_with_tokens_logs_no_values_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let tokens = dir.path().join("tokens").display().to_string();
    let token = ok(&["token", "add", "console", "--scope", "admin", "--tokens", &tokens]).trim().to_owned();
    assert!(token.starts_with("rpt_"), "{token}");
    let bad = rapport(&["token", "add", "no spaces", "--scope", "read", "--tokens", &tokens]);
    assert_eq!(bad.status.code(), Some(2));
    let refused = rapport(&["serve", "--store", &store, "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));

    let mut server = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["serve", "--store", &store, "--listen", "127.0.0.1:0", "--tokens", &tokens, "--log-requests"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line}")).to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();

    // A customer looked up by e-mail: the address is in the path, never in the log.
    let customers = json_lines(&ok(&["customers", "--store", &store]));
    let email = customers
        .iter()
        .flat_map(|c| c["identities"].as_array().unwrap().iter())
        .map(|i| i.as_str().unwrap().to_owned())
        .find(|i| i.starts_with("email:"))
        .unwrap();
    let bearer = format!("Bearer {token}");
    let (status, body) =
        call(agent.get(format!("{address}/v1/customers/{email}?clv=false")).header("authorization", &bearer));
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(agent.get(format!("{address}/v1/customers/{email}")));
    assert_eq!(status, 401);
    let mut response = agent
        .post(format!("{address}/v1/events"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .send(r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:secret.person@example.com","channel":"email","body":"private words"}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let recorded: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let ticket = recorded["results"][0]["ticket_id"].as_str().unwrap().to_owned();

    let terminated = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    server.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("GET /v1/customers/{key} 200"), "{log}");
    assert!(log.contains("GET /v1/customers/{key} 401"), "{log}");
    assert!(log.contains("POST /v1/events 200"), "{log}");
    assert!(log.contains("console"), "the token's name is logged: {log}");
    for secret in [email.as_str(), "secret.person", "private words", token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} is in the log: {log}");
    }
    // Stopped: the lock is released and the acknowledged event is in the store.
    let shown = ok(&["ticket", &ticket, "--store", &store, "--json"]);
    assert!(shown.contains("secret.person@example.com"), "{shown}");
}
