//! Out-of-scope rejection: measuring it on labelled texts and choosing the threshold that the
//! blob stores ([`convbert::int8::Rejection`]).
//!
//! A text is rejected ("no intent") when its best label's Q15 score is below the threshold,
//! or when that label is the model's no-intent label (CLINC150 trains one, `oos`). Rejecting
//! an out-of-scope text is right; rejecting an in-scope one loses it, as a wrong label does.

use convbert::int8::Rejection;

/// One labelled text as the int8 engine classified it.
#[derive(Clone, Copy, Debug)]
pub struct Scored {
    /// Its true label is an intent (not out of scope).
    pub in_scope: bool,
    /// The best label is the true one (for an in-scope text).
    pub correct: bool,
    /// The best label is the model's no-intent label.
    pub predicted_no_intent: bool,
    /// The best label's Q15 score.
    pub score_q15: u16,
}

impl Scored {
    fn rejected(&self, below_q15: u16) -> bool {
        self.predicted_no_intent || self.score_q15 < below_q15
    }
}

/// How well texts are told apart at one threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OosMetrics {
    /// Best-label scores below this are rejected.
    pub below_q15: u16,
    /// In-scope texts given their label (not rejected), of all in-scope texts.
    pub in_scope_accuracy: f64,
    /// Out-of-scope texts rejected, of all out-of-scope texts.
    pub oos_recall: f64,
    /// Texts answered right (in scope: their label; out of scope: rejected), of all texts.
    pub overall_accuracy: f64,
    pub in_scope: usize,
    pub oos: usize,
}

impl OosMetrics {
    /// The metrics of `texts` at threshold `below_q15`.
    pub fn at(texts: &[Scored], below_q15: u16) -> Self {
        let in_scope = texts.iter().filter(|t| t.in_scope).count();
        let oos = texts.len() - in_scope;
        let right_in = texts.iter().filter(|t| t.in_scope && t.correct && !t.rejected(below_q15)).count();
        let right_oos = texts.iter().filter(|t| !t.in_scope && t.rejected(below_q15)).count();
        let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        Self {
            below_q15,
            in_scope_accuracy: share(right_in, in_scope),
            oos_recall: share(right_oos, oos),
            overall_accuracy: share(right_in + right_oos, texts.len()),
            in_scope,
            oos,
        }
    }
}

/// The threshold with the highest out-of-scope recall on `texts` whose in-scope accuracy is
/// at most `max_drop` (a fraction: 0.015 is 1.5 points) below that of no threshold; the
/// lowest such threshold on a tie. Without out-of-scope texts there is nothing to learn: 0.
pub fn choose_threshold(texts: &[Scored], max_drop: f64) -> OosMetrics {
    let unthresholded = OosMetrics::at(texts, 0);
    if unthresholded.oos == 0 {
        return unthresholded;
    }
    // Every threshold that changes something sits just above a text's score.
    let mut candidates: Vec<u16> = texts.iter().map(|t| t.score_q15.saturating_add(1)).collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut best = unthresholded;
    for below_q15 in candidates {
        let m = OosMetrics::at(texts, below_q15);
        // (The tolerance keeps a drop of exactly `max_drop` from failing on rounding.)
        if unthresholded.in_scope_accuracy - m.in_scope_accuracy <= max_drop + 1e-12 && m.oos_recall > best.oos_recall {
            best = m;
        }
    }
    best
}

/// The blob's rule for a chosen threshold and the model's no-intent label (if it has one).
pub fn rejection(below_q15: u16, no_intent_label: Option<usize>) -> Rejection {
    Rejection { below_q15, no_intent_label: no_intent_label.and_then(|l| u16::try_from(l).ok()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(in_scope: bool, correct: bool, score_q15: u16) -> Scored {
        Scored { in_scope, correct, predicted_no_intent: false, score_q15 }
    }

    #[test]
    fn the_threshold_stops_at_the_accuracy_budget() {
        // Ten in-scope texts (all right, scores 10_000..=19_000) and two out-of-scope ones.
        let mut texts: Vec<Scored> = (0..10).map(|i| text(true, true, 10_000 + 1_000 * i)).collect();
        texts.push(text(false, false, 9_000));
        texts.push(text(false, false, 12_500));
        // No in-scope loss allowed: only the oos text below every in-scope one goes.
        let strict = choose_threshold(&texts, 0.0);
        assert_eq!((strict.below_q15, strict.oos_recall, strict.in_scope_accuracy), (9_001, 0.5, 1.0));
        // Three in-scope texts may go (30 points): both oos texts go, with the fewest losses.
        let loose = choose_threshold(&texts, 0.3);
        assert_eq!((loose.below_q15, loose.oos_recall, loose.in_scope_accuracy), (12_501, 1.0, 0.7));
    }

    #[test]
    fn predicting_the_no_intent_label_is_a_rejection() {
        let texts = [Scored { in_scope: false, correct: false, predicted_no_intent: true, score_q15: 30_000 }, text(true, true, 20_000)];
        let m = OosMetrics::at(&texts, 0);
        assert_eq!((m.oos_recall, m.in_scope_accuracy, m.overall_accuracy), (1.0, 1.0, 1.0));
    }
}
