//! Customer lifetime value of the [`Store`]'s customers: their purchase histories summarized as
//! RFM at a calibration end, the BG/NBD and Gamma-Gamma models fitted on them
//! ([`rapport_metrics::clv`]), and per-customer predictions (P(alive), expected purchases,
//! expected spend, CLV).
//!
//! **Cache.** A fit is a pass over every customer plus a maximum-likelihood search: seconds on
//! a large store. The store keeps its fits in memory ([`CachedClvFit`]: the fit, its
//! calibration end and unit, and the buyers and orders the store had when it was fitted), at
//! most [`CLV_CACHE_MAX`], one per (calibration end, unit). [`Store::clv_fit`] fits a pair once
//! and then answers from the cache; [`Store::fit_clv`] always fits (an explicit refit) and
//! caches the result. A view's CLV ([`Store::customer_clv`]) applies the latest fit of its unit
//! to the customer's RFM at the view's observation end; only the very first one of a unit, in a
//! store with no fit of it yet, fits (once, at the default observation end).
//!
//! **Background refit.** When the customers' data has changed by [`CLV_REFIT_CHANGE`] (5 %) or
//! more in buyers (profiles with a placed order) or placed orders since the latest fit (or
//! failed attempt) of a unit, the catch-up that folded the change asks the store's refit thread
//! to fit that unit again at the default observation end; views keep using the previous fit
//! until the new one is in. The thread is started on the first such request, sleeps on a
//! condition variable between requests, and is stopped and joined when the store is dropped
//! (after the fit it may be running). The check is O(1) per cached unit and runs after events
//! are folded, never on a view without new events; no fit ever runs on the view path except
//! the first one described above. Fits travel in the store's snapshots (docs/design/snapshots.md)
//! and are restored under the same reporting currency and rates; a read-only store writes nothing.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use rapport_customer::Rfm;
use rapport_events::{CustomerId, ExchangeRates};
use rapport_log::Timestamp;
use rapport_metrics::clv::{
    customer_lifetime_value, fit_bgnbd, fit_gamma_gamma, BgNbd, ClvError, GammaGamma, RfmInput,
};

use crate::customers::{reporting_of, Reporting};
use crate::error::{Error, Result};
use crate::projection::Projection;
use crate::store::Store;

/// Relative change in buyers or in placed orders (each against its count at the latest fit of a
/// unit) from which the store refits that unit in the background: 5 %.
pub const CLV_REFIT_CHANGE: f64 = 0.05;

/// Fits a store keeps, one per (calibration end, unit); beyond it the least recently fitted
/// goes.
pub const CLV_CACHE_MAX: usize = 8;

/// The time unit of the models (α and every time argument are in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A fit the store keeps ([`Store::latest_clv_fit`]), with what it needs to tell when it is
/// stale. Plain data: a snapshot can persist it and a reopened store take it back.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedClvFit {
    /// The models.
    pub fit: ClvFit,
    /// End of the calibration period (the fit's).
    pub calibration_end: Timestamp,
    /// Time unit (the fit's).
    pub unit: TimeUnit,
    /// Profiles with a placed order when it was fitted.
    pub buyers: u64,
    /// Placed orders when it was fitted.
    pub orders: u64,
}

impl CachedClvFit {
    /// Whether buyers or orders now differ from those at fit time by [`CLV_REFIT_CHANGE`] or more.
    pub fn is_stale(&self, buyers: u64, orders: u64) -> bool {
        changed(self.buyers, buyers) || changed(self.orders, orders)
    }
}

/// Whether `now` differs from `then` by at least [`CLV_REFIT_CHANGE`] of `then` (any change
/// from zero counts).
fn changed(then: u64, now: u64) -> bool {
    if then == 0 {
        return now != 0;
    }
    then.abs_diff(now) as f64 >= CLV_REFIT_CHANGE * then as f64
}

