//! Customer lifetime value: the BG/NBD purchase model, the Gamma-Gamma spend model, and CLV over
//! a horizon of months, as in Fader, Hardie & Lee and the `lifetimes` Python package.
//!
//! Every customer is summarized as an [`RfmInput`] in a time unit the caller chooses (days or
//! weeks; the fitted α and every time argument are in that unit): `frequency` x = repeat purchases
//! (distinct purchase days − 1), `recency` tₓ = last purchase − first purchase, `t` T = end of
//! observation − first purchase, `monetary` m̄ₓ = mean spend of the repeat purchases (0 when x = 0).
//!
//! # Equations
//!
//! **BG/NBD** — Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "“Counting Your Customers” the
//! Easy Way: An Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275–284; the
//! same formulas as `lifetimes.BetaGeoFitter`. While alive, a customer buys at Poisson rate
//! λ ~ Gamma(r, α); after each purchase they drop out with probability p ~ Beta(a, b).
//!
//! ```text
//! Likelihood of one customer (eq. 6), computed in log space with log-sum-exp:
//!   L(r, α, a, b | x, tₓ, T) = B(a, b+x)/B(a, b) · Γ(r+x)/Γ(r) · αʳ/(α+T)^(r+x)
//!                            + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x)/Γ(r) · αʳ/(α+tₓ)^(r+x)
//!   fitted by maximizing Σ ln Lᵢ over r, α, a, b > 0 (Nelder–Mead in log-parameters from all
//!   ones, restarted from its best point until the log-likelihood stops improving).
//!
//! Expected repeat purchases of a new customer in (0, t] (eq. 7):
//!   E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))ʳ · ₂F₁(r, b; a+b−1; t/(α+t))]
//!
//! Probability of being alive at T (appendix; lifetimes' conditional_probability_alive):
//!   P(alive | x, tₓ, T) = 1 / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)]
//!
//! Expected purchases in (T, T+t] (eq. 10; eq. 7 is its case x = 0, T = 0):
//!   E[Y(t) | x, tₓ, T] = (a+b+x−1)/(a−1)
//!                          · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
//!                        / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)]
//! ```
//!
//! Below a = 2 both expectations are evaluated in an equivalent form that is exact at a = 1 and
//! never forms large ₂F₁ values (from a = 2 on, as printed: see `DIRECT_FORM_FROM_A`). With z = t/(α+T+t), Euler's transformation ₂F₁(A, B; C; z) =
//! (1−z)^(C−A−B) · ₂F₁(C−A, C−B; C; z) turns the bracket into
//! 1 − (1−z)^(a−1) · ₂F₁(a+b−1−r, a−1; a+b+x−1; z); writing ₂F₁(A′, ε; C; z) = 1 + ε·S with
//! ε = a − 1, A′ = a+b−1−r, C = a+b+x−1 and S = A′z/C · ₃F₂(A′+1, 1+ε, 1; C+1, 2; z), the
//! numerator is C · [−expm1(ε·ln(1−z))/ε − (1−z)^ε · S], whose first term is −ln(1−z) at ε = 0.
//! The hypergeometric series are summed directly (|z| < 1).
//!
//! **Gamma-Gamma** — Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "RFM and CLV: Using
//! Iso-Value Curves for Customer Base Analysis", *Journal of Marketing Research* 42(4), 415–430,
//! and Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value"; the same formulas as
//! `lifetimes.GammaGammaFitter`. Each transaction value is Gamma(p, ν), ν ~ Gamma(q, v); fitted
//! on the customers with x > 0, with m = their mean repeat spend.
//!
//! ```text
//! ln Lᵢ = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(xm+v)
//! E[M | x, m] = (q−1)/(px+q−1) · vp/(q−1) + px/(px+q−1) · m   (computed as (vp + pxm)/(px+q−1))
//! ```
//!
//! **CLV** — lifetimes' `customer_lifetime_value`, with a month of 30 days (30/`unit_days` model
//! time units), a horizon of H months and a monthly discount rate d:
//!
//! ```text
//! CLV = Σ_{i=1..H} E[M | x, m] · (E[Y(i·month) | x, tₓ, T] − E[Y((i−1)·month) | x, tₓ, T]) / (1+d)ⁱ
//! ```
//!
//! Special functions (ln Γ, the hypergeometric series) and the optimizer are implemented here;
//! see the private `special` and `optimize` modules.

