//! The master key file: strict parsing, never overwritten, owner-only.

use rapport_vault::{Error, MasterKey};

#[test]
fn write_new_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let written = MasterKey::write_new(&path).unwrap();
    assert_eq!(MasterKey::read(&path).unwrap(), written);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, written.to_file_text());
    assert!(text.starts_with("rapport-master-key 1\n") && text.ends_with('\n') && text.len() == 21 + 65);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn write_new_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    std::fs::write(&path, b"precious").unwrap();
    let result = MasterKey::write_new(&path);
    assert!(matches!(result, Err(Error::MasterKeyExists { ref path }) if path.ends_with("master.key")), "{result:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn read_refuses_malformed_files_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = MasterKey::from_bytes([0xa5; 32]).to_file_text();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("no final newline", good.trim_end().as_bytes().to_vec()),
        ("wrong title", good.replace("key 1", "key 2").into_bytes()),
        ("upper case", good.replace("a5", "A5").into_bytes()),
        ("short key", good.replacen("a5", "", 1).into_bytes()),
        ("extra line", format!("{good}\n").into_bytes()),
        ("crlf", good.replace('\n', "\r\n").into_bytes()),
        ("not utf-8", vec![0xff; 40]),
        ("too large", vec![b'a'; 2000]),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name.replace(' ', "-"));
        std::fs::write(&path, &bytes).unwrap();
        match MasterKey::read(&path) {
            Err(error @ Error::MasterKeyFile { .. }) => {
                let message = error.to_string();
                assert!(message.contains(&*path.to_string_lossy()), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let path = dir.path().join("good");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(MasterKey::read(&path).unwrap(), MasterKey::from_bytes([0xa5; 32]));
    assert!(matches!(MasterKey::read(&dir.path().join("missing")), Err(Error::Io { .. })));
}

#[test]
fn debug_prints_no_key_bytes() {
    let key = MasterKey::from_bytes([0x5a; 32]);
    let text = format!("{key:?}");
    assert!(!text.contains("5a") && !text.contains("90"), "{text}");
}

#[test]
fn generated_keys_differ() {
    assert_ne!(MasterKey::generate().unwrap(), MasterKey::generate().unwrap());
}