/// Both models fitted on the customers' purchases up to a calibration end.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Every customer's CLV data at `calibration_end` in `unit`, from the projection (no profile is
/// copied, nothing is revealed: RFM needs no personal value), in customer id order.
fn clv_data_of(
    projection: &Projection,
    money: &Reporting,
    calibration_end: Timestamp,
    unit: TimeUnit,
) -> CountedClvData {
    let Some(currency) = &money.currency else { return (Vec::new(), 0, 0) };
    let (mut converted, mut excluded) = (0u64, 0u64);
    let mut data = Vec::new();
    for profile in projection.customers.profiles() {
        let (rfm, purchases) = profile.rfm_in(calibration_end, currency, money.rates.as_ref());
        converted += u64::from(purchases.converted);
        excluded += u64::from(purchases.excluded);
        if let Some(rfm) = rfm {
            data.push((profile.id, history(&rfm, unit)));
        }
    }
    (data, converted, excluded)
}

/// Both models fitted on `data` (BG/NBD on every customer, Gamma-Gamma on those with repeat
/// purchases of positive value).
fn fit_models(
    (data, converted_purchases, excluded_purchases): CountedClvData,
    calibration_end: Timestamp,
    unit: TimeUnit,
) -> std::result::Result<ClvFit, ClvError> {
    let data: Vec<RfmInput> = data.into_iter().map(|(_, h)| h).collect();
    let bgnbd = fit_bgnbd(&data)?;
    // Gamma-Gamma models the value of repeat purchases: customers whose repeat purchases were
    // all free (CDNOW has $0 lines) carry no spend to fit on, as in `lifetimes`.
    let spenders: Vec<RfmInput> = data.iter().copied().filter(|h| h.frequency > 0.0 && h.monetary > 0.0).collect();
    let gamma_gamma = fit_gamma_gamma(&spenders)?;
    Ok(ClvFit { calibration_end, unit, bgnbd, gamma_gamma, converted_purchases, excluded_purchases })
}

/// What the cache and the refit thread share.
#[derive(Debug, Default)]
struct CacheState {
    /// Fits, the most recently fitted last.
    fits: Vec<CachedClvFit>,
    /// Per unit, the buyers and orders of the latest attempt to fit it, and its error if it
    /// failed: what staleness is measured against, so a failing fit is not retried on every
    /// event or view.
    attempts: Vec<(TimeUnit, u64, u64, Option<ClvError>)>,
    /// Units waiting for a background refit.
    pending: Vec<TimeUnit>,
    /// A background refit is running.
    running: bool,
    /// The store is going away: the thread ends.
    stop: bool,
}

impl CacheState {
    fn insert(&mut self, cached: CachedClvFit) {
        self.fits.retain(|c| (c.calibration_end, c.unit) != (cached.calibration_end, cached.unit));
        self.fits.push(cached);
        if self.fits.len() > CLV_CACHE_MAX {
            self.fits.remove(0);
        }
        self.attempted(cached.unit, cached.buyers, cached.orders, None);
    }

    fn attempted(&mut self, unit: TimeUnit, buyers: u64, orders: u64, error: Option<ClvError>) {
        self.attempts.retain(|(u, ..)| *u != unit);
        self.attempts.push((unit, buyers, orders, error));
    }

    fn latest(&self, unit: TimeUnit) -> Option<&CachedClvFit> {
        self.fits.iter().rev().find(|c| c.unit == unit)
    }
}

/// The store's CLV fits and its background refit thread (see the module's docs).
#[derive(Debug)]
pub(crate) struct ClvCache {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Serializes first-use fits, so that concurrent first views fit once.
    first_fit: Mutex<()>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<CacheState>,
    /// Wakes the thread (a request or `stop`).
    wake: Condvar,
    /// Signals that no refit is pending or running.
    idle: Condvar,
    /// Fits run (explicit, first use, background).
    fits: AtomicU64,
    projection: Arc<RwLock<Projection>>,
    reporting_currency: Option<String>,
    rates: Option<ExchangeRates>,
}