mod optimize;
mod special;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use self::optimize::{minimize, NelderMeadOptions};
use self::special::{hypergeometric, ln_gamma, log_add_exp};

/// A fitted log-parameter beyond ±this (a parameter below 1.4e-11 or above 7.2e10) is taken for a
/// parameter running off to 0 or ∞: the likelihood has no interior maximum. (Where the likelihood
/// tends to a supremum, the search stops once it is flat to `f_tol`, around ±30.)
const LOG_PARAMETER_EDGE: f64 = 25.0;
/// From this a on, the BG/NBD expectations are evaluated as printed (eq. 10): 1/(a − 1) is at most
/// 1 there, and ₂F₁(r+x, b+x; a+b+x−1; z) converges at about the rate b/(a+b)·z since its third
/// parameter exceeds its second. Below it the a → 1-safe form is used, whose ₃F₂ has the
/// parameter a: when a is large (a Beta near a point mass, a ≈ 10⁷ on a generated store whose
/// customers all drop out with one probability) that series grows like e^(a·z) and overflows.
const DIRECT_FORM_FROM_A: f64 = 2.0;
/// The objective rejects log-parameters beyond ±this.
const LOG_PARAMETER_BOUND: f64 = 40.0;

/// One customer's purchase summary (RFM), in a time unit of the caller's choice (days or weeks).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmInput {
    /// x: number of repeat purchases (distinct purchase days − 1).
    pub frequency: f64,
    /// tₓ: time of the last purchase − time of the first purchase (0 when x = 0).
    pub recency: f64,
    /// T: end of the observation period − time of the first purchase.
    pub t: f64,
    /// Mean spend of the repeat purchases (the first purchase excluded); 0 when x = 0.
    pub monetary: f64,
}

/// Why a CLV model could not be fitted or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClvError {
    /// No customers were given.
    #[error("no customers to fit")]
    EmptyInput,
    /// Both models need customers with a repeat purchase (frequency > 0).
    #[error("no customer with a repeat purchase (frequency > 0): nothing to fit on")]
    NoRepeatCustomers,
    /// A customer's summary is invalid.
    #[error("customer {index}: {reason}")]
    InvalidInput {
        /// Position of the customer in the input slice.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The optimizer did not meet its stopping rule within its budget.
    #[error("{model}: the maximum-likelihood search did not converge ({evaluations} likelihood evaluations)")]
    NotConverged {
        /// "BG/NBD" or "Gamma-Gamma".
        model: &'static str,
        /// Likelihood evaluations spent.
        evaluations: usize,
    },
    /// The likelihood has no interior maximum: a parameter runs off to 0 or infinity (for example
    /// when no customer ever made a repeat purchase).
    #[error("{model}: the likelihood has no interior maximum (parameter {parameter} tends to 0 or infinity)")]
    Degenerate {
        /// "BG/NBD" or "Gamma-Gamma".
        model: &'static str,
        /// The parameter at the edge.
        parameter: &'static str,
    },
}

/// A fitted BG/NBD model (Fader, Hardie & Lee 2005). Times are in the unit of the data it was
/// fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Scale (rate parameter) of the Gamma distribution of purchase rates, in time units.
    pub alpha: f64,
    /// First shape of the Beta distribution of drop-out probabilities.
    pub a: f64,
    /// Second shape of the Beta distribution of drop-out probabilities.
    pub b: f64,
    /// The full sample log-likelihood Σ ln Lᵢ at these parameters.
    pub log_likelihood: f64,
    /// Number of customers fitted on.
    pub customers: usize,
}

/// A fitted Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of the Gamma distribution of a transaction's value.
    pub p: f64,
    /// Shape of the Gamma distribution of the customers' ν.
    pub q: f64,
    /// Scale (rate parameter) of the Gamma distribution of the customers' ν, in money.
    pub v: f64,
    /// The full log-likelihood Σ ln Lᵢ over the customers with frequency > 0.
    pub log_likelihood: f64,
    /// Number of customers fitted on (those with frequency > 0).
    pub customers: usize,
}

