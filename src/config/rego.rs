//! A policy's `rego:` block: modules read and compiled, data loaded, limits
//! checked. Compile errors keep regorus's `file:line:column`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::compile::Errors;
use super::file::RegoFile;
use crate::rego::{RegoLimits, RegoModule, RegoPolicy};

/// Largest module or data file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Highest instruction limit and time budget a policy may ask for.
const MAX_INSTRUCTIONS: usize = 10_000_000;
const MAX_TIME_BUDGET: Duration = Duration::from_secs(1);

pub(super) fn rego_policy(
    path: &str,
    f: RegoFile,
    base_dir: &Path,
    errs: &mut Errors,
) -> Option<Arc<RegoPolicy>> {
    let before = errs.0.len();
    let at = format!("{path}.rego");
    let modules: Vec<RegoModule> = f
        .module
        .into_vec()
        .into_iter()
        .enumerate()
        .filter_map(|(i, file)| {
            let text = read(&base_dir.join(&file), &format!("{at}.module[{i}]"), errs)?;
            Some(RegoModule { name: file, text })
        })
        .collect();
    if modules.is_empty() && errs.0.len() == before {
        errs.add(format!("{at}.module"), "list at least one module");
    }
    let data = f.data.and_then(|file| {
        let text = read(&base_dir.join(&file), &format!("{at}.data"), errs)?;
        // YAML is a superset of JSON, so one parser reads both.
        serde_yaml_ng::from_str::<serde_json::Value>(&text)
            .map_err(|e| errs.add(format!("{at}.data"), format!("{file}: {e}")))
            .ok()
            .filter(|v| {
                let object = v.is_object();
                if !object {
                    errs.add(
                        format!("{at}.data"),
                        format!("{file}: the top level must be an object"),
                    );
                }
                object
            })
    });
    let headers: Vec<HeaderName> = f
        .headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            crate::rego::settable_header(h)
                .map_err(|e| errs.add(format!("{at}.headers[{i}]"), e.to_string()))
                .ok()
        })
        .collect();
    let mut limits = RegoLimits::default();
    if let Some(n) = f.max_instructions {
        if n == 0 || n > MAX_INSTRUCTIONS {
            errs.add(
                format!("{at}.max_instructions"),
                format!("must be from 1 to {MAX_INSTRUCTIONS}"),
            );
        }
        limits.max_instructions = n;
    }
    if let Some(d) = f.time_budget {
        if d.0.is_zero() || d.0 > MAX_TIME_BUDGET {
            errs.add(
                format!("{at}.time_budget"),
                "must be more than 0 and at most 1s",
            );
        }
        limits.time_budget = d.0;
    }
    if errs.0.len() != before {
        return None;
    }
    let data = data.map_or(regorus::Value::Null, regorus::Value::from);
    RegoPolicy::compile(&modules, data, f.query.trim(), headers, limits)
        .map(Arc::new)
        .map_err(|e| errs.add(&at, e))
        .ok()
}

fn read(file: &Path, at: &str, errs: &mut Errors) -> Option<String> {
    let shown = file.display();
    match std::fs::metadata(file) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            errs.add(at, format!("{shown} is larger than {MAX_FILE_BYTES} bytes"));
            return None;
        }
        Err(e) => {
            errs.add(at, format!("cannot read {shown}: {e}"));
            return None;
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(file)
        .map_err(|e| errs.add(at, format!("cannot read {shown}: {e}")))
        .ok()
}
