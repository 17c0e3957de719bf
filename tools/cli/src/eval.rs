//! `convbert eval`: how well a model classifies a labelled dataset (accuracy, per-class
//! precision/recall/F1, the most confused pairs), and, for a blob, how much quantization cost
//! against its float checkpoint.
//!
//! For CLINC150-style data (a label named [`OOS`], or a blob with a rejection rule) it also
//! reports in-scope accuracy, oos recall and overall accuracy (the numbers the CLINC150 paper,
//! Larson et al. 2019, uses), by the best label alone and with the blob's rejection rule.

use crate::model::ModelSource;
use crate::{progress, texts, CliResult};
use convbert::int8::Rejection;
use convbert_quantize::on_all_cores;
use convbert_quantize::reject::{OosMetrics, Scored};
use serde_json::json;
use std::collections::HashMap;
use std::error::Error;
use std::io::Write;
use std::path::Path;

/// The out-of-scope label of CLINC150.
pub const OOS: &str = "oos";

/// Confused pairs listed.
const TOP_CONFUSIONS: usize = 10;

/// The command's arguments (see `main.rs`).
pub struct Options<'a> {
    pub model: &'a Path,
    pub data: &'a Path,
    pub json: bool,
    pub float: Option<&'a Path>,
    pub limit: Option<usize>,
    /// The label of out-of-scope texts; the model need not have it (a SNIPS model tested on
    /// CLINC150's out-of-scope texts).
    pub oos_label: &'a str,
}

/// Counts of (true label, predicted label) over `n` labels, in memory linear in labels plus
/// texts: per-label totals and only the pairs that occurred (a dense `n x n` table would not
/// fit for a blob with tens of thousands of labels).
pub struct Confusion {
    /// Texts whose true label is `i`.
    support: Vec<u64>,
    /// Texts predicted as `i`.
    predicted: Vec<u64>,
    /// Texts of label `i` predicted right.
    correct: Vec<u64>,
    /// Mistakes by (true, predicted) pair.
    mistakes: HashMap<(usize, usize), u64>,
}

/// One label's scores. Precision (recall) is 0 when nothing was predicted as (is) the label,
/// and F1 is 0 when both are, as scikit-learn reports with `zero_division=0`.
pub struct ClassStats {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Texts whose true label this is.
    pub support: u64,
    /// Of those, how many were predicted right.
    pub correct: u64,
    /// Texts predicted as this label.
    pub predicted: u64,
}

impl Confusion {
    pub fn new(n: usize) -> Self {
        Self { support: vec![0; n], predicted: vec![0; n], correct: vec![0; n], mistakes: HashMap::new() }
    }

    /// Counts one text; both ids are below `n` (label ids of the model).
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.support[truth] += 1;
        self.predicted[predicted] += 1;
        if truth == predicted {
            self.correct[truth] += 1;
        } else {
            *self.mistakes.entry((truth, predicted)).or_insert(0) += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.support.iter().sum()
    }

    pub fn correct(&self) -> u64 {
        self.correct.iter().sum()
    }

    /// Fraction right, 0 when empty.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Scores of each label, in id order.
    pub fn per_class(&self) -> Vec<ClassStats> {
        (0..self.support.len())
            .map(|c| {
                let (correct, support, predicted) = (self.correct[c], self.support[c], self.predicted[c]);
                let (precision, recall) = (ratio(correct, predicted), ratio(correct, support));
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                ClassStats { precision, recall, f1, support, correct, predicted }
            })
            .collect()
    }