/// Checks every summary: finite, non-negative, recency ≤ T.
fn validate(data: &[RfmInput]) -> Result<(), ClvError> {
    if data.is_empty() {
        return Err(ClvError::EmptyInput);
    }
    for (index, customer) in data.iter().enumerate() {
        let invalid = |reason| Err(ClvError::InvalidInput { index, reason });
        if ![customer.frequency, customer.recency, customer.t, customer.monetary].iter().all(|v| v.is_finite()) {
            return invalid("non-finite value");
        }
        if customer.frequency < 0.0 {
            return invalid("negative frequency");
        }
        if customer.recency < 0.0 {
            return invalid("negative recency");
        }
        if customer.recency > customer.t {
            return invalid("recency greater than T");
        }
        if customer.monetary < 0.0 {
            return invalid("negative monetary value");
        }
    }
    Ok(())
}

/// Customers with the same (tₓ, T) within one frequency, weighted by their count.
#[derive(Debug)]
struct FrequencyGroup {
    /// x.
    frequency: f64,
    /// (tₓ, T, number of customers).
    cells: Vec<(f64, f64, f64)>,
}

/// The BG/NBD data, deduplicated: the likelihood depends on (x, tₓ, T) only, and Γ terms on x.
#[derive(Debug)]
struct BgNbdData {
    groups: Vec<FrequencyGroup>,
    customers: usize,
}

impl BgNbdData {
    fn new(data: &[RfmInput]) -> Result<Self, ClvError> {
        validate(data)?;
        // Keys on bit patterns of non-negative floats (+0.0 normalized) order like the numbers.
        let mut counts: BTreeMap<(u64, u64, u64), f64> = BTreeMap::new();
        for customer in data {
            let frequency = customer.frequency + 0.0;
            let recency = if frequency > 0.0 { customer.recency + 0.0 } else { 0.0 };
            *counts.entry((frequency.to_bits(), recency.to_bits(), (customer.t + 0.0).to_bits())).or_insert(0.0) += 1.0;
        }
        let mut groups: Vec<FrequencyGroup> = Vec::new();
        for ((frequency, recency, t), count) in counts {
            let frequency = f64::from_bits(frequency);
            let cell = (f64::from_bits(recency), f64::from_bits(t), count);
            match groups.last_mut() {
                Some(group) if group.frequency == frequency => group.cells.push(cell),
                _ => groups.push(FrequencyGroup { frequency, cells: vec![cell] }),
            }
        }
        Ok(Self { groups, customers: data.len() })
    }

    /// Whether any customer made a repeat purchase: without one the likelihood increases as
    /// r → 0 and has no maximum.
    fn has_repeat_customers(&self) -> bool {
        self.groups.iter().any(|group| group.frequency > 0.0)
    }

    /// Σ ln Lᵢ (eq. 6).
    fn log_likelihood(&self, r: f64, alpha: f64, a: f64, b: f64) -> f64 {
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let parameter_terms = r * ln_alpha - ln_gamma(r) + ln_gamma(a + b) - ln_gamma(b);
        let mut total = 0.0;
        for group in &self.groups {
            let x = group.frequency;
            let rx = r + x;
            // ln[Γ(r+x)/Γ(r) · αʳ · B(a, b+x)/B(a, b)]
            let common = parameter_terms + ln_gamma(rx) + ln_gamma(b + x) - ln_gamma(a + b + x);
            // ln[B(a+1, b+x−1)/B(a, b+x)] = ln[a/(b+x−1)]
            let dropout = (x > 0.0).then(|| ln_a - (b + x - 1.0).ln());
            for &(recency, t, count) in &group.cells {
                let still_alive = -rx * (alpha + t).ln();
                let ln_l = match dropout {
                    Some(dropout) => log_add_exp(still_alive, dropout - rx * (alpha + recency).ln()),
                    None => still_alive,
                };
                total += count * (common + ln_l);
            }
        }
        total
    }
}

