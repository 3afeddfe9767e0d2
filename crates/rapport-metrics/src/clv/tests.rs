//! Tests of the CLV models: special functions against closed forms and mpmath values, the
//! optimizer on Rosenbrock, and the fits on the CDNOW data against the published estimates.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;

use chrono::NaiveDate;
use proptest::prelude::*;

use super::optimize::{minimize, NelderMeadOptions};
use super::special::{hyp2f1, hypergeometric, ln_gamma, log_add_exp};
use super::*;

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual} vs {expected} (tolerance {tolerance})");
}

fn assert_relative(actual: f64, expected: f64, relative: f64, what: &str) {
    assert_close(actual, expected, relative * expected.abs(), what);
}

// ---------------------------------------------------------------------------------------------
// Special functions

#[test]
fn ln_gamma_known_values() {
    // Shifting 0.5 up to 10.5 costs a few ulps of ln Γ(10.5) ≈ 13.9 (1.8e-15 each).
    assert_close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 4e-15, "ln Γ(1/2)");
    let mut factorial = 1.0_f64;
    for n in 1..=30_u32 {
        if n > 1 {
            factorial *= f64::from(n - 1);
        }
        let expected = factorial.ln();
        assert_close(ln_gamma(f64::from(n)), expected, 4e-15 + 1e-14 * expected, &format!("ln Γ({n}) = ln {}!", n - 1));
    }
    // mpmath.loggamma (30 digits), rounded to f64.
    for (x, expected) in [
        (0.001, 6.907_178_885_383_853),
        (0.243, 1.318_043_584_699_669_9),
        (1.5, -0.120_782_237_635_245_22),
        (3.7, 1.428_072_326_665_387_9),
        (10.0, 12.801_827_480_081_469),
        (123.456, 469.605_547_129_929_45),
        (1e6, 12_815_504.569_147_611),
    ] {
        assert_close(ln_gamma(x), expected, 4e-15 + 1e-14 * expected.abs(), &format!("ln Γ({x})"));
    }
    assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.5).is_nan() && ln_gamma(f64::NAN).is_nan());
}

#[test]
fn log_add_exp_is_stable() {
    assert_close(log_add_exp(0.0, 0.0), 2.0_f64.ln(), 1e-15, "ln 2");
    assert_close(log_add_exp(-1000.0, -1000.0), -1000.0 + 2.0_f64.ln(), 1e-12, "no underflow");
    assert_close(log_add_exp(1000.0, 0.0), 1000.0, 1e-12, "no overflow");
    assert_eq!(log_add_exp(f64::NEG_INFINITY, -3.0), -3.0);
}