    /// The `k` most frequent mistakes as (true, predicted, count), most frequent first, ties
    /// in id order.
    pub fn most_confused(&self, k: usize) -> Vec<(usize, usize, u64)> {
        let mut pairs: Vec<_> = self.mistakes.iter().map(|(&(t, p), &count)| (t, p, count)).collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        pairs.truncate(k);
        pairs
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

pub fn run(o: &Options<'_>, out: &mut dyn Write) -> CliResult {
    let source = ModelSource::open(o.model)?;
    let float = match o.float {
        None => None,
        Some(_) if !source.is_int8() => {
            return Err("--float compares a .cbq blob with its checkpoint, but --model is already a float checkpoint".into())
        }
        Some(dir) => Some(ModelSource::open(dir)?),
    };
    if let (Some(f), Some(dir)) = (&float, o.float) {
        if f.labels() != source.labels() {
            return Err(format!("--float {}: its labels differ from the blob's", dir.display()).into());
        }
    }

    let mut rows = texts::read_tsv(o.data)?;
    rows.truncate(o.limit.unwrap_or(rows.len()));
    if rows.is_empty() {
        return Err(format!("{}: no `label<TAB>text` lines to evaluate", o.data.display()).into());
    }
    let truth = label_ids(&rows, source.labels(), o.oos_label, o.data)?;
    // Out-of-scope texts for a model without the label get one id past its labels.
    let mut labels = source.labels().to_vec();
    if truth.contains(&labels.len()) {
        labels.push(o.oos_label.to_owned());
    }
    let labels = &labels[..];
    let texts: Vec<&str> = rows.iter().map(|(_, t)| t.as_str()).collect();

    let mut confusion = Confusion::new(labels.len());
    let (predicted, scores) = predict(&source, &texts, if source.is_int8() { "int8" } else { "float" })?;
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion.add(t, p);
    }
    let comparison = match &float {
        Some(f) => Some(Comparison::new(&truth, &predicted, &predict(f, &texts, "float")?.0)),
        None => None,
    };
    let rejection = source.rejection();
    let oos = rejection.no_intent_label.map(usize::from).or_else(|| labels.iter().position(|l| l == o.oos_label));
    let out_of_scope = oos.map(|oos| {
        let scored = scored(&truth, &predicted, &scores, oos);
        let rule = (rejection != Rejection::default()).then(|| OosMetrics::at(&scored, rejection.below_q15));
        OutOfScope { label: oos, by_label: OosMetrics::at(&scored, 0), rule }
    });

    let report = Report { labels, confusion: &confusion, comparison: comparison.as_ref(), out_of_scope: out_of_scope.as_ref() };
    if o.json {
        writeln!(out, "{}", report.json())?;
    } else {
        report.print(o.data, out)?;
    }
    Ok(())
}

/// Each row's label id, or an error naming the first unknown label and its line. Rows labelled
/// `oos_label` get `labels.len()` when the model has no such label.
pub fn label_ids(rows: &[(String, String)], labels: &[String], oos_label: &str, path: &Path) -> Result<Vec<usize>, String> {
    let mut ids: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    ids.entry(oos_label).or_insert(labels.len());
    rows.iter()
        .enumerate()
        .map(|(n, (label, _))| {
            ids.get(label.as_str()).copied().ok_or_else(|| {
                format!("{}:{}: label `{label}` is not one of the model's {} labels", path.display(), n + 1, labels.len())
            })
        })
        .collect()
}

/// The predicted label id and its Q15 score of each text (on every core), with a progress bar
/// titled `what`.
pub fn predict(source: &ModelSource, texts: &[&str], what: &str) -> Result<(Vec<usize>, Vec<u16>), Box<dyn Error>> {
    let bar = progress::bar(what, texts.len());
    let shares = on_all_cores(
        texts,
        |share, tick| {
            let mut arena = Vec::new();
            let mut classifier = source.classifier(&mut arena).map_err(|e| e.to_string())?;
            let mut predictions = Vec::with_capacity(share.items.len());
            for (n, text) in share.items.iter().enumerate() {
                let result = classifier.classify(text).map_err(|e| format!("text {}: {e}", share.first + n + 1))?;
                predictions.push((result.label, result.score_q15));
                tick();
            }
            Ok(predictions)
        },
        |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    Ok(shares.into_iter().flatten().unzip())
}

/// Each text as the out-of-scope metrics see it, `oos` being the no-intent label.
pub fn scored(truth: &[usize], predicted: &[usize], scores: &[u16], oos: usize) -> Vec<Scored> {
    truth
        .iter()
        .zip(predicted)
        .zip(scores)
        .map(|((&t, &p), &score_q15)| Scored { in_scope: t != oos, correct: t == p, predicted_no_intent: p == oos, score_q15 })
        .collect()
}

/// Out-of-scope metrics by the best label alone, and with the blob's rejection rule.
struct OutOfScope {
    label: usize,
    by_label: OosMetrics,
    rule: Option<OosMetrics>,
}

/// The int8 engine against its float checkpoint on the same texts.
struct Comparison {
    total: u64,
    float_correct: u64,
    /// Texts where both chose the same label, right or wrong.
    agreed: u64,
}

impl Comparison {
    fn new(truth: &[usize], int8: &[usize], float: &[usize]) -> Self {
        let same = |a: &[usize], b: &[usize]| a.iter().zip(b).filter(|(x, y)| x == y).count() as u64;
        Self { total: truth.len() as u64, float_correct: same(float, truth), agreed: same(float, int8) }
    }
}

/// Everything `eval` prints, in either format.
struct Report<'a> {
    labels: &'a [String],
    confusion: &'a Confusion,
    comparison: Option<&'a Comparison>,
    out_of_scope: Option<&'a OutOfScope>,
}

impl Report<'_> {
    /// Ids of the labels that occur (as truth or prediction), by name.
    fn shown_labels(&self, stats: &[ClassStats]) -> Vec<usize> {
        let mut ids: Vec<usize> = (0..self.labels.len()).filter(|&i| stats[i].support + stats[i].predicted > 0).collect();
        ids.sort_by_key(|&i| &self.labels[i]);
        ids
    }