/// Maximizes `log_likelihood` over positive parameters, from all ones, in log space.
fn fit_log_parameters<const N: usize>(
    model: &'static str,
    names: [&'static str; N],
    customers: usize,
    log_likelihood: impl Fn([f64; N]) -> f64,
) -> Result<[f64; N], ClvError> {
    let scale = 1.0 / customers.max(1) as f64;
    let objective = |theta: &[f64]| -> f64 {
        let mut parameters = [0.0; N];
        for (parameter, value) in parameters.iter_mut().zip(theta) {
            if value.abs() > LOG_PARAMETER_BOUND {
                return f64::INFINITY;
            }
            *parameter = value.exp();
        }
        // The mean negative log-likelihood, so that the tolerances do not depend on the sample size.
        -log_likelihood(parameters) * scale
    };
    let minimum = minimize(objective, &[0.0; N], &NelderMeadOptions::default());
    if !minimum.converged || !minimum.value.is_finite() {
        return Err(ClvError::NotConverged { model, evaluations: minimum.evaluations });
    }
    let mut parameters = [0.0; N];
    for ((parameter, theta), name) in parameters.iter_mut().zip(&minimum.x).zip(names) {
        if theta.abs() > LOG_PARAMETER_EDGE {
            return Err(ClvError::Degenerate { model, parameter: name });
        }
        *parameter = theta.exp();
    }
    Ok(parameters)
}

/// Fits the BG/NBD model by maximum likelihood (eq. 6 of Fader, Hardie & Lee 2005) over
/// r, α, a, b > 0.
///
/// Errors: [`ClvError::EmptyInput`], [`ClvError::InvalidInput`] (non-finite or negative values,
/// recency > T), [`ClvError::NoRepeatCustomers`], [`ClvError::NotConverged`],
/// [`ClvError::Degenerate`] (a parameter runs off to 0 or ∞).
pub fn fit_bgnbd(data: &[RfmInput]) -> Result<BgNbd, ClvError> {
    let prepared = BgNbdData::new(data)?;
    if !prepared.has_repeat_customers() {
        return Err(ClvError::NoRepeatCustomers);
    }
    let [r, alpha, a, b] =
        fit_log_parameters("BG/NBD", ["r", "alpha", "a", "b"], prepared.customers, |[r, alpha, a, b]| {
            prepared.log_likelihood(r, alpha, a, b)
        })?;
    let log_likelihood = prepared.log_likelihood(r, alpha, a, b);
    Ok(BgNbd { r, alpha, a, b, log_likelihood, customers: prepared.customers })
}

impl BgNbd {
    /// The full log-likelihood Σ ln Lᵢ of `data` under this model (eq. 6).
    ///
    /// Errors: [`ClvError::EmptyInput`], [`ClvError::InvalidInput`].
    pub fn log_likelihood_of(&self, data: &[RfmInput]) -> Result<f64, ClvError> {
        Ok(BgNbdData::new(data)?.log_likelihood(self.r, self.alpha, self.a, self.b))
    }

    /// P(alive | x, tₓ, T): the probability that a customer with this history has not dropped out
    /// by T. 1 when x = 0; NaN for invalid arguments (negative, non-finite, tₓ > T).
    pub fn p_alive(&self, frequency: f64, recency: f64, t: f64) -> f64 {
        if !valid_history(frequency, recency, t) {
            return f64::NAN;
        }
        1.0 / (1.0 + self.dropout_odds(frequency, recency, t))
    }

    /// δ(x>0) · a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x): the odds of having dropped out.
    fn dropout_odds(&self, frequency: f64, recency: f64, t: f64) -> f64 {
        if frequency > 0.0 {
            let ln_odds = self.a.ln() - (self.b + frequency - 1.0).ln()
                + (self.r + frequency) * ((self.alpha + t).ln() - (self.alpha + recency).ln());
            ln_odds.exp()
        } else {
            0.0
        }
    }

    /// E[X(t)]: expected number of repeat purchases of a new customer in (0, t] (eq. 7).
    /// NaN for a negative or non-finite `t`.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        self.purchases_numerator(0.0, self.alpha, t)
    }

    /// E[Y(horizon) | x, tₓ, T]: expected number of purchases in the `horizon` after T of a
    /// customer with this history (eq. 10). NaN for invalid arguments (negative, non-finite,
    /// tₓ > T).
    pub fn conditional_expected_purchases(&self, horizon: f64, frequency: f64, recency: f64, t: f64) -> f64 {
        if !(valid_history(frequency, recency, t) && horizon.is_finite() && horizon >= 0.0) {
            return f64::NAN;
        }
        self.purchases_numerator(frequency, self.alpha + t, horizon) / (1.0 + self.dropout_odds(frequency, recency, t))
    }

    /// (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)] with z = h/(s+h), s = α+T:
    /// below a = [`DIRECT_FORM_FROM_A`] in the a → 1-safe form of the module docs, from there on
    /// as written.
    fn purchases_numerator(&self, frequency: f64, alpha_plus_t: f64, horizon: f64) -> f64 {
        if horizon == 0.0 {
            return 0.0;
        }
        let z = horizon / (alpha_plus_t + horizon);
        let ln_one_minus_z = alpha_plus_t.ln() - (alpha_plus_t + horizon).ln();
        let c = self.a + self.b + frequency - 1.0;
        if self.a >= DIRECT_FORM_FROM_A {
            let Some(series) = hypergeometric(&[self.r + frequency, self.b + frequency], &[c], z) else {
                return f64::NAN;
            };
            // 1 − (1−z)^(r+x)·F = −expm1((r+x)·ln(1−z) + ln F).
            return c / (self.a - 1.0) * -((self.r + frequency) * ln_one_minus_z + series.ln()).exp_m1();
        }
        let a_prime = self.a + self.b - 1.0 - self.r;
        let epsilon = self.a - 1.0;
        let Some(series) = hypergeometric(&[a_prime + 1.0, 1.0 + epsilon, 1.0], &[c + 1.0, 2.0], z) else {
            return f64::NAN;
        };
        let s = a_prime * z / c * series;
        let first = if epsilon == 0.0 { -ln_one_minus_z } else { -(epsilon * ln_one_minus_z).exp_m1() / epsilon };
        c * (first - (epsilon * ln_one_minus_z).exp() * s)
    }
}