#[test]
fn hyp2f1_closed_forms() {
    for z in [-0.9, -0.5, -1e-3, 1e-8, 0.1, 0.5, 0.9, 0.99, 0.999] {
        // ₂F₁(1, 1; 2; z) = −ln(1−z)/z
        assert_relative(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), -(-z).ln_1p() / z, 1e-13, &format!("2F1(1,1;2;{z})"));
        // ₂F₁(a, b; b; z) = (1−z)^(−a)
        assert_relative(hyp2f1(0.7, 2.5, 2.5, z).unwrap(), (1.0 - z).powf(-0.7), 1e-13, &format!("2F1(a,b;b;{z})"));
        // ₂F₁(½, 1; 3/2; −w²) = atan(w)/w, for z = −w² < 0
        if z < 0.0 {
            let w = (-z).sqrt();
            assert_relative(hyp2f1(0.5, 1.0, 1.5, z).unwrap(), w.atan() / w, 1e-14, &format!("2F1(½,1;3/2;{z})"));
        } else {
            // ₂F₁(½, ½; 3/2; w²) = asin(w)/w
            let w = z.sqrt();
            assert_relative(hyp2f1(0.5, 0.5, 1.5, z).unwrap(), w.asin() / w, 1e-13, &format!("2F1(½,½;3/2;{z})"));
        }
    }
    // Terminating series: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
    let (b, c, z) = (1.5, 2.5, 0.3);
    assert_relative(
        hyp2f1(-2.0, b, c, z).unwrap(),
        1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0)),
        1e-15,
        "terminating",
    );
    // mpmath.hyp2f1.
    assert_relative(hyp2f1(0.243, 2.426, 0.793 + 2.426 - 1.0, 0.9).unwrap(), 1.947_631_169_818_601_5, 1e-13, "BG/NBD");
    assert_relative(hyp2f1(2.5, 1.3, 4.1, -0.7).unwrap(), 0.641_322_315_209_339_8, 1e-14, "negative z");
    assert_relative(hyp2f1(0.2, 3.3, 1.1, 0.999).unwrap(), 1_522_485.499_808_655_6, 1e-11, "z near 1");
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0), Some(1.0));
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
    assert_eq!(hyp2f1(1.0, 1.0, -3.0, 0.5), None, "c a non-positive integer");
    // ₁F₀(a; ; z) = (1−z)^(−a)
    assert_relative(hypergeometric(&[1.7], &[], 0.4).unwrap(), 0.6_f64.powf(-1.7), 1e-14, "1F0");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ln_gamma_recurrence(x in 1e-3_f64..200.0) {
        // ln Γ(x+1) = ln Γ(x) + ln x
        let difference = ln_gamma(x + 1.0) - ln_gamma(x) - x.ln();
        prop_assert!(difference.abs() <= 1e-13 * (1.0 + ln_gamma(x + 1.0).abs()), "x = {x}: {difference}");
    }

    #[test]
    fn hyp2f1_euler_transformation(a in 0.05_f64..5.0, b in 0.05_f64..5.0, c in 0.1_f64..6.0, z in 0.0_f64..0.95) {
        // ₂F₁(a, b; c; z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z)
        let direct = hyp2f1(a, b, c, z).unwrap();
        let euler = (1.0 - z).powf(c - a - b) * hyp2f1(c - a, c - b, c, z).unwrap();
        prop_assert!((direct - euler).abs() <= 1e-10 * direct.abs().max(1.0), "{direct} vs {euler}");
    }

    #[test]
    fn p_alive_is_a_probability(x in 0.0_f64..50.0, recency_share in 0.0_f64..1.0, t in 0.0_f64..100.0) {
        let model = published();
        let p = model.p_alive(x.round(), recency_share * t, t);
        prop_assert!((0.0..=1.0).contains(&p), "{p}");
    }
}

// ---------------------------------------------------------------------------------------------
// Optimizer

#[test]
fn nelder_mead_minimizes_rosenbrock() {
    let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
    let minimum = minimize(rosenbrock, &[-1.2, 1.0], &NelderMeadOptions::default());
    assert!(minimum.converged);
    assert_close(minimum.x[0], 1.0, 1e-7, "x");
    assert_close(minimum.x[1], 1.0, 1e-7, "y");
    assert!(minimum.value < 1e-14, "{}", minimum.value);

    // Four-dimensional Rosenbrock, from the origin.
    let rosenbrock4 =
        |x: &[f64]| x.windows(2).map(|w| (1.0 - w[0]).powi(2) + 100.0 * (w[1] - w[0] * w[0]).powi(2)).sum::<f64>();
    let minimum = minimize(rosenbrock4, &[0.0; 4], &NelderMeadOptions::default());
    assert!(minimum.converged);
    for x in &minimum.x {
        assert_close(*x, 1.0, 1e-6, "x");
    }
}

#[test]
fn nelder_mead_treats_nan_as_infinite() {
    // The minimum of (x−2)² is outside the region where the objective is defined (x < 1).
    let objective = |x: &[f64]| if x[0] < 1.0 { (x[0] - 2.0).powi(2) } else { f64::NAN };
    let minimum = minimize(objective, &[0.0], &NelderMeadOptions::default());
    assert!(minimum.value.is_finite() && minimum.x[0] < 1.0 && minimum.x[0] > 0.999, "{minimum:?}");
}