impl Shared {
    /// Fits `unit` at the default observation end on the projection as it is now: the data is
    /// read under the projection's read lock, the models are fitted without it.
    fn fit_now(&self, unit: TimeUnit) -> (u64, u64, std::result::Result<ClvFit, ClvError>) {
        let (data, end, buyers, orders) = {
            let projection = self.projection.read();
            let money = reporting_of(self.reporting_currency.as_ref(), self.rates.as_ref(), &projection.customers);
            let totals = projection.customers.totals();
            let end = Timestamp(totals.latest_seen.map_or(0, |t| t.0));
            (clv_data_of(&projection, &money, end, unit), end, totals.buyers, totals.orders())
        };
        self.fits.fetch_add(1, Ordering::Relaxed);
        (buyers, orders, fit_models(data, end, unit))
    }

    fn run(&self) {
        loop {
            let unit = {
                let mut state = self.state.lock();
                while state.pending.is_empty() && !state.stop {
                    self.wake.wait(&mut state);
                }
                if state.stop {
                    return;
                }
                state.running = true;
                state.pending.remove(0)
            };
            let (buyers, orders, result) = self.fit_now(unit);
            let mut state = self.state.lock();
            match result {
                Ok(fit) => {
                    state.insert(CachedClvFit { fit, calibration_end: fit.calibration_end, unit, buyers, orders })
                }
                // The previous fit stays in use; the next change of 5 % tries again.
                Err(error) => state.attempted(unit, buyers, orders, Some(error)),
            }
            state.running = false;
            if state.pending.is_empty() {
                self.idle.notify_all();
            }
        }
    }
}