/// x ≥ 0, 0 ≤ tₓ ≤ T, all finite.
fn valid_history(frequency: f64, recency: f64, t: f64) -> bool {
    frequency.is_finite() && recency.is_finite() && t.is_finite() && frequency >= 0.0 && recency >= 0.0 && recency <= t
}

/// The Gamma-Gamma data: (x, ln x, ln m, x·m) of the customers with x > 0.
#[derive(Debug)]
struct GammaGammaData {
    /// `(x, ln x, ln m̄, x·m̄, customers)` per distinct (frequency, monetary) pair, in order of
    /// first occurrence: the likelihood depends on nothing else, so equal customers are summed
    /// once with their count (a scenario store's 50,000 repeat buyers fall into far fewer cells).
    cells: Vec<(f64, f64, f64, f64, f64)>,
    /// Customers with frequency > 0.
    customers: usize,
}

impl GammaGammaData {
    fn new(data: &[RfmInput]) -> Result<Self, ClvError> {
        validate(data)?;
        let mut cells: Vec<(f64, f64, f64, f64, f64)> = Vec::new();
        let mut index_of: std::collections::HashMap<(u64, u64), usize> = std::collections::HashMap::new();
        let mut customers = 0;
        for (index, customer) in data.iter().enumerate() {
            if customer.frequency > 0.0 {
                if customer.monetary <= 0.0 {
                    return Err(ClvError::InvalidInput {
                        index,
                        reason: "monetary value must be positive when frequency > 0",
                    });
                }
                customers += 1;
                let (x, m) = (customer.frequency, customer.monetary);
                match index_of.entry((x.to_bits(), m.to_bits())) {
                    std::collections::hash_map::Entry::Occupied(slot) => {
                        if let Some(cell) = cells.get_mut(*slot.get()) {
                            cell.4 += 1.0;
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(cells.len());
                        cells.push((x, x.ln(), m.ln(), x * m, 1.0));
                    }
                }
            }
        }
        if cells.is_empty() {
            return Err(ClvError::NoRepeatCustomers);
        }
        Ok(Self { cells, customers })
    }

    fn log_likelihood(&self, p: f64, q: f64, v: f64) -> f64 {
        let parameter_terms = q * v.ln() - ln_gamma(q);
        self.cells
            .iter()
            .map(|&(x, ln_x, ln_m, spend, count)| {
                let px = p * x;
                count
                    * (parameter_terms + ln_gamma(px + q) - ln_gamma(px) + (px - 1.0) * ln_m + px * ln_x
                        - (px + q) * (spend + v).ln())
            })
            .sum()
    }
}

/// Fits the Gamma-Gamma spend model by maximum likelihood over p, q, v > 0, on the customers with
/// frequency > 0 (their `monetary` must be positive).
///
/// Errors: [`ClvError::EmptyInput`], [`ClvError::InvalidInput`], [`ClvError::NoRepeatCustomers`],
/// [`ClvError::NotConverged`], [`ClvError::Degenerate`].
pub fn fit_gamma_gamma(data: &[RfmInput]) -> Result<GammaGamma, ClvError> {
    let prepared = GammaGammaData::new(data)?;
    let customers = prepared.customers;
    let [p, q, v] =
        fit_log_parameters("Gamma-Gamma", ["p", "q", "v"], customers, |[p, q, v]| prepared.log_likelihood(p, q, v))?;
    let log_likelihood = prepared.log_likelihood(p, q, v);
    Ok(GammaGamma { p, q, v, log_likelihood, customers })
}

impl GammaGamma {
    /// The full log-likelihood of the customers of `data` with frequency > 0 under this model.
    ///
    /// Errors: [`ClvError::EmptyInput`], [`ClvError::InvalidInput`], [`ClvError::NoRepeatCustomers`].
    pub fn log_likelihood_of(&self, data: &[RfmInput]) -> Result<f64, ClvError> {
        Ok(GammaGammaData::new(data)?.log_likelihood(self.p, self.q, self.v))
    }

