use std::collections::BTreeMap;
use anyhow::Result;
use crate::config::DialectConfig;
use crate::ir::Api;
pub fn render(_api: &Api, _config: &DialectConfig) -> Result<BTreeMap<String, String>> { Ok(BTreeMap::new()) }