impl ClvCache {
    pub(crate) fn new(
        projection: Arc<RwLock<Projection>>,
        reporting_currency: Option<String>,
        rates: Option<ExchangeRates>,
    ) -> ClvCache {
        let shared = Shared {
            state: Mutex::new(CacheState::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            fits: AtomicU64::new(0),
            projection,
            reporting_currency,
            rates,
        };
        ClvCache { shared: Arc::new(shared), thread: Mutex::new(None), first_fit: Mutex::new(()) }
    }

    /// Every cached fit (what a snapshot persists).
    pub(crate) fn cached_fits(&self) -> Vec<CachedClvFit> {
        self.shared.state.lock().fits.clone()
    }

    /// The key of the money options the fits were made under (reporting currency and rates):
    /// a snapshot's fits are restored only under the same ones.
    pub(crate) fn money_key(&self) -> [u8; 32] {
        let text = format!("{:?}", (&self.shared.reporting_currency, &self.shared.rates));
        *blake3::hash(text.as_bytes()).as_bytes()
    }

    /// Called after events were folded, with the buyers and orders now: asks for a background
    /// refit of every unit whose latest attempt is [`CLV_REFIT_CHANGE`] away. O(units).
    pub(crate) fn note_change(&self, buyers: u64, orders: u64) {
        let mut state = self.shared.state.lock();
        let stale: Vec<TimeUnit> = state
            .attempts
            .iter()
            .filter(|(unit, b, o, _)| (changed(*b, buyers) || changed(*o, orders)) && !state.pending.contains(unit))
            .map(|(unit, ..)| *unit)
            .collect();
        if stale.is_empty() {
            return;
        }
        state.pending.extend(stale);
        drop(state);
        let mut thread = self.thread.lock();
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            // Without a thread (the OS refused one) nothing refits in the background: views
            // keep the fit they have and `fit_clv` still refits.
            *thread = std::thread::Builder::new().name("rapport-clv-refit".into()).spawn(move || shared.run()).ok();
            if thread.is_none() {
                self.shared.state.lock().pending.clear();
                return;
            }
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for ClvCache {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.get_mut().take() {
            // A panic in the thread has nothing to hand back here; the store is going away.
            let _ = thread.join();
        }
    }
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
        self.catch_up()?;
        let projection = self.projection.read();
        let money = self.reporting(&projection.customers);
        Ok(clv_data_of(&projection, &money, calibration_end, unit))
    }

    /// Fits BG/NBD by maximum likelihood on [`Store::clv_data`], and Gamma-Gamma on the customers
    /// of it with repeat purchases of positive value — always (an explicit refit); the fit
    /// replaces the cached one of the same calibration end and unit and becomes the latest of
    /// its unit ([`Store::customer_clv`] uses it).
    pub fn fit_clv(&self, calibration_end: Timestamp, unit: TimeUnit) -> Result<ClvFit> {
        let (data, buyers, orders) = {
            self.catch_up()?;
            let projection = self.projection.read();
            let money = self.reporting(&projection.customers);
            let totals = projection.customers.totals();
            (clv_data_of(&projection, &money, calibration_end, unit), totals.buyers, totals.orders())
        };
        let shared = &self.clv.shared;
        shared.fits.fetch_add(1, Ordering::Relaxed);
        let result = fit_models(data, calibration_end, unit);
        let mut state = shared.state.lock();
        match result {
            Ok(fit) => {
                state.insert(CachedClvFit { fit, calibration_end, unit, buyers, orders });
                Ok(fit)
            }
            Err(error) => {
                state.attempted(unit, buyers, orders, Some(error.clone()));
                Err(error.into())
            }
        }
    }

    /// The fit of this calibration end and unit: from the cache, or fitted now (once) and
    /// cached. The store refits in the background once buyers or orders changed by
    /// [`CLV_REFIT_CHANGE`].
    pub fn clv_fit(&self, calibration_end: Timestamp, unit: TimeUnit) -> Result<ClvFit> {
        let cached = |store: &Store| {
            let state = store.clv.shared.state.lock();
            state.fits.iter().find(|c| (c.calibration_end, c.unit) == (calibration_end, unit)).map(|c| c.fit)
        };
        if let Some(fit) = cached(self) {
            return Ok(fit);
        }
        let _first = self.clv.first_fit.lock();
        match cached(self) {
            Some(fit) => Ok(fit),
            None => self.fit_clv(calibration_end, unit),
        }
    }

    /// The latest fit of `unit` the store holds (fitted last, explicitly, on first use or in
    /// the background), with the buyers and orders it was fitted on; `None` before any.
    pub fn latest_clv_fit(&self, unit: TimeUnit) -> Option<CachedClvFit> {
        self.clv.shared.state.lock().latest(unit).copied()
    }

    /// Puts a fit into the cache as the latest of its unit (a snapshot restoring what it
    /// persisted). Staleness is then measured against its buyers and orders.
    pub fn restore_clv_fit(&self, cached: CachedClvFit) {
        self.clv.shared.state.lock().insert(cached);
    }

    /// How many model fits this store has run (explicit, first use and background).
    pub fn clv_fit_count(&self) -> u64 {
        self.clv.shared.fits.load(Ordering::Relaxed)
    }

    /// Blocks until no background refit is pending or running (tests, benchmarks, and a
    /// caller that wants the refreshed fit before it goes on).
    pub fn wait_for_clv_refits(&self) {
        let mut state = self.clv.shared.state.lock();
        while !state.pending.is_empty() || state.running {
            self.clv.shared.idle.wait(&mut state);
        }
    }

    /// The predicted CLV of a customer view: the latest fit of `unit` applied to the view's RFM
    /// (at the view's observation end). The first call of a unit in a store without a fit of
    /// it fits once, at the default observation end; every later call only evaluates the
    /// models. `None` when the customer has no purchase by the observation end.
    pub fn customer_clv(
        &self,
        view: &crate::CustomerView,
        unit: TimeUnit,
        options: &ClvOptions,
    ) -> Result<Option<ClvPrediction>> {
        options.validate()?;
        let Some(rfm) = view.rfm else { return Ok(None) };
        let latest = {
            let state = self.clv.shared.state.lock();
            match state.latest(unit) {
                Some(cached) => Ok(Some(cached.fit)),
                // A first fit that failed is not tried again on every view: the error stands
                // until the data has changed enough for the background refit to try again.
                None => match state.attempts.iter().find(|(u, ..)| *u == unit) {
                    Some((_, _, _, Some(error))) => Err(Error::from(error.clone())),
                    _ => Ok(None),
                },
            }
        };
        let fit = match latest? {
            Some(fit) => fit,
            None => self.clv_fit(self.default_observation_end()?, unit)?,
        };
        predict_one(&fit, options, view.id(), history(&rfm, unit)).map(Some)
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
