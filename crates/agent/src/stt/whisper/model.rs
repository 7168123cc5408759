//! Whisper's transformer, built from candle_nn layers, shaped for one short
//! utterance at a time on a CPU.
//!
//! candle-transformers' `whisper::model` is the reference (a test checks
//! this one against it), but it does two things that cost too much here:
//! its decoder runs every earlier token through self-attention again at each
//! step (only cross-attention is cached), and it keeps its caches inside the
//! model, so a shared model would need a lock. Here:
//!
//! - [`Whisper::encode`] takes as many mel frames as it is given: the
//!   positional embedding is sliced to the length (whisper.cpp's
//!   `audio_ctx`), so 3 s of speech costs a tenth of Whisper's 30 s window.
//! - [`Whisper::decode`] is incremental: each call feeds only the new
//!   tokens, and every layer's self-attention keys and values are kept in a
//!   [`DecoderCache`] that belongs to the call. **The model is immutable**:
//!   one copy serves every session at once.
//! - GELU is the exact (erf) one, as Whisper was trained and CTranslate2
//!   runs it (candle's Whisper uses the tanh approximation).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::whisper::Config;

/// Whisper's layer norms.
const LAYER_NORM_EPS: f64 = 1e-5;

/// Multi-head attention: query, key (Whisper's has no bias), value and
/// output projections.
#[derive(Debug, Clone)]
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    heads: usize,
}

/// How a layer's weights are multiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// As loaded.
    F32,
    /// 8-bit blocks (GGML's Q8_0): a quarter of the memory to read.
    Q8,
}

impl Weights {
    fn matmul(self, weight: Tensor) -> Result<QMatMul> {
        match self {
            Weights::F32 => Ok(QMatMul::Tensor(weight)),
            Weights::Q8 => QMatMul::from_qtensor(QTensor::quantize(&weight, GgmlDType::Q8_0)?),
        }
    }
}

/// A linear layer whose weights are f32 or quantized.
#[derive(Debug, Clone)]
struct Linear {
    weight: QMatMul,
    bias: Option<Tensor>,
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.weight.forward(x)?;
        match &self.bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }
}

/// `vb`'s `weight` `[outputs, inputs]` and, if `bias`, its `bias`.
fn dense(
    inputs: usize,
    outputs: usize,
    bias: bool,
    weights: Weights,
    vb: VarBuilder,
) -> Result<Linear> {
    Ok(Linear {
        weight: weights.matmul(vb.get((outputs, inputs), "weight")?)?,
        bias: bias.then(|| vb.get(outputs, "bias")).transpose()?,
    })
}

impl Attention {
    fn load(width: usize, heads: usize, weights: Weights, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            query: dense(width, width, true, weights, vb.pp("q_proj"))?,
            key: dense(width, width, false, weights, vb.pp("k_proj"))?,
            value: dense(width, width, true, weights, vb.pp("v_proj"))?,
            out: dense(width, width, true, weights, vb.pp("out_proj"))?,
            heads,
        })
    }

    /// `[1, t, width]` → `[1, heads, t, width / heads]`.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, time, width) = x.dims3()?;
        x.reshape((batch, time, self.heads, width / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `x`, split into heads.
    fn keys_values(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            self.split_heads(&self.key.forward(x)?)?,
            self.split_heads(&self.value.forward(x)?)?,
        ))
    }

    /// Attention of `x`'s queries over the given keys and values (split into
    /// heads), with an additive `mask` of shape `[queries, keys]`.
    fn attend(
        &self,
        x: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (batch, time, width) = x.dims3()?;
        let scale = ((width / self.heads) as f64).powf(-0.5);
        let queries = (self.split_heads(&self.query.forward(x)?)? * scale)?;
        let mut scores = queries.matmul(&keys.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let mixed = weights
            .matmul(values)?
            .transpose(1, 2)?
            .reshape((batch, time, width))?;
        self.out.forward(&mixed)
    }
}

/// One residual block: self-attention, cross-attention over the audio (the
/// decoder's blocks only), then the two-layer perceptron; each sub-layer
/// reads its input through a layer norm.
#[derive(Debug, Clone)]
struct Block {
    attention: Attention,
    attention_norm: LayerNorm,
    cross_attention: Option<(Attention, LayerNorm)>,
    fc1: Linear,
    fc2: Linear,
    mlp_norm: LayerNorm,
}

