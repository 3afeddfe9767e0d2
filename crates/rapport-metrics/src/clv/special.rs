//! Special functions of the CLV models, written out so that the crate needs no numerics
//! dependency: the log-gamma function, generalized hypergeometric series (Gauss's ₂F₁ and the
//! ₃F₂ used for the a → 1-safe form of the BG/NBD expectations) and a stable log-add-exp.

/// ½ ln(2π).
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Arguments at or above this use the Stirling series directly; smaller ones are shifted up.
const STIRLING_FROM: f64 = 10.0;

/// Most terms a hypergeometric series may take before it is declared not to converge: enough for
/// |z| up to about 1 − 2·10⁻⁶.
const MAX_SERIES_TERMS: usize = 20_000_000;

/// Most numerators a series may have: the models use ₁F₀, ₂F₁ and ₃F₂.
const MAX_NUMERATORS: usize = 4;

/// ln Γ(x) for x > 0 (NaN otherwise), to about 1e-15 absolute for moderate x.
///
/// Arguments below 10 are shifted with Γ(x) = Γ(x + n) / (x (x + 1) … (x + n − 1)); from 10 on,
/// the Stirling series ln Γ(y) = (y − ½) ln y − y + ½ ln 2π + Σ B₂ₖ / (2k (2k − 1) y²ᵏ⁻¹) with seven
/// terms, whose truncation error at y = 10 is below 1e-16.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut y = x;
    let mut product = 1.0;
    while y < STIRLING_FROM {
        product *= y;
        y += 1.0;
    }
    stirling(y) - product.ln()
}

/// The Stirling series of ln Γ(y), accurate for y ≥ 10.
fn stirling(y: f64) -> f64 {
    let inv = 1.0 / y;
    let inv2 = inv * inv;
    // B₂ₖ / (2k (2k − 1)) for k = 1..7, alternating in sign.
    let series = inv
        * (1.0 / 12.0
            - inv2
                * (1.0 / 360.0
                    - inv2
                        * (1.0 / 1260.0
                            - inv2
                                * (1.0 / 1680.0
                                    - inv2 * (1.0 / 1188.0 - inv2 * (691.0 / 360_360.0 - inv2 * (1.0 / 156.0)))))));
    (y - 0.5) * y.ln() - y + HALF_LN_2PI + series
}

/// ln(eˣ + eʸ) without overflow; −∞ arguments are the empty sum.
pub(crate) fn log_add_exp(x: f64, y: f64) -> f64 {
    let (high, low) = if x >= y { (x, y) } else { (y, x) };
    if low == f64::NEG_INFINITY {
        return high;
    }
    high + (low - high).exp().ln_1p()
}

/// The generalized hypergeometric series ₚFₚ₋₁(numerators; denominators; z) =
/// Σₙ Πᵢ (numeratorsᵢ)ₙ / Πⱼ (denominatorsⱼ)ₙ · zⁿ / n!, with (u)ₙ the rising factorial, for
/// |z| < 1 and one more numerator than denominators.
///
/// Summed term by term until the remaining tail is below one ulp of the sum. The tail after a
/// term is bounded by the geometric series of [`ratio_bound`], a bound on every later term ratio,
/// so the test is rigorous however large the parameters are (a BG/NBD fit whose Beta is a point
/// mass has a and b near 10⁷; a test that waits until the ratio is near its limit z would need
/// that many terms). `None` when |z| ≥ 1, an argument is not finite, a denominator is a
/// non-positive integer met by the series, the sum overflows, the series needs more than
/// [`MAX_SERIES_TERMS`] terms, or it has more than [`MAX_NUMERATORS`] numerators.
pub(crate) fn hypergeometric(numerators: &[f64], denominators: &[f64], z: f64) -> Option<f64> {
    if numerators.len() != denominators.len() + 1
        || !z.is_finite()
        || z.abs() >= 1.0
        || numerators.iter().chain(denominators).any(|value| !value.is_finite())
    {
        return None;
    }
    if z == 0.0 {
        return Some(1.0);
    }
    // The pairs of `ratio_bound`: numerators and denominators (with the 1 of n!) in ascending
    // order, on the stack (views evaluate these series on their path).
    let count = numerators.len();
    if count > MAX_NUMERATORS {
        return None;
    }
    // Unused places hold +∞ so that they sort last and pair with each other.
    let (mut upper, mut lower) = ([f64::INFINITY; MAX_NUMERATORS], [f64::INFINITY; MAX_NUMERATORS]);
    for (place, value) in upper.iter_mut().zip(numerators) {
        *place = *value;
    }
    for (place, value) in lower.iter_mut().zip(denominators.iter().chain([&1.0])) {
        *place = *value;
    }
    upper.sort_by(f64::total_cmp);
    lower.sort_by(f64::total_cmp);
    let (upper, lower) = (upper.get(..count).unwrap_or_default(), lower.get(..count).unwrap_or_default());
    let ratio = |n: f64| -> f64 {
        let numerator: f64 = numerators.iter().map(|value| value + n).product();
        let denominator: f64 = denominators.iter().map(|value| value + n).product::<f64>() * (n + 1.0);
        numerator / denominator * z
    };
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for n in 0..MAX_SERIES_TERMS {
        let nf = n as f64;
        let step = ratio(nf);
        if !step.is_finite() {
            return None;
        }
        term *= step;
        sum += term;
        if term == 0.0 {
            return Some(sum);
        }
        if !sum.is_finite() {
            return None;
        }
        if let Some(rho) = ratio_bound(upper, lower, nf + 1.0, z) {
            if rho < 1.0 && term.abs() * rho / (1.0 - rho) <= f64::EPSILON * sum.abs() {
                return Some(sum);
            }
        }
    }
    None
}

/// A bound on |ratio(m)| for every m ≥ `from`, where ratio(m) = Πᵢ (uᵢ + m) / Πᵢ (wᵢ + m) · z is
/// the ratio of term m + 1 to term m of the series with numerators `upper` and denominators
/// `lower` (the 1 of n! included). `None` until every uᵢ + m and wᵢ + m is positive.
///
/// Each factor (uᵢ + m)/(wᵢ + m) of positive terms is monotone in m and tends to 1, so its supremum
/// over m ≥ `from` is max((uᵢ + from)/(wᵢ + from), 1); their product times |z| bounds every later
/// ratio. Any pairing gives a bound; ascending order pairs large numerators with large
/// denominators, which keeps it small.
fn ratio_bound(upper: &[f64], lower: &[f64], from: f64, z: f64) -> Option<f64> {
    let mut bound = z.abs();
    for (u, w) in upper.iter().zip(lower) {
        let (u, w) = (u + from, w + from);
        if u <= 0.0 || w <= 0.0 {
            return None;
        }
        bound *= (u / w).max(1.0);
    }
    Some(bound)
}

/// Gauss's hypergeometric function ₂F₁(a, b; c; z) for |z| < 1, by its power series
/// (see [`hypergeometric`]).
#[cfg(test)]
pub(crate) fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    hypergeometric(&[a, b], &[c], z)
}