// ---------------------------------------------------------------------------------------------
// CDNOW data, prepared as lifetimes.utils.summary_data_from_transaction_data

/// Directory of the shared data sets.
fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn day(date: &str) -> i64 {
    let date = NaiveDate::parse_from_str(date, "%Y%m%d").unwrap_or_else(|e| panic!("bad date {date}: {e}"));
    i64::from(chrono::Datelike::num_days_from_ce(&date))
}

/// The calibration-period RFM summary (1997-01-01 .. 1997-09-30 inclusive, in weeks) of a CDNOW
/// file: lines aggregated per customer per day (spend summed), frequency = purchase days − 1,
/// recency and T in days / 7, monetary = mean daily spend over the repeat purchase days.
fn cdnow_calibration(file: &str, header: bool, customer_column: usize) -> Vec<RfmInput> {
    let mut compressed = Vec::new();
    std::fs::File::open(data_dir().join(file))
        .and_then(|mut f| f.read_to_end(&mut compressed))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
    let end = day("19970930");
    let mut days: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for line in text.lines().skip(usize::from(header)) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let n = fields.len();
        let date = day(fields[n - 3]);
        let dollars: f64 = fields[n - 1].parse().unwrap();
        if date <= end {
            *days.entry(fields[customer_column].to_owned()).or_default().entry(date).or_insert(0.0) += dollars;
        }
    }
    days.values()
        .map(|spend| {
            let first = *spend.keys().next().unwrap();
            let last = *spend.keys().next_back().unwrap();
            let frequency = (spend.len() - 1) as f64;
            let repeat: f64 = spend.values().skip(1).sum();
            RfmInput {
                frequency,
                recency: (last - first) as f64 / 7.0,
                t: (end - first) as f64 / 7.0,
                monetary: if frequency > 0.0 { repeat / frequency } else { 0.0 },
            }
        })
        .collect()
}

fn cdnow_sample() -> Vec<RfmInput> {
    cdnow_calibration("cdnow-sample.txt.gz", false, 1)
}

/// The published estimates (Fader, Hardie & Lee 2005, Table 1).
fn published() -> BgNbd {
    BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, log_likelihood: -9582.4, customers: 2357 }
}

#[test]
fn cdnow_sample_preparation() {
    let data = cdnow_sample();
    assert_eq!(data.len(), 2357, "customers");
    assert_eq!(data.iter().filter(|c| c.frequency > 0.0).count(), 946, "customers with repeat purchases");
    assert_eq!(data.iter().map(|c| c.frequency).sum::<f64>(), 2457.0, "repeat purchase days");
    // Everybody first bought in Q1 1997: T between 1997-03-31 and 1997-01-01 to 1997-09-30.
    let (earliest, latest) = (day("19970930") - day("19970101"), day("19970930") - day("19970331"));
    assert!(data.iter().all(|c| c.t * 7.0 <= earliest as f64 + 1e-9 && c.t * 7.0 >= latest as f64 - 1e-9));
    assert!(data.iter().all(|c| c.recency <= c.t && (c.frequency > 0.0) == (c.monetary > 0.0)));
}

#[test]
fn bgnbd_likelihood_at_published_parameters() {
    let data = cdnow_sample();
    let ll = published().log_likelihood_of(&data).unwrap();
    assert_close(ll, -9582.4, 0.1, "log-likelihood at the published estimates");
}

