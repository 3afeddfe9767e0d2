//! The ISO 4217 currency table: every active code with its exponent (the number of fraction
//! digits of its minor unit). The one place the store learns how many decimals a currency has.
//! Codes ISO 4217 lists without a minor unit ("N.A.": gold, SDR, the test code `XTS`, `XXX`)
//! are whole units here (exponent 0).

/// `(code, exponent)`, sorted by code (a test checks it), from the ISO 4217 list of active
/// codes (amendment 179, 2025), plus `CUC` and `SLL` (withdrawn lately: their orders may
/// still be in a history).
static CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SLL", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XAG", 0),
    ("XAU", 0),
    ("XBA", 0),
    ("XBB", 0),
    ("XBC", 0),
    ("XBD", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XDR", 0),
    ("XOF", 0),
    ("XPD", 0),
    ("XPF", 0),
    ("XPT", 0),
    ("XSU", 0),
    ("XTS", 0),
    ("XUA", 0),
    ("XXX", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
    ("ZWL", 2),
];

/// The largest exponent of any currency in the table (`CLF`, `UYW`).
pub const CURRENCY_EXPONENT_MAX: u8 = 4;

/// The exponent of an ISO 4217 code (`KRW` 0, `USD` 2, `KWD` 3, `CLF` 4), `None` for a code
/// not in the table (the code must be upper case, as recorded).
pub fn currency_exponent(code: &str) -> Option<u8> {
    CURRENCIES.binary_search_by(|(c, _)| (*c).cmp(code)).ok().and_then(|idx| CURRENCIES.get(idx)).map(|(_, e)| *e)
}

/// The exponent used to read and print amounts of `code`: its ISO 4217 exponent, or 2 for a
/// code not in the table (only a first-release history can hold one: new orders in unknown
/// currencies are refused).
pub fn exponent_or_default(code: &str) -> u8 {
    currency_exponent(code).unwrap_or(2)
}

/// Every code in the table with its exponent, sorted by code.
pub fn currencies() -> impl Iterator<Item = (&'static str, u8)> {
    CURRENCIES.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for pair in CURRENCIES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
        for (code, exponent) in CURRENCIES {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(*exponent <= CURRENCY_EXPONENT_MAX, "{code}");
        }
        assert!(CURRENCIES.len() >= 170, "{}", CURRENCIES.len());
    }

    #[test]
    fn exponents_other_than_two_are_the_iso_ones() {
        let zero = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV"];
        let zero_x = ["XAF", "XOF", "XPF"];
        for code in zero.iter().chain(&zero_x) {
            assert_eq!(currency_exponent(code), Some(0), "{code}");
        }
        for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"] {
            assert_eq!(currency_exponent(code), Some(3), "{code}");
        }
        for code in ["CLF", "UYW"] {
            assert_eq!(currency_exponent(code), Some(4), "{code}");
        }
        for code in ["USD", "EUR", "GBP", "CNY", "INR", "MGA", "MRU"] {
            assert_eq!(currency_exponent(code), Some(2), "{code}");
        }
        assert_eq!(currency_exponent("usd"), None);
        assert_eq!(currency_exponent("ABC"), None);
        assert_eq!(exponent_or_default("ABC"), 2);
    }
}
