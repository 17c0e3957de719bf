//! `config.json` and `tokenizer_config.json` into [`ModelConfig`], labels and tokenizer settings.
//!
//! Missing fields take the defaults of `transformers.ConvBertConfig`, so a config.json that
//! Hugging Face loads is read the same way here.

use crate::LoadError;
use convbert::tokenizer::TokenizerSettings;
use convbert::{Activation, ModelConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// config.json as Hugging Face writes it for ConvBERT; defaults from `ConvBertConfig`.
#[derive(Deserialize)]
#[serde(default)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    embedding_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    head_ratio: usize,
    conv_kernel_size: usize,
    num_groups: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    hidden_act: String,
    layer_norm_eps: f64,
    id2label: Option<BTreeMap<String, String>>,
    model_type: Option<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            embedding_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            head_ratio: 2,
            conv_kernel_size: 9,
            num_groups: 1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            id2label: None,
            model_type: None,
        }
    }
}

/// What config.json says: the hyper-parameters (with `num_labels` from `id2label`) and the
/// label names in id order.
pub(crate) fn read_model_config(path: &Path) -> Result<(ModelConfig, Vec<String>), LoadError> {
    let raw: RawConfig = read_json(path)?;
    let bad = |why: String| LoadError::Config(path.to_owned(), why);
    if let Some(kind) = raw.model_type.as_deref().filter(|k| *k != "convbert") {
        return Err(bad(format!("model_type is \"{kind}\", expected \"convbert\"")));
    }
    let hidden_act = Activation::from_hf_name(&raw.hidden_act).ok_or_else(|| {
        bad(format!(
            "hidden_act \"{}\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)",
            raw.hidden_act
        ))
    })?;
    let labels = labels_in_id_order(raw.id2label.unwrap_or_default()).map_err(bad)?;
    let config = ModelConfig {
        vocab_size: raw.vocab_size,
        hidden_size: raw.hidden_size,
        embedding_size: raw.embedding_size,
        intermediate_size: raw.intermediate_size,
        num_hidden_layers: raw.num_hidden_layers,
        num_attention_heads: raw.num_attention_heads,
        head_ratio: raw.head_ratio,
        conv_kernel_size: raw.conv_kernel_size,
        num_groups: raw.num_groups,
        max_position_embeddings: raw.max_position_embeddings,
        type_vocab_size: raw.type_vocab_size,
        hidden_act,
        layer_norm_eps: raw.layer_norm_eps as f32,
        num_labels: labels.len(),
    };
    config.validate().map_err(|e| bad(e.to_string()))?;
    Ok((config, labels))
}

/// `{"0": "A", "1": "B"}` into `["A", "B"]`; ids must be exactly 0..n.
fn labels_in_id_order(id2label: BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let mut by_id: Vec<(usize, String)> = id2label
        .into_iter()
        .map(|(id, label)| {
            id.parse::<usize>().map(|id| (id, label)).map_err(|_| format!("id2label key \"{id}\" is not an integer"))
        })
        .collect::<Result<_, _>>()?;
    by_id.sort();
    if by_id.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err("id2label ids must be 0, 1, ..., n-1".into());
    }
    // The blob stores labels one per line, and the CLI prints them in lines and tables.
    for (id, label) in &by_id {
        if let Some(c) = label.chars().find(|c| c.is_control()) {
            return Err(format!(
                "id2label[\"{id}\"] holds the control character U+{:04X}; a label must be one line of printable text",
                u32::from(c)
            ));
        }
    }
    Ok(by_id.into_iter().map(|(_, label)| label).collect())
}

/// tokenizer_config.json (optional): the BERT tokenizer's settings.
#[derive(Deserialize)]
#[serde(default)]
struct RawTokenizerConfig {
    do_lower_case: bool,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: bool,
    model_max_length: Option<f64>,
}

impl Default for RawTokenizerConfig {
    fn default() -> Self {
        Self { do_lower_case: true, strip_accents: None, tokenize_chinese_chars: true, model_max_length: None }
    }
}