#[test]
fn bgnbd_fit_reproduces_published_estimates() {
    let data = cdnow_sample();
    let model = fit_bgnbd(&data).unwrap();
    let expected = published();
    assert_relative(model.r, expected.r, 0.005, "r");
    assert_relative(model.alpha, expected.alpha, 0.005, "alpha");
    assert_relative(model.a, expected.a, 0.005, "a");
    assert_relative(model.b, expected.b, 0.005, "b");
    assert_close(model.log_likelihood, -9582.4, 0.1, "log-likelihood");
    assert_eq!(model.customers, 2357);
    // The maximum: no worse than the published (rounded) estimates.
    assert!(model.log_likelihood >= expected.log_likelihood_of(&data).unwrap());

    // lifetimes' README (BetaGeoFitter on the same data, t = 1 week): the top five customers.
    for (x, t_x, t, expected) in [
        (18.0, 35.14, 35.86, 0.424_877),
        (19.0, 34.00, 34.14, 0.474_738),
        (17.0, 28.43, 28.86, 0.486_526),
        (29.0, 37.71, 38.00, 0.662_396),
        (26.0, 30.86, 31.00, 0.710_623),
    ] {
        assert_relative(model.conditional_expected_purchases(1.0, x, t_x, t), expected, 1e-4, "E[Y(1)]");
    }
}

#[test]
fn gamma_gamma_fit_reproduces_published_estimates() {
    let data = cdnow_sample();
    let model = fit_gamma_gamma(&data).unwrap();
    assert_eq!(model.customers, 946);
    assert_relative(model.p, 6.25, 0.005, "p");
    assert_relative(model.q, 3.74, 0.005, "q");
    assert_relative(model.v, 15.44, 0.005, "v");
    assert!(model.log_likelihood >= model.log_likelihood_of(&data).unwrap() - 1e-9);
    let nearby = GammaGamma { p: model.p * 1.01, ..model };
    assert!(model.log_likelihood > nearby.log_likelihood_of(&data).unwrap());
    // lifetimes' documentation: E[M] of customer 1 (x = 2, m = 22.35) and of x = 0 customers.
    assert_relative(model.conditional_expected_average_profit(2.0, 22.35), 24.658_619, 2e-3, "E[M | 2, 22.35]");
    assert_relative(model.conditional_expected_average_profit(0.0, 0.0), 35.170_981, 2e-3, "E[M | 0]");
}

// ---------------------------------------------------------------------------------------------
// Predictions

#[test]
fn p_alive_properties() {
    let model = published();
    assert_eq!(model.p_alive(0.0, 0.0, 0.0), 1.0);
    assert_eq!(model.p_alive(0.0, 0.0, 40.0), 1.0);
    let mut previous = 1.0;
    for t in [5.0, 10.0, 20.0, 40.0, 80.0] {
        let p = model.p_alive(3.0, 5.0, t);
        assert!(p < previous && p > 0.0, "P(alive) at T = {t}: {p} after {previous}");
        previous = p;
    }
    // The formula, directly: 1 / (1 + a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)).
    let (x, t_x, t) = (2.0, 30.43, 38.86);
    let direct =
        1.0 / (1.0 + model.a / (model.b + x - 1.0) * ((model.alpha + t) / (model.alpha + t_x)).powf(model.r + x));
    assert_relative(model.p_alive(x, t_x, t), direct, 1e-14, "P(alive)");
    assert!(model.p_alive(1.0, 5.0, 4.0).is_nan(), "recency > T");
    assert!(model.p_alive(-1.0, 0.0, 4.0).is_nan());
}

/// Eq. 7 and eq. 10 as printed, with ₂F₁ evaluated directly.
fn textbook_conditional(model: &BgNbd, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
    let BgNbd { r, alpha, a, b, .. } = *model;
    let z = horizon / (alpha + t + horizon);
    let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z).unwrap();
    let numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ((alpha + t) / (alpha + t + horizon)).powf(r + x) * f);
    let odds = if x > 0.0 { a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x) } else { 0.0 };
    numerator / (1.0 + odds)
}

