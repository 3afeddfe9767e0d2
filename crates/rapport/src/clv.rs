//! Customer lifetime value of the [`Store`]'s customers: their purchase histories summarized as
//! RFM at a calibration end, the BG/NBD and Gamma-Gamma models fitted on them
//! ([`rapport_metrics::clv`]), and per-customer predictions (P(alive), expected purchases,
//! expected spend, CLV). Nothing is cached: a fit reads the current profiles.

use std::str::FromStr;

use rapport_customer::Rfm;
use rapport_events::CustomerId;
use rapport_log::Timestamp;
use rapport_metrics::clv::{customer_lifetime_value, fit_bgnbd, fit_gamma_gamma, BgNbd, GammaGamma, RfmInput};

use crate::error::{Error, Result};
use crate::store::Store;

/// The time unit of the models (α and every time argument are in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Calendar days.
    Days,
    /// Weeks of 7 days (the unit of Fader, Hardie & Lee's CDNOW analysis).
    Weeks,
}

impl TimeUnit {
    /// Length of the unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// `days` or `weeks`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
        }
    }
}

impl FromStr for TimeUnit {
    type Err = Error;
    fn from_str(text: &str) -> Result<TimeUnit> {
        match text {
            "days" | "day" => Ok(TimeUnit::Days),
            "weeks" | "week" => Ok(TimeUnit::Weeks),
            other => Err(Error::InvalidArgument(format!("unknown time unit {other:?} (expected days or weeks)"))),
        }
    }
}

/// CLV data per customer, and the purchases in other currencies converted and left out.
pub(crate) type CountedClvData = (Vec<(CustomerId, RfmInput)>, u64, u64);

/// Both models fitted on the customers' purchases up to a calibration end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvFit {
    /// End of the calibration period: purchase days up to and including its day count.
    pub calibration_end: Timestamp,
    /// The models' time unit.
    pub unit: TimeUnit,
    /// The purchase model.
    pub bgnbd: BgNbd,
    /// The spend model (fitted on the customers with a repeat purchase).
    pub gamma_gamma: GammaGamma,
    /// Purchases in other currencies than the reporting one converted with the rate table.
    pub converted_purchases: u64,
    /// Purchases in other currencies left out (no rate for them).
    pub excluded_purchases: u64,
}

/// What to predict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    /// Horizon of the expected purchases, in the fit's time unit.
    pub purchases_horizon: f64,
    /// Horizon of the CLV, in months of 30 days.
    pub horizon_months: u32,
    /// Monthly discount rate of the CLV (0.01 = 1 % a month).
    pub monthly_discount_rate: f64,
}

impl Default for ClvOptions {
    /// Expected purchases over 52 time units; CLV over 12 months at 1 % a month.
    fn default() -> ClvOptions {
        ClvOptions { purchases_horizon: 52.0, horizon_months: 12, monthly_discount_rate: 0.01 }
    }
}

/// One customer's prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvPrediction {
    /// The customer.
    pub customer: CustomerId,
    /// The history the prediction starts from (in the fit's unit).
    pub history: RfmInput,
    /// Probability that the customer is still active at the calibration end.
    pub p_alive: f64,
    /// Expected purchases in the next `purchases_horizon` time units.
    pub expected_purchases: f64,
    /// Expected spend per purchase (Gamma-Gamma).
    pub expected_average_spend: f64,
    /// Discounted value over the horizon.
    pub clv: f64,
}

impl Store {
    /// Every customer with a purchase on or before the calibration end's day, summarized as RFM
    /// in `unit` (distinct purchase days; see `rapport_customer::rfm`), in customer id order.
    /// Spend is net spend in the reporting currency ([`Store::reporting_currency`]).
    pub fn clv_data(&self, calibration_end: Timestamp, unit: TimeUnit) -> Result<Vec<(CustomerId, RfmInput)>> {
        Ok(self.clv_data_counted(calibration_end, unit)?.0)
    }

    /// [`Store::clv_data`] and the numbers of purchases in other currencies converted and left
    /// out.
    pub(crate) fn clv_data_counted(&self, calibration_end: Timestamp, unit: TimeUnit) -> Result<CountedClvData> {
        let views = self.customers(Some(calibration_end))?;
        let converted = views.iter().map(|v| u64::from(v.rfm_converted)).sum();
        let excluded = views.iter().map(|v| u64::from(v.rfm_excluded)).sum();
        let data = views.into_iter().filter_map(|view| Some((view.id(), history(&view.rfm?, unit)))).collect();
        Ok((data, converted, excluded))
    }

