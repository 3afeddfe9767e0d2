//! Opening the data files importers read: gzip-compressed when the name ends in `.gz`, plain
//! otherwise. One place, so that every importer (and the CLI) reads the same files the same way.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Opens `path` for reading, decompressing it when its name ends in `.gz`. The reader is not
/// buffered line-wise: wrap it in a `BufReader` to read lines.
pub fn open_data_file(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    Ok(if path.extension().is_some_and(|extension| extension == "gz") {
        Box::new(flate2::read::GzDecoder::new(BufReader::with_capacity(1 << 16, file)))
    } else {
        Box::new(file)
    })
}