#[test]
fn expected_purchases_match_the_printed_formulas() {
    let model = published();
    for horizon in [0.5, 1.0, 10.0, 39.0, 78.0, 200.0] {
        assert_relative(
            model.expected_purchases(horizon),
            textbook_conditional(&model, horizon, 0.0, 0.0, 0.0),
            1e-11,
            &format!("E[X({horizon})]"),
        );
        for (x, t_x, t) in [(0.0, 0.0, 30.0), (2.0, 30.43, 38.86), (7.0, 20.0, 35.0), (25.0, 38.0, 38.5)] {
            assert_relative(
                model.conditional_expected_purchases(horizon, x, t_x, t),
                textbook_conditional(&model, horizon, x, t_x, t),
                1e-10,
                &format!("E[Y({horizon}) | {x}, {t_x}, {t}]"),
            );
        }
    }
    // Fader, Hardie & Lee (2005), section 4: a customer with x = 2, tₓ = 30.43, T = 38.86 is
    // expected to make 1.226 purchases in the next 39 weeks.
    assert_close(model.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86), 1.226, 5e-4, "E[Y(39)]");
}

#[test]
fn expected_purchases_properties() {
    let model = published();
    assert_eq!(model.expected_purchases(0.0), 0.0);
    // Near 0 a new customer buys at the mean rate r/α.
    assert_relative(model.expected_purchases(1e-6), model.r / model.alpha * 1e-6, 1e-5, "E[X(t)] ≈ rt/α");
    let mut previous = 0.0;
    for t in [0.1, 1.0, 5.0, 20.0, 52.0, 104.0, 520.0, 5200.0, 52_000.0] {
        let e = model.expected_purchases(t);
        assert!(e > previous, "E[X({t})] = {e} after {previous}");
        previous = e;
    }
    assert!(model.expected_purchases(-1.0).is_nan());
    // a = 1 exactly: the a → 1-safe form is continuous there.
    let at_one = BgNbd { a: 1.0, ..model };
    let value = at_one.expected_purchases(39.0);
    let around = (BgNbd { a: 1.0 + 1e-6, ..model }.expected_purchases(39.0)
        + BgNbd { a: 1.0 - 1e-6, ..model }.expected_purchases(39.0))
        / 2.0;
    assert!(value.is_finite());
    assert_relative(value, around, 1e-9, "E[X(39)] at a = 1");
    assert_relative(
        at_one.conditional_expected_purchases(39.0, 3.0, 20.0, 30.0),
        (BgNbd { a: 1.0 + 1e-6, ..model }.conditional_expected_purchases(39.0, 3.0, 20.0, 30.0)
            + BgNbd { a: 1.0 - 1e-6, ..model }.conditional_expected_purchases(39.0, 3.0, 20.0, 30.0))
            / 2.0,
        1e-9,
        "E[Y(39)] at a = 1",
    );
}

#[test]
fn customer_lifetime_value_follows_lifetimes() {
    let bgnbd = published();
    let gg = GammaGamma { p: 6.25, q: 3.74, v: 15.44, log_likelihood: f64::NAN, customers: 946 };
    let customer = RfmInput { frequency: 2.0, recency: 30.43, t: 38.86, monetary: 22.35 };
    // The definition, written out.
    let month = 30.0 / 7.0;
    let profit = gg.conditional_expected_average_profit(2.0, 22.35);
    let expected: f64 = (1..=12)
        .map(|i| {
            let i = f64::from(i);
            let purchases = bgnbd.conditional_expected_purchases(i * month, 2.0, 30.43, 38.86)
                - bgnbd.conditional_expected_purchases((i - 1.0) * month, 2.0, 30.43, 38.86);
            profit * purchases / 1.01_f64.powf(i)
        })
        .sum();
    let clv = customer_lifetime_value(&bgnbd, &gg, &customer, 12, 0.01, 7.0);
    assert_relative(clv, expected, 1e-12, "CLV");
    assert_eq!(customer_lifetime_value(&bgnbd, &gg, &customer, 0, 0.01, 7.0), 0.0);
    assert!(customer_lifetime_value(&bgnbd, &gg, &customer, 24, 0.01, 7.0) > clv);
    assert!(customer_lifetime_value(&bgnbd, &gg, &customer, 12, 0.05, 7.0) < clv);
    // Undiscounted, it is E[M] · E[Y(12 months)].
    assert_relative(
        customer_lifetime_value(&bgnbd, &gg, &customer, 12, 0.0, 7.0),
        profit * bgnbd.conditional_expected_purchases(12.0 * month, 2.0, 30.43, 38.86),
        1e-12,
        "undiscounted",
    );
    assert!(customer_lifetime_value(&bgnbd, &gg, &customer, 12, -1.0, 7.0).is_nan());
    assert!(customer_lifetime_value(&bgnbd, &gg, &customer, 12, 0.01, 0.0).is_nan());
}