    fn json(&self) -> serde_json::Value {
        let c = self.confusion;
        let stats = c.per_class();
        let per_class: Vec<_> = self
            .shown_labels(&stats)
            .into_iter()
            .map(|i| {
                let s = &stats[i];
                json!({"label": self.labels[i], "precision": s.precision, "recall": s.recall, "f1": s.f1,
                       "support": s.support, "correct": s.correct})
            })
            .collect();
        let confusions: Vec<_> = c
            .most_confused(TOP_CONFUSIONS)
            .into_iter()
            .map(|(t, p, n)| json!({"true": self.labels[t], "predicted": self.labels[p], "count": n}))
            .collect();
        let mut v = json!({"total": c.total(), "correct": c.correct(), "accuracy": c.accuracy(),
                           "per_class": per_class, "confusions": confusions});
        if let Some(o) = self.out_of_scope {
            let metrics = |m: &OosMetrics| {
                json!({"in_scope_accuracy": m.in_scope_accuracy, "oos_recall": m.oos_recall, "overall_accuracy": m.overall_accuracy})
            };
            v["oos_label"] = json!(self.labels[o.label]);
            v["in_scope_accuracy"] = json!(o.by_label.in_scope_accuracy);
            v["oos_recall"] = json!(o.by_label.oos_recall);
            v["overall_accuracy"] = json!(o.by_label.overall_accuracy);
            if let Some(rule) = &o.rule {
                v["rejection"] = json!({"below_q15": rule.below_q15, "metrics": metrics(rule)});
            }
        }
        if let Some(f) = self.comparison {
            let float_accuracy = ratio(f.float_correct, f.total);
            v["float_correct"] = json!(f.float_correct);
            v["float_accuracy"] = json!(float_accuracy);
            v["agreed"] = json!(f.agreed);
            v["agreement"] = json!(ratio(f.agreed, f.total));
            v["accuracy_drop_points"] = json!(100.0 * (float_accuracy - c.accuracy()));
        }
        v
    }