impl Block {
    fn load(
        width: usize,
        heads: usize,
        cross: bool,
        weights: Weights,
        vb: VarBuilder,
    ) -> Result<Self> {
        let cross_attention = if cross {
            Some((
                Attention::load(width, heads, weights, vb.pp("encoder_attn"))?,
                candle_nn::layer_norm(width, LAYER_NORM_EPS, vb.pp("encoder_attn_layer_norm"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            attention: Attention::load(width, heads, weights, vb.pp("self_attn"))?,
            attention_norm: candle_nn::layer_norm(
                width,
                LAYER_NORM_EPS,
                vb.pp("self_attn_layer_norm"),
            )?,
            cross_attention,
            fc1: dense(width, 4 * width, true, weights, vb.pp("fc1"))?,
            fc2: dense(4 * width, width, true, weights, vb.pp("fc2"))?,
            mlp_norm: candle_nn::layer_norm(width, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
        })
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = self.fc1.forward(&self.mlp_norm.forward(x)?)?.gelu_erf()?;
        x + self.fc2.forward(&hidden)?
    }

    /// An encoder block: every position attends to every other.
    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let normed = self.attention_norm.forward(x)?;
        let (keys, values) = self.attention.keys_values(&normed)?;
        let x = (x + self.attention.attend(&normed, &keys, &values, None)?)?;
        self.mlp(&x)
    }

    /// A decoder block over new positions `x`: their keys and values join
    /// `own` (the earlier positions'), then they attend to the audio's.
    fn decode(
        &self,
        x: &Tensor,
        own: &mut Option<(Tensor, Tensor)>,
        audio: &(Tensor, Tensor),
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let normed = self.attention_norm.forward(x)?;
        let (new_keys, new_values) = self.attention.keys_values(&normed)?;
        let (keys, values) = match own.take() {
            Some((keys, values)) => (
                Tensor::cat(&[&keys, &new_keys], 2)?,
                Tensor::cat(&[&values, &new_values], 2)?,
            ),
            None => (new_keys, new_values),
        };
        let x = (x + self.attention.attend(&normed, &keys, &values, mask)?)?;
        *own = Some((keys, values));
        let (cross, cross_norm) = self
            .cross_attention
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("an encoder block in the decoder".into()))?;
        let x = (&x + cross.attend(&cross_norm.forward(&x)?, &audio.0, &audio.1, None)?)?;
        self.mlp(&x)
    }
}

/// What the decoder keeps between the steps of one transcription.
#[derive(Debug, Clone)]
pub struct DecoderCache {
    /// Each layer's keys and values of the audio, computed once.
    audio: Vec<(Tensor, Tensor)>,
    /// Each layer's keys and values of the tokens decoded so far.
    own: Vec<Option<(Tensor, Tensor)>>,
    /// How many tokens have been decoded: the next one's position.
    len: usize,
}

/// Whisper: the audio encoder and the text decoder, whose output
/// projection is its token embedding (tied, as in every Whisper).
#[derive(Debug, Clone)]
pub struct Whisper {
    conv1: Conv1d,
    conv2: Conv1d,
    /// `[max_source_positions, width]`: sliced to the audio's length.
    audio_positions: Tensor,
    encoder_blocks: Vec<Block>,
    encoder_norm: LayerNorm,
    token_embedding: Embedding,
    /// The token embedding again, as the output projection.
    vocabulary: QMatMul,
    /// `[max_target_positions, width]`.
    text_positions: Tensor,
    decoder_blocks: Vec<Block>,
    decoder_norm: LayerNorm,
    pub config: Config,
}

impl Whisper {
    /// Loads the weights under Hugging Face's names (what candle's Whisper
    /// reads too), plus `model.encoder.embed_positions.weight`.
    pub fn load(vb: &VarBuilder, config: Config, decoder_weights: Weights) -> Result<Self> {
        let width = config.d_model;
        let encoder = vb.pp("model.encoder");
        let decoder = vb.pp("model.decoder");
        let conv = |stride| Conv1dConfig {
            padding: 1,
            stride,
            ..Conv1dConfig::default()
        };
        let conv_weights = |name: &str, inputs: usize, stride| -> Result<Conv1d> {
            let vb = encoder.pp(name);
            Ok(Conv1d::new(
                vb.get((width, inputs, 3), "weight")?,
                Some(vb.get(width, "bias")?),
                conv(stride),
            ))
        };
        let token_embedding =
            candle_nn::embedding(config.vocab_size, width, decoder.pp("embed_tokens"))?;
        // The projection onto the 51,864-token vocabulary is the largest
        // product of each decoding step; it runs in 8 bits (docs/AGENT.md
        // has its cost and the spoken evaluation's scores with it).
        let vocabulary = Weights::Q8.matmul(token_embedding.embeddings().clone())?;
        Ok(Self {
            conv1: conv_weights("conv1", config.num_mel_bins, 1)?,
            conv2: conv_weights("conv2", width, 2)?,
            audio_positions: encoder.get(
                (config.max_source_positions, width),
                "embed_positions.weight",
            )?,
            encoder_blocks: (0..config.encoder_layers)
                .map(|i| {
                    Block::load(
                        width,
                        config.encoder_attention_heads,
                        false,
                        Weights::F32,
                        encoder.pp(format!("layers.{i}")),
                    )
                })
                .collect::<Result<_>>()?,
            encoder_norm: candle_nn::layer_norm(width, LAYER_NORM_EPS, encoder.pp("layer_norm"))?,
            token_embedding,
            vocabulary,
            text_positions: decoder.get(
                (config.max_target_positions, width),
                "embed_positions.weight",
            )?,
            decoder_blocks: (0..config.decoder_layers)
                .map(|i| {
                    Block::load(
                        width,
                        config.decoder_attention_heads,
                        true,
                        decoder_weights,
                        decoder.pp(format!("layers.{i}")),
                    )
                })
                .collect::<Result<_>>()?,
            decoder_norm: candle_nn::layer_norm(width, LAYER_NORM_EPS, decoder.pp("layer_norm"))?,
            config,
        })
    }

    /// The audio's encoding, `[1, frames / 2, width]`, from log-mel
    /// features `[1, mels, frames]`; `frames` must be even and at most
    /// twice the positions the model knows (3000: Whisper's 30 s).
    pub fn encode(&self, mel: &Tensor) -> Result<Tensor> {
        let x = self.conv1.forward(mel)?.gelu_erf()?;
        let x = self.conv2.forward(&x)?.gelu_erf()?.transpose(1, 2)?;
        let positions = x.dim(1)?;
        if positions > self.audio_positions.dim(0)? {
            candle_core::bail!(
                "{positions} audio positions, the model knows {}",
                self.audio_positions.dim(0)?
            );
        }
        let mut x = x.broadcast_add(&self.audio_positions.narrow(0, 0, positions)?)?;
        for block in &self.encoder_blocks {
            x = block.encode(&x)?;
        }
        self.encoder_norm.forward(&x)
    }

    /// A fresh decoder state for one transcription of `audio` (the
    /// encoder's output): the audio's keys and values, layer by layer.
    pub fn start(&self, audio: &Tensor) -> Result<DecoderCache> {
        let audio = self
            .decoder_blocks
            .iter()
            .map(|block| match &block.cross_attention {
                Some((attention, _)) => attention.keys_values(audio),
                None => candle_core::bail!("a decoder block without cross-attention"),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache {
            own: vec![None; audio.len()],
            audio,
            len: 0,
        })
    }

    /// Runs `tokens` (the ones after those already in `cache`) through the
    /// decoder and returns their final hidden states, `[tokens, width]`.
    pub fn decode(&self, cache: &mut DecoderCache, tokens: &[u32]) -> Result<Tensor> {
        let (start, count) = (cache.len, tokens.len());
        if start + count > self.text_positions.dim(0)? {
            candle_core::bail!(
                "{} tokens, the decoder knows {} positions",
                start + count,
                self.text_positions.dim(0)?
            );
        }
        let device = self.text_positions.device();
        let ids = Tensor::new(tokens, device)?.unsqueeze(0)?;
        let mut x = self
            .token_embedding
            .forward(&ids)?
            .broadcast_add(&self.text_positions.narrow(0, start, count)?)?;
        // A token sees itself and what came before; one new token sees all.
        let mask = (count > 1)
            .then(|| causal_mask(start, count, device))
            .transpose()?;
        for ((block, own), audio) in self
            .decoder_blocks
            .iter()
            .zip(&mut cache.own)
            .zip(&cache.audio)
        {
            x = block.decode(&x, own, audio, mask.as_ref())?;
        }
        cache.len += count;
        self.decoder_norm.forward(&x)?.squeeze(0)
    }

    /// Scores over the vocabulary, `[rows, vocab]`, for hidden states
    /// `[rows, width]` from [`Self::decode`].
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.vocabulary.forward(hidden)
    }
}

/// `[count, start + count]`: 0 where new token `i` may look (positions up to
/// `start + i`), −∞ after.
fn causal_mask(start: usize, count: usize, device: &Device) -> Result<Tensor> {
    let total = start + count;
    let mask: Vec<f32> = (0..count)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > start + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (count, total), device)
}