    /// Fits BG/NBD by maximum likelihood on [`Store::clv_data`], and Gamma-Gamma on the customers
    /// of it with repeat purchases of positive value.
    pub fn fit_clv(&self, calibration_end: Timestamp, unit: TimeUnit) -> Result<ClvFit> {
        let (data, converted_purchases, excluded_purchases) = self.clv_data_counted(calibration_end, unit)?;
        let data: Vec<RfmInput> = data.into_iter().map(|(_, h)| h).collect();
        let bgnbd = fit_bgnbd(&data)?;
        // Gamma-Gamma models the value of repeat purchases: customers whose repeat purchases were
        // all free (CDNOW has $0 lines) carry no spend to fit on, as in `lifetimes`.
        let spenders: Vec<RfmInput> = data.iter().copied().filter(|h| h.frequency > 0.0 && h.monetary > 0.0).collect();
        let gamma_gamma = fit_gamma_gamma(&spenders)?;
        Ok(ClvFit { calibration_end, unit, bgnbd, gamma_gamma, converted_purchases, excluded_purchases })
    }

    /// Predictions for every customer of the fit's calibration data, in customer id order.
    pub fn predict_clv(&self, fit: &ClvFit, options: &ClvOptions) -> Result<Vec<ClvPrediction>> {
        options.validate()?;
        let data = self.clv_data(fit.calibration_end, fit.unit)?;
        data.into_iter().map(|(customer, history)| predict_one(fit, options, customer, history)).collect()
    }

    /// The prediction for one customer (`None` without a purchase by the calibration end).
    pub fn predict_customer_clv(
        &self,
        fit: &ClvFit,
        options: &ClvOptions,
        customer: CustomerId,
    ) -> Result<Option<ClvPrediction>> {
        options.validate()?;
        let Some(view) = self.customer(&crate::CustomerKey::Id(customer), Some(fit.calibration_end))? else {
            return Ok(None);
        };
        let Some(rfm) = view.rfm else { return Ok(None) };
        predict_one(fit, options, view.id(), history(&rfm, fit.unit)).map(Some)
    }
}

impl ClvOptions {
    fn validate(&self) -> Result<()> {
        if !(self.purchases_horizon.is_finite() && self.purchases_horizon >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "purchases horizon {} is not a non-negative number",
                self.purchases_horizon
            )));
        }
        if !(self.monthly_discount_rate.is_finite() && self.monthly_discount_rate > -1.0) {
            return Err(Error::InvalidArgument(format!(
                "monthly discount rate {} must be a number above -1",
                self.monthly_discount_rate
            )));
        }
        Ok(())
    }
}

/// A customer's RFM in the models' time unit.
fn history(rfm: &Rfm, unit: TimeUnit) -> RfmInput {
    RfmInput {
        frequency: f64::from(rfm.frequency),
        recency: rfm.recency_days as f64 / unit.days(),
        t: rfm.t_days as f64 / unit.days(),
        monetary: rfm.monetary,
    }
}

/// One customer's prediction; `options` are valid.
fn predict_one(fit: &ClvFit, options: &ClvOptions, customer: CustomerId, history: RfmInput) -> Result<ClvPrediction> {
    let RfmInput { frequency, recency, t, monetary } = history;
    let p_alive = fit.bgnbd.p_alive(frequency, recency, t);
    let expected_purchases = fit.bgnbd.conditional_expected_purchases(options.purchases_horizon, frequency, recency, t);
    let expected_average_spend = fit.gamma_gamma.conditional_expected_average_profit(frequency, monetary);
    let clv = customer_lifetime_value(
        &fit.bgnbd,
        &fit.gamma_gamma,
        &history,
        options.horizon_months,
        options.monthly_discount_rate,
        fit.unit.days(),
    );
    if !(p_alive.is_finite() && expected_purchases.is_finite() && clv.is_finite()) {
        return Err(Error::ClvPrediction(customer));
    }
    Ok(ClvPrediction { customer, history, p_alive, expected_purchases, expected_average_spend, clv })
}
