//! What `--model` names: a Hugging Face checkpoint folder (run by the f32 reference) or a
//! packed `.cbq` blob (run by the int8 engine), behind one [`TextClassifier`] interface.

use convbert::float::ops::softmax;
use convbert::float::LayerWeights;
use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model, Rejection};
use convbert::tokenizer::Tokenizer;
use convbert_hf::Checkpoint;
use std::error::Error;
use std::path::Path;

/// A loaded model of either kind.
pub enum ModelSource {
    /// A Hugging Face checkpoint folder.
    Checkpoint(Box<Checkpoint>),
    /// A packed int8 blob, with its labels.
    Blob(AlignedBlob, Vec<String>),
}

/// One text's prediction, on the host's float scale for display.
pub struct Prediction {
    /// Index of the best label.
    pub label: usize,
    /// Its probability in Q15 (the int8 engine's own; the float model's rounded).
    pub score_q15: u16,
    /// Softmax of the logits.
    pub probabilities: Vec<f32>,
    /// The logits (the int8 engine's, times its logit scale).
    pub logits: Vec<f32>,
    /// The text was cut to the model's maximum length.
    pub truncated: bool,
}

/// Classifies texts; see [`ModelSource::classifier`].
pub trait TextClassifier {
    /// Classifies one text.
    fn classify(&mut self, text: &str) -> Result<Prediction, Box<dyn Error>>;
}

impl ModelSource {
    /// Opens a checkpoint folder or a blob file.
    pub fn open(path: &Path) -> Result<Self, Box<dyn Error>> {
        if path.is_dir() || !path.exists() {
            return Ok(Self::Checkpoint(Box::new(Checkpoint::load(path)?)));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let blob = AlignedBlob::new(&bytes);
        let model = Model::from_bytes(blob.bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        let labels = model.labels().map(String::from).collect();
        Ok(Self::Blob(blob, labels))
    }

    /// Label names in id order.
    pub fn labels(&self) -> &[String] {
        match self {
            Self::Checkpoint(c) => &c.labels,
            Self::Blob(_, labels) => labels,
        }
    }

    /// Whether this is the int8 engine.
    pub fn is_int8(&self) -> bool {
        matches!(self, Self::Blob(..))
    }

    /// The blob's out-of-scope rule (a checkpoint has none).
    pub fn rejection(&self) -> Rejection {
        match self {
            Self::Checkpoint(_) => Rejection::default(),
            Self::Blob(blob, _) => Model::from_bytes(blob.bytes()).map(|m| m.rejection()).unwrap_or_default(),
        }
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> Result<Tokenizer<'_>, Box<dyn Error>> {
        Ok(match self {
            Self::Checkpoint(c) => c.tokenizer()?,
            Self::Blob(blob, _) => Model::from_bytes(blob.bytes())?.tokenizer(),
        })
    }

    /// A classifier over this model; a blob's engine runs in `arena`, which the caller owns.
    pub fn classifier<'a>(&'a self, arena: &'a mut Vec<u8>) -> Result<Box<dyn TextClassifier + 'a>, Box<dyn Error>> {
        if self.labels().is_empty() {
            return Err("the model has no classification head".into());
        }
        match self {
            Self::Checkpoint(c) => {
                let tokenizer = c.tokenizer()?;
                let layers = c.float_layers()?;
                let scratch = vec![0.0; c.float_model(&layers)?.scratch_len(tokenizer.settings.max_len)];
                Ok(Box::new(FloatClassifier { checkpoint: c, layers, tokenizer, scratch }))
            }
            Self::Blob(blob, _) => {
                let model = Model::from_bytes(blob.bytes())?;
                arena.resize(arena_bytes(&model, model.tokenizer().settings.max_len), 0);
                let logit_scale = half::f16::from_bits(model.logit_scale_f16()).to_f32();
                Ok(Box::new(Int8Classifier { engine: Engine::new(&model, arena)?, logit_scale }))
            }
        }
    }
}

/// The f32 reference pass.
struct FloatClassifier<'a> {
    checkpoint: &'a Checkpoint,
    layers: Vec<LayerWeights<'a>>,
    tokenizer: Tokenizer<'a>,
    scratch: Vec<f32>,
}

impl TextClassifier for FloatClassifier<'_> {
    fn classify(&mut self, text: &str) -> Result<Prediction, Box<dyn Error>> {
        let mut ids = vec![0; self.tokenizer.settings.max_len];
        let encoding = self.tokenizer.encode(text, &mut ids)?;
        let model = self.checkpoint.float_model(&self.layers)?;
        let mut logits = vec![0.0; self.checkpoint.labels.len()];
        model.classify(&ids[..encoding.len], None, &mut self.scratch, &mut logits)?;
        Ok(prediction(logits, encoding.truncated))
    }
}

/// The int8 engine.
struct Int8Classifier<'a> {
    engine: Engine<'a, 'a>,
    logit_scale: f32,
}

impl TextClassifier for Int8Classifier<'_> {
    fn classify(&mut self, text: &str) -> Result<Prediction, Box<dyn Error>> {
        let result = self.engine.classify(text)?;
        let logits = result.logits.iter().map(|&l| l as f32 * self.logit_scale).collect();
        let mut p = prediction(logits, result.truncated);
        // The engine's own choice (first maximum of the integer logits) is the answer.
        (p.label, p.score_q15) = (result.label, result.score_q15);
        Ok(p)
    }
}

fn prediction(logits: Vec<f32>, truncated: bool) -> Prediction {
    let mut probabilities = logits.clone();
    softmax(&mut probabilities);
    let label = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap_or(0);
    let score_q15 = (f64::from(probabilities.get(label).copied().unwrap_or(0.0)) * 32768.0).round() as u16;
    Prediction { label, score_q15, probabilities, logits, truncated }
}
