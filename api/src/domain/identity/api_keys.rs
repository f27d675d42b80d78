//! API key format: `lnos_live_` + 30 random base62 characters + a 6-character base62 CRC32
//! of the random part (like GitHub's tokens), so a mistyped or forged key is refused before
//! any database read.

use rand::Rng;

use super::tokens::sha256_hex;

pub const PREFIX: &str = "lnos_live_";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// How much of the key is kept for display (`lnos_live_` + 8 characters).
const DISPLAY_LEN: usize = PREFIX.len() + 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62_fixed(mut value: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out).expect("base62 is ascii")
}

fn checksum(random: &str) -> String {
    base62_fixed(u64::from(crc32fast::hash(random.as_bytes())), CHECKSUM_LEN)
}

pub struct NewKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    let mut rng = rand::rngs::OsRng;
    let random: String = (0..RANDOM_LEN)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect();
    let key = format!("{PREFIX}{random}{}", checksum(&random));
    NewKey {
        prefix: key[..DISPLAY_LEN].to_string(),
        hash: sha256_hex(&key),
        key,
    }
}

/// True when `candidate` has the key shape at all (used to tell keys from JWTs).
pub fn looks_like_key(candidate: &str) -> bool {
    candidate.starts_with(PREFIX)
}

/// Checks shape and checksum; on success returns the hash to look up.
pub fn verify_format(candidate: &str) -> Option<String> {
    if candidate.len() != KEY_LEN || !candidate.starts_with(PREFIX) {
        return None;
    }
    let body = &candidate[PREFIX.len()..];
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    (checksum(random) == sum).then(|| sha256_hex(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_verify() {
        for _ in 0..100 {
            let new = generate();
            assert_eq!(new.key.len(), KEY_LEN);
            assert!(new.key.starts_with(&new.prefix));
            assert_eq!(verify_format(&new.key), Some(new.hash));
        }
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let key = generate().key;
        let mut bytes = key.into_bytes();
        let i = PREFIX.len() + 3;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(verify_format(&String::from_utf8(bytes).unwrap()), None);
    }

    #[test]
    fn wrong_shapes_fail() {
        assert_eq!(verify_format("lnos_live_short"), None);
        assert_eq!(verify_format(&format!("{PREFIX}{}", "!".repeat(36))), None);
        assert_eq!(verify_format(&"x".repeat(KEY_LEN)), None);
    }
}