/// Reads tokenizer_config.json if present; BERT defaults otherwise.
pub(crate) fn read_tokenizer_settings(path: &Path, max_positions: usize) -> Result<TokenizerSettings, LoadError> {
    let raw = if path.exists() { read_json(path)? } else { RawTokenizerConfig::default() };
    if !raw.tokenize_chinese_chars {
        return Err(LoadError::Config(
            path.to_owned(),
            "tokenize_chinese_chars = false is not supported (BERT tokenizers split CJK ideographs)".into(),
        ));
    }
    // Hugging Face writes a huge sentinel (1e30) when no limit was set.
    let max_len = raw
        .model_max_length
        .filter(|&m| m >= 2.0 && m < max_positions as f64)
        .map_or(max_positions, |m| m as usize);
    Ok(TokenizerSettings { lowercase: raw.do_lower_case, strip_accents: raw.strip_accents, max_len })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::MissingFile(path.to_owned()),
        _ => LoadError::Io(path.to_owned(), e),
    })?;
    serde_json::from_str(&text).map_err(|e| match non_finite_field(&text, &e) {
        Some((field, word)) => LoadError::Config(
            path.to_owned(),
            format!(
                "field `{field}` is {word}, which is not a JSON number (Python's json module writes it for a \
                 non-finite float); set it to a finite number"
            ),
        ),
        None => LoadError::Json(path.to_owned(), e),
    })
}

/// The field and word when `error` stopped at a `"field": NaN` (or `Infinity`, `-Infinity`):
/// what Python's `json.dump` writes for a non-finite float, and not JSON, so serde_json
/// stops there with a bare "expected value".
fn non_finite_field<'t>(text: &'t str, error: &serde_json::Error) -> Option<(&'t str, &'static str)> {
    if !error.is_syntax() {
        return None;
    }
    let line = text.lines().nth(error.line().checked_sub(1)?)?;
    // The column points at (or just past) the first character serde_json could not take,
    // which is after the field's colon.
    let before = line.get(..error.column().min(line.len()))?;
    let colon = before.rfind(':')?;
    let value = line[colon + 1..].trim_start();
    let word = ["NaN", "Infinity", "-Infinity"].into_iter().find(|w| value.starts_with(w))?;
    let (_, field) = line[..colon].trim_end().strip_suffix('"')?.rsplit_once('"')?;
    Some((field, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> serde_json::Error {
        serde_json::from_str::<serde_json::Value>(text).unwrap_err()
    }

    #[test]
    fn python_non_finite_floats_name_their_field() {
        for (text, expected) in [
            ("{\n  \"hidden_size\": 64,\n  \"layer_norm_eps\": NaN,\n  \"x\": 1\n}", ("layer_norm_eps", "NaN")),
            ("{\"a\": 1, \"initializer_range\": Infinity}", ("initializer_range", "Infinity")),
            ("{\"classifier_dropout\": -Infinity}", ("classifier_dropout", "-Infinity")),
        ] {
            assert_eq!(non_finite_field(text, &parse_error(text)), Some(expected), "{text}");
        }
    }

    #[test]
    fn other_json_errors_are_left_to_serde() {
        for text in ["{\"a\": nope}", "{\"a\": 1,}", "[NaN]", "{\"a\": 1"] {
            assert_eq!(non_finite_field(text, &parse_error(text)), None, "{text}");
        }
    }

    #[test]
    fn labels_come_in_id_order_and_refuse_control_characters() {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(labels_in_id_order(map(&[("1", "b"), ("0", "a")])).unwrap(), ["a", "b"]);
        assert_eq!(
            labels_in_id_order(map(&[("0", "a"), ("1", "two\nlines")])).unwrap_err(),
            "id2label[\"1\"] holds the control character U+000A; a label must be one line of printable text"
        );
        assert!(labels_in_id_order(map(&[("0", "tab\there")])).unwrap_err().contains("U+0009"));
        assert_eq!(labels_in_id_order(map(&[("0", "a"), ("2", "c")])).unwrap_err(), "id2label ids must be 0, 1, ..., n-1");
    }
}
