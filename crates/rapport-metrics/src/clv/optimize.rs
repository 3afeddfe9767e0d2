//! Derivative-free minimization: the Nelder–Mead simplex method (Nelder & Mead 1965, with the
//! usual coefficients: reflection 1, expansion 2, contraction ½, shrink ½), restarted from its
//! best point until a restart no longer improves the objective.

/// Settings of [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NelderMeadOptions {
    /// Offset of the other simplex vertices from the start point along each coordinate.
    pub(crate) initial_step: f64,
    /// A run has converged when the objective values of the simplex are within this of the best.
    pub(crate) f_tol: f64,
    /// … and every vertex is within this of the best along every coordinate.
    pub(crate) x_tol: f64,
    /// Objective evaluations allowed to one run.
    pub(crate) max_evaluations: usize,
    /// Runs after the first, each from the best point so far.
    pub(crate) max_restarts: usize,
}

impl Default for NelderMeadOptions {
    fn default() -> Self {
        Self { initial_step: 0.5, f_tol: 1e-12, x_tol: 1e-9, max_evaluations: 20_000, max_restarts: 20 }
    }
}

/// The outcome of a minimization.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Minimum {
    /// The best point found.
    pub(crate) x: Vec<f64>,
    /// The objective there.
    pub(crate) value: f64,
    /// Objective evaluations spent, over every run.
    pub(crate) evaluations: usize,
    /// Whether the stopping rule was met (rather than a budget exhausted).
    pub(crate) converged: bool,
}

/// Minimizes `objective` from `start`: Nelder–Mead runs, each restarted from the best point of the
/// one before with a fresh simplex, until a run does not improve the best value by more than
/// `f_tol` (converged) or `max_restarts` restarts are spent (not converged).
///
/// A NaN objective value counts as +∞, so an objective can reject a point by returning either.
pub(crate) fn minimize<F: FnMut(&[f64]) -> f64>(
    mut objective: F,
    start: &[f64],
    options: &NelderMeadOptions,
) -> Minimum {
    let mut best = nelder_mead(&mut objective, start, options);
    let mut evaluations = best.evaluations;
    for _ in 0..options.max_restarts {
        let run = nelder_mead(&mut objective, &best.x, options);
        evaluations += run.evaluations;
        // A fresh simplex at the best point finding nothing better: stationary as far as the
        // method can tell, even if the run before it stopped on its budget (a simplex straddling
        // a region where the objective is +∞ never meets the tolerances).
        let settled = best.value - run.value <= options.f_tol;
        if run.value < best.value {
            best = run;
        }
        if settled {
            return Minimum { evaluations, converged: true, ..best };
        }
    }
    Minimum { evaluations, converged: false, ..best }
}

/// Puts `vertex` in place of the worst vertex (the last one after the sort).
fn replace_worst(simplex: &mut [(Vec<f64>, f64)], vertex: (Vec<f64>, f64)) {
    if let Some(worst) = simplex.last_mut() {
        *worst = vertex;
    }
}

/// One Nelder–Mead run from `start`.
pub(crate) fn nelder_mead<F: FnMut(&[f64]) -> f64>(
    objective: &mut F,
    start: &[f64],
    options: &NelderMeadOptions,
) -> Minimum {
    let n = start.len();
    let mut evaluations = 0_usize;
    let mut evaluate = |x: &[f64], evaluations: &mut usize| -> f64 {
        *evaluations += 1;
        let value = objective(x);
        if value.is_nan() {
            f64::INFINITY
        } else {
            value
        }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let first = evaluate(start, &mut evaluations);
    simplex.push((start.to_vec(), first));
    for i in 0..n {
        let vertex: Vec<f64> =
            start.iter().enumerate().map(|(j, x)| if j == i { x + options.initial_step } else { *x }).collect();
        let value = evaluate(&vertex, &mut evaluations);
        simplex.push((vertex, value));
    }
    let mut converged = false;
    let mut centroid = vec![0.0; n];
    loop {
        simplex.sort_by(|left, right| left.1.total_cmp(&right.1));
        // The simplex always holds `n + 1` vertices, best first after the sort.
        let Some(((best_vertex, best_value), others)) = simplex.split_first() else { break };
        let best_value = *best_value;
        let f_spread = simplex.iter().map(|(_, value)| (value - best_value).abs()).fold(0.0_f64, f64::max);
        let x_spread = others
            .iter()
            .flat_map(|(vertex, _)| vertex.iter().zip(best_vertex).map(|(x, best)| (x - best).abs()))
            .fold(0.0_f64, f64::max);
        // `f_spread` is NaN when every value is +∞: not converged.
        if f_spread <= options.f_tol && x_spread <= options.x_tol {
            converged = true;
            break;
        }
        if evaluations >= options.max_evaluations || n == 0 {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for (vertex, _) in simplex.iter().take(n) {
            for (c, x) in centroid.iter_mut().zip(vertex) {
                *c += x / n as f64;
            }
        }
        // `n >= 1` here, so there are at least two vertices.
        let [.., (_, second_worst_value), (worst_vertex, worst_value)] = simplex.as_slice() else { break };
        let (second_worst_value, worst_value) = (*second_worst_value, *worst_value);
        let along = |coefficient: f64, toward: &[f64]| -> Vec<f64> {
            centroid.iter().zip(toward).map(|(c, x)| c + coefficient * (x - c)).collect()
        };
        // Reflection of the worst vertex through the centroid of the others.
        let reflected = along(-1.0, worst_vertex);
        let reflected_value = evaluate(&reflected, &mut evaluations);
        if reflected_value < best_value {
            let expanded = along(-2.0, worst_vertex);
            let expanded_value = evaluate(&expanded, &mut evaluations);
            let replacement = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            replace_worst(&mut simplex, replacement);
            continue;
        }
        if reflected_value < second_worst_value {
            replace_worst(&mut simplex, (reflected, reflected_value));
            continue;
        }
        if reflected_value < worst_value {
            let outside = along(-0.5, worst_vertex);
            let outside_value = evaluate(&outside, &mut evaluations);
            if outside_value <= reflected_value {
                replace_worst(&mut simplex, (outside, outside_value));
                continue;
            }
        } else {
            let inside = along(0.5, worst_vertex);
            let inside_value = evaluate(&inside, &mut evaluations);
            if inside_value < worst_value {
                replace_worst(&mut simplex, (inside, inside_value));
                continue;
            }
        }
        // Shrink every vertex halfway toward the best one.
        let Some(((best_vertex, _), others)) = simplex.split_first_mut() else { break };
        for (vertex, value) in others {
            for (x, best) in vertex.iter_mut().zip(&*best_vertex) {
                *x = best + 0.5 * (*x - best);
            }
            *value = evaluate(vertex, &mut evaluations);
        }
    }
    simplex.sort_by(|left, right| left.1.total_cmp(&right.1));
    let (x, value) = simplex.swap_remove(0);
    Minimum { x, value, evaluations, converged }
}