#[test]
fn customer_lifetime_value_matches_lifetimes_documentation() {
    // lifetimes' documentation fits both models on the CDNOW summary (time in weeks) and calls
    // customer_lifetime_value(time=12, discount_rate=0.01) with the default freq="D": a "month"
    // of 30 time units, i.e. unit_days = 1 here. Customer 1 (x = 2, tₓ = 30.43, T = 38.86,
    // m = 22.35): 140.096218; customers with x = 0 and T = 38.86: 38.180575.
    let data = cdnow_sample();
    let bgnbd = fit_bgnbd(&data).unwrap();
    let gg = fit_gamma_gamma(&data).unwrap();
    let first = RfmInput { frequency: 2.0, recency: 30.43, t: 38.86, monetary: 22.35 };
    assert_relative(customer_lifetime_value(&bgnbd, &gg, &first, 12, 0.01, 1.0), 140.096_218, 5e-4, "CLV 1");
    let none = RfmInput { frequency: 0.0, recency: 0.0, t: 38.86, monetary: 0.0 };
    assert_relative(customer_lifetime_value(&bgnbd, &gg, &none, 12, 0.01, 1.0), 38.180_575, 5e-4, "CLV 3");
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn invalid_input_is_reported() {
    assert_eq!(fit_bgnbd(&[]), Err(ClvError::EmptyInput));
    assert_eq!(fit_gamma_gamma(&[]), Err(ClvError::EmptyInput));
    let good = RfmInput { frequency: 1.0, recency: 2.0, t: 3.0, monetary: 10.0 };
    let cases = [
        (RfmInput { frequency: f64::NAN, ..good }, "non-finite value"),
        (RfmInput { t: f64::INFINITY, ..good }, "non-finite value"),
        (RfmInput { frequency: -1.0, ..good }, "negative frequency"),
        (RfmInput { recency: -1.0, ..good }, "negative recency"),
        (RfmInput { recency: 4.0, ..good }, "recency greater than T"),
        (RfmInput { monetary: -4.0, ..good }, "negative monetary value"),
    ];
    for (bad, reason) in cases {
        let expected = ClvError::InvalidInput { index: 1, reason };
        assert_eq!(fit_bgnbd(&[good, bad]), Err(expected.clone()));
        assert_eq!(fit_gamma_gamma(&[good, bad]), Err(expected.clone()));
        assert_eq!(published().log_likelihood_of(&[good, bad]), Err(expected));
    }
    assert_eq!(
        fit_gamma_gamma(&[good, RfmInput { monetary: 0.0, ..good }]),
        Err(ClvError::InvalidInput { index: 1, reason: "monetary value must be positive when frequency > 0" })
    );
    let nobody = RfmInput { frequency: 0.0, recency: 0.0, t: 3.0, monetary: 0.0 };
    assert_eq!(fit_gamma_gamma(&[nobody, nobody]), Err(ClvError::NoRepeatCustomers));
    // Nobody came back: the likelihood grows as r → 0.
    assert_eq!(fit_bgnbd(&[nobody, RfmInput { t: 5.0, ..nobody }]), Err(ClvError::NoRepeatCustomers));
    // Everybody bought again at the very end: nothing says anybody dropped out (a → 0).
    let alive = [
        RfmInput { frequency: 1.0, recency: 3.0, t: 3.0, monetary: 10.0 },
        RfmInput { frequency: 4.0, recency: 10.0, t: 10.0, monetary: 10.0 },
        RfmInput { frequency: 2.0, recency: 7.0, t: 7.0, monetary: 10.0 },
    ];
    let result = fit_bgnbd(&alive);
    assert!(matches!(result, Err(ClvError::Degenerate { model: "BG/NBD", .. })), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Timing (release): cargo test -p rapport-metrics --release --lib clv::tests::fit_timing -- --ignored --nocapture

#[test]
#[ignore = "timing, run in release"]
fn fit_timing() {
    for (file, header, column) in [("cdnow-sample.txt.gz", false, 1), ("cdnow-master.txt.gz", true, 0)] {
        let data = cdnow_calibration(file, header, column);
        let started = Instant::now();
        let runs = 5;
        let mut model = None;
        for _ in 0..runs {
            model = Some(fit_bgnbd(&data).unwrap());
        }
        let bgnbd_time = started.elapsed() / runs;
        // The master file has repeat buyers whose repeat purchases were all $0.00: the spend model
        // needs positive values, so they are left out of its fit (as lifetimes' users do).
        let spenders: Vec<RfmInput> = data.iter().copied().filter(|c| c.frequency == 0.0 || c.monetary > 0.0).collect();
        let started = Instant::now();
        let gg = fit_gamma_gamma(&spenders).unwrap();
        let gg_time = started.elapsed();
        println!("{file}: {} customers; BG/NBD fit {bgnbd_time:?} (mean of {runs}): {model:?}", data.len());
        println!(
            "{file}: Gamma-Gamma fit {gg_time:?} ({} repeat buyers with $0 left out): {gg:?}",
            data.len() - spenders.len()
        );
    }
}

/// A Beta(a, b) near a point mass p = a/(a+b) (a fit on customers who all drop out with one
/// probability): the expectations tend to those of a fixed drop-out probability,
/// E[Y(h) | x, tₓ, T] → (1/p)·[1 − ((α+T)/(α+T+p·h))^(r+x)] / [1 + p/(1−p)·((α+T)/(α+tₓ))^(r+x)],
/// and must stay finite (the a → 1-safe form overflowed there).
#[test]
fn expectations_at_a_point_mass_beta_tend_to_a_fixed_dropout_probability() {
    let (r, alpha, p) = (1.29, 2.6, 0.6);
    for scale in [1e4, 1e6, 1e7] {
        let model = BgNbd { r, alpha, a: p * scale, b: (1.0 - p) * scale, log_likelihood: f64::NAN, customers: 1 };
        for horizon in [0.5, 4.3, 52.0] {
            for (x, t_x, t) in [(0.0, 0.0, 0.0), (0.0, 0.0, 30.0), (1.0, 10.0, 40.0), (3.0, 38.0, 38.5)] {
                let rx = r + x;
                let odds = if x > 0.0 { p / (1.0 - p) * ((alpha + t) / (alpha + t_x)).powf(rx) } else { 0.0 };
                let limit = (1.0 - ((alpha + t) / (alpha + t + p * horizon)).powf(rx)) / p / (1.0 + odds);
                let value = model.conditional_expected_purchases(horizon, x, t_x, t);
                assert_relative(
                    value,
                    limit,
                    200.0 / scale,
                    &format!("E[Y({horizon}) | {x}, {t_x}, {t}] at a + b = {scale}"),
                );
                assert_relative(value, textbook_conditional(&model, horizon, x, t_x, t), 1e-9, "as printed");
            }
        }
    }
}

#[test]
fn the_two_forms_agree_around_the_switch() {
    let model = published();
    for a in [1.5, 1.99, 2.0, 2.01, 3.0, 10.0] {
        let model = BgNbd { a, ..model };
        for (x, t_x, t) in [(0.0, 0.0, 0.0), (2.0, 30.43, 38.86), (7.0, 20.0, 35.0)] {
            assert_relative(
                model.conditional_expected_purchases(39.0, x, t_x, t),
                textbook_conditional(&model, 39.0, x, t_x, t),
                1e-10,
                &format!("a = {a}, x = {x}"),
            );
        }
    }
}
