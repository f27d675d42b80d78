//! The models behind Orrery's `local` provider, free of any server concern: a llama-architecture
//! instruct model from GGUF ([`ChatModel`]) and a sentence-transformers embedder from
//! safetensors ([`SentenceModel`]). Synchronous and CPU-bound; the caller owns the threads
//! (run inside a rayon pool sized for the machine). Its SIMD kernels serve the search index
//! too ([`f32_dot`], [`int8_dot`], [`int8_block_dots`], [`sign_distances`]). A crate of its own so that it
//! is compiled optimised even in debug builds: unoptimised, decoding is a hundred times slower.

mod bert;
mod chat_model;
mod int8_blocks;
mod kernels;
mod llama;
mod q8;
mod sampler;
mod sentence_model;
mod sign_sketch;

pub use chat_model::{step_all, ChatModel, Finish, Role, SamplingOptions, Sequence, Step};
pub use int8_blocks::{block_offset, blocked_len, int8_block_dots, GROUP, LANES};
pub use kernels::dot as f32_dot;
pub use q8::int8_dot;
pub use sentence_model::{Embedded, SentenceModel};
pub use sign_sketch::{sign_distances, sign_sketch, sign_words};
