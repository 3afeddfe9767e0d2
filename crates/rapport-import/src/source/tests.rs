//! The two passes on small inputs: capped lines (an endless line of zeros ends after the cap),
//! the second pass refusing lines the first did not check, and a spooled reader read twice.

use std::io::Read;

use super::*;

/// Zeros forever, counting the bytes handed out.
struct Zeros<'a>(&'a std::cell::Cell<u64>);

impl Read for Zeros<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
}

fn lines_of(pass: &mut Pass<'_>) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    while let Some(line_no) = pass.next_line(&mut buf)? {
        lines.push((line_no, buf.clone()));
    }
    Ok(lines)
}

#[test]
fn an_endless_line_of_zeros_ends_with_line_too_long_after_the_cap() {
    let read = std::cell::Cell::new(0);
    let cap = 4096;
    let mut pass = Pass::over_reader(Zeros(&read), cap).unwrap();
    let error = lines_of(&mut pass).unwrap_err();
    assert!(matches!(error, Error::LineTooLong { line: 1, limit_bytes: 4096, .. }), "{error:?}");
    assert!(read.get() <= (cap + READ_BUFFER_BYTES) as u64, "read {} bytes for a cap of {cap}", read.get());
}

#[test]
fn lines_at_the_cap_fit_and_one_more_byte_does_not() {
    let text = format!("{}\n{}", "a".repeat(8), "b".repeat(8));
    let lines = lines_of(&mut Pass::over_reader(text.as_bytes(), 8).unwrap()).unwrap();
    assert_eq!(lines, [(1, b"aaaaaaaa".to_vec()), (2, b"bbbbbbbb".to_vec())]);
    let text = format!("ok\n{}\n", "a".repeat(9));
    let error = lines_of(&mut Pass::over_reader(text.as_bytes(), 8).unwrap()).unwrap_err();
    assert!(matches!(error, Error::LineTooLong { line: 2, .. }), "{error:?}");
}

#[test]
fn a_spooled_reader_is_read_twice_and_finishes() {
    let text = "one\ntwo\n\ntwo\nlast";
    let mut first = Pass::over_reader(text.as_bytes(), 64).unwrap();
    let seen = lines_of(&mut first).unwrap();
    let mut second = first.again().unwrap();
    assert_eq!(lines_of(&mut second).unwrap(), seen);
    second.finish().unwrap();
}

#[test]
fn a_file_modified_between_the_passes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.txt");
    std::fs::write(&path, "alpha\nbravo\ncharlie\n").unwrap();
    // Same size and modification time, one line different: the second pass finds the line.
    let mut first = Pass::over_file(&path, 64).unwrap();
    lines_of(&mut first).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "alpha\nBRAVO\ncharlie\n").unwrap();
    File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
    let mut second = first.again().unwrap();
    let error = lines_of(&mut second).unwrap_err();
    assert!(matches!(error, Error::FileChanged { line: Some(2), .. }), "{error:?}");
    // A grown file is refused before the second pass reads anything.
    let mut first = Pass::over_file(&path, 64).unwrap();
    lines_of(&mut first).unwrap();
    std::fs::write(&path, "alpha\nBRAVO\ncharlie\ndelta\n").unwrap();
    let error = first.again().unwrap_err();
    assert!(matches!(error, Error::FileChanged { line: None, .. }), "{error:?}");
    // Lines swapped (same multiset, same stamp): the running hash at the end.
    let mut first = Pass::over_file(&path, 64).unwrap();
    lines_of(&mut first).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "BRAVO\nalpha\ncharlie\ndelta\n").unwrap();
    File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
    let mut second = first.again().unwrap();
    lines_of(&mut second).unwrap();
    let error = second.finish().unwrap_err();
    assert!(matches!(error, Error::FileChanged { line: None, .. }), "{error:?}");
}