    fn print(&self, data: &Path, out: &mut dyn Write) -> CliResult {
        let c = self.confusion;
        let percent = |part: u64| format!("{part}/{} ({:.2} %)", c.total(), 100.0 * ratio(part, c.total()));
        writeln!(out, "data         {} ({} texts)", data.display(), c.total())?;
        writeln!(out, "accuracy     {}", percent(c.correct()))?;
        if let Some(f) = self.comparison {
            let drop = 100.0 * (ratio(f.float_correct, f.total) - c.accuracy());
            writeln!(out, "float        {}; int8 accuracy drop {drop:.2} points", percent(f.float_correct))?;
            writeln!(out, "agreement    {} same top-1 as float", percent(f.agreed))?;
        }
        let stats = c.per_class();
        if let Some(o) = self.out_of_scope {
            let oos = &self.labels[o.label];
            let line = |m: &OosMetrics| {
                format!(
                    "in-scope accuracy {:.2} %, oos recall {:.2} %, overall {:.2} % ({} in scope, {} {oos})",
                    100.0 * m.in_scope_accuracy,
                    100.0 * m.oos_recall,
                    100.0 * m.overall_accuracy,
                    m.in_scope,
                    m.oos
                )
            };
            writeln!(out, "best label   {}", line(&o.by_label))?;
            if let Some(rule) = &o.rule {
                writeln!(out, "rejecting    {} (score below {:.3} or label {oos})", line(rule), f64::from(rule.below_q15) / 32768.0)?;
            }
        }

        let shown = self.shown_labels(&stats);
        let width = shown.iter().map(|&i| self.labels[i].len()).max().unwrap_or(0).max("label".len());
        writeln!(out, "\n{:<width$}  precision  recall      f1  support", "label")?;
        for i in shown {
            let s = &stats[i];
            writeln!(out, "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}", self.labels[i], s.precision, s.recall, s.f1, s.support)?;
        }

        let confused = c.most_confused(TOP_CONFUSIONS);
        if !confused.is_empty() {
            writeln!(out, "\nmost confused (true -> predicted)")?;
            let pairs: Vec<(String, u64)> =
                confused.into_iter().map(|(t, p, n)| (format!("{} -> {}", self.labels[t], self.labels[p]), n)).collect();
            let width = pairs.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
            for (pair, n) in pairs {
                writeln!(out, "  {pair:<width$}  {n:>5}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three labels; label 2 plays oos. Rows are truth, columns predictions:
    /// ```text
    ///        0  1  2
    ///   0 [  3  1  0 ]
    ///   1 [  0  2  2 ]
    ///   2 [  1  0  1 ]
    /// ```
    fn sample() -> Confusion {
        let mut c = Confusion::new(3);
        for (t, p, n) in [(0, 0, 3), (0, 1, 1), (1, 1, 2), (1, 2, 2), (2, 0, 1), (2, 2, 1)] {
            for _ in 0..n {
                c.add(t, p);
            }
        }
        c
    }

    #[test]
    fn accuracy_counts_the_diagonal() {
        let c = sample();
        assert_eq!((c.correct(), c.total()), (6, 10));
        assert!((c.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(Confusion::new(2).accuracy(), 0.0);
    }

    #[test]
    fn per_class_matches_hand_computed_scores() {
        let stats = sample().per_class();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // Label 0: 3 right of 4 predicted, 3 right of 4 true.
        assert!(close(stats[0].precision, 0.75) && close(stats[0].recall, 0.75) && close(stats[0].f1, 0.75));
        // Label 1: precision 2/3, recall 2/4, F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7.
        assert!(close(stats[1].precision, 2.0 / 3.0) && close(stats[1].recall, 0.5) && close(stats[1].f1, 4.0 / 7.0));
        // Label 2: precision 1/3, recall 1/2.
        assert!(close(stats[2].precision, 1.0 / 3.0) && close(stats[2].recall, 0.5));
        assert_eq!(stats.iter().map(|s| s.support).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(stats.iter().map(|s| s.correct).sum::<u64>(), sample().correct());
    }

    #[test]
    fn a_label_never_predicted_scores_zero_not_nan() {
        let mut c = Confusion::new(2);
        c.add(1, 0);
        let stats = c.per_class();
        assert_eq!((stats[0].precision, stats[0].recall, stats[0].f1), (0.0, 0.0, 0.0));
        assert_eq!((stats[1].precision, stats[1].recall, stats[1].f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn most_confused_sorts_by_count_then_id() {
        let c = sample();
        assert_eq!(c.most_confused(10), [(1, 2, 2), (0, 1, 1), (2, 0, 1)]);
        assert_eq!(c.most_confused(1), [(1, 2, 2)]);
    }

    #[test]
    fn unknown_label_names_label_and_line() {
        let labels = ["a".to_owned(), "b".to_owned()];
        let rows = [("b".to_owned(), "x".to_owned()), ("c".to_owned(), "y".to_owned())];
        let err = label_ids(&rows, &labels, OOS, Path::new("d.tsv")).unwrap_err();
        assert_eq!(err, "d.tsv:2: label `c` is not one of the model's 2 labels");
    }
}