    /// E[M | x, m̄ₓ]: the expected average transaction value of a customer with `frequency` repeat
    /// purchases of mean value `monetary` — (q−1)/(px+q−1) · vp/(q−1) + px/(px+q−1) · m̄ₓ; the
    /// population mean vp/(q−1) when x = 0 (needs q > 1).
    pub fn conditional_expected_average_profit(&self, frequency: f64, monetary: f64) -> f64 {
        let px = self.p * frequency;
        (self.v * self.p + px * monetary) / (px + self.q - 1.0)
    }
}

/// The customer's lifetime value over `horizon_months` months, as `lifetimes`'
/// `customer_lifetime_value`: for each month i = 1..=H, the expected purchases in month i
/// (differences of [`BgNbd::conditional_expected_purchases`], a month being 30 days, i.e.
/// 30/`unit_days` model time units) times [`GammaGamma::conditional_expected_average_profit`],
/// discounted by (1 + `monthly_discount_rate`)ⁱ, summed.
///
/// `unit_days` is the length of the models' time unit in days (1 for days, 7 for weeks). NaN for
/// an invalid customer, a non-positive `unit_days` or a discount rate ≤ −1; 0 for a zero horizon.
pub fn customer_lifetime_value(
    bgnbd: &BgNbd,
    gg: &GammaGamma,
    customer: &RfmInput,
    horizon_months: u32,
    monthly_discount_rate: f64,
    unit_days: f64,
) -> f64 {
    if !(unit_days.is_finite() && unit_days > 0.0 && monthly_discount_rate.is_finite() && monthly_discount_rate > -1.0)
    {
        return f64::NAN;
    }
    let month = 30.0 / unit_days;
    let profit = gg.conditional_expected_average_profit(customer.frequency, customer.monetary);
    let mut previous = 0.0;
    let mut value = 0.0;
    for i in 1..=horizon_months {
        let i = f64::from(i);
        let cumulative =
            bgnbd.conditional_expected_purchases(i * month, customer.frequency, customer.recency, customer.t);
        value += profit * (cumulative - previous) / (1.0 + monthly_discount_rate).powf(i);
        previous = cumulative;
    }
    value
}
