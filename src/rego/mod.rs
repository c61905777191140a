//! Rego policies evaluated in process (step 10b of the pipeline), after
//! zt-authz has verified the token and the policy's own requirements pass:
//! a Rego policy can narrow an allow, never widen one.
//!
//! Modules are compiled once per config load to regorus's virtual machine.
//! Each evaluation is bounded by an instruction count and a time budget;
//! memory is not bounded per evaluation (README, "Rego policies").

mod input;
mod verdict;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderName;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

pub use input::{
    RequestDocument, envelope_of, minimal_request, parsed_path, parsed_query, token_document,
};
pub use verdict::{RegoError, Verdict, settable_header};

/// Idle virtual machines kept per policy; more run at once under load and
/// are dropped afterwards.
const IDLE_MACHINES: usize = 64;

/// What bounds one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegoLimits {
    /// Virtual-machine instructions one evaluation may run.
    pub max_instructions: usize,
    /// Wall-clock time one evaluation may take.
    pub time_budget: Duration,
}

impl Default for RegoLimits {
    fn default() -> Self {
        Self {
            max_instructions: 100_000,
            // Wall-clock time: a thread descheduled under load counts, so
            // this is a backstop for slow built-ins, well above what a
            // busy machine adds; the instruction limit bounds the work.
            time_budget: Duration::from_millis(100),
        }
    }
}

/// One Rego module: a name for error messages (its file) and its text.
#[derive(Debug, Clone)]
pub struct RegoModule {
    /// Shown in compile errors as `name:line:column`.
    pub name: String,
    /// The module's source.
    pub text: String,
}

/// A policy's Rego, compiled.
pub struct RegoPolicy {
    query: String,
    program: Arc<Program>,
    data: Value,
    limits: RegoLimits,
    headers: Vec<HeaderName>,
    idle: Mutex<Vec<RegoVM>>,
}

impl fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("query", &self.query)
            .field("limits", &self.limits)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl RegoPolicy {
    /// Parses and compiles `modules` for `query` (a rule such as
    /// `data.zt.authz.allow`). `data` must be an object or `Null`.
    /// `headers` are the request headers the policy may set.
    pub fn compile(
        modules: &[RegoModule],
        data: Value,
        query: &str,
        headers: Vec<HeaderName>,
        limits: RegoLimits,
    ) -> Result<Self, String> {
        if !query.starts_with("data.") {
            return Err(format!("query `{query}` must name a rule under `data.`"));
        }
        let mut engine = Engine::new();
        for m in modules {
            engine
                .add_policy(m.name.clone(), m.text.clone())
                .map_err(|e| e.to_string())?;
        }
        if data != Value::Null {
            engine.add_data(data).map_err(|e| format!("data: {e}"))?;
        }
        let compiled = engine
            .compile_with_entrypoint(&query.into())
            .map_err(|e| e.to_string())?;
        let program = Compiler::compile_from_policy(&compiled, &[query])
            .map_err(|e| format!("cannot compile `{query}`: {e}"))?;
        Ok(Self {
            query: query.to_owned(),
            program,
            data: engine.get_data(),
            limits,
            headers,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The rule the policy evaluates.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The request headers this policy may set; every request it allows
    /// has the client's copies stripped.
    pub fn headers(&self) -> &[HeaderName] {
        &self.headers
    }

    /// Evaluates the query against `input` and reads the result.
    pub fn evaluate(&self, input: Value) -> Result<Verdict, RegoError> {
        let mut vm = self.machine()?;
        vm.set_input(input);
        let result = vm.execute();
        // A machine whose run failed is not reused: its state is unknown.
        if result.is_ok() {
            self.put_back(vm);
        }
        let value = result.map_err(|e| RegoError::Evaluation(e.to_string()))?;
        let verdict = Verdict::read(&value)?;
        // On a denial `headers` go to the caller, not the workload.
        let undeclared = verdict
            .headers
            .iter()
            .find(|(name, _)| verdict.allowed && !self.headers.contains(name));
        if let Some((name, _)) = undeclared {
            return Err(RegoError::Result(format!(
                "header `{name}` is not listed in the policy's rego.headers"
            )));
        }
        Ok(verdict)
    }

    fn machine(&self) -> Result<RegoVM, RegoError> {
        if let Some(vm) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(vm);
        }
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone())
            .map_err(|e| RegoError::Evaluation(e.to_string()))?;
        vm.set_max_instructions(self.limits.max_instructions);
        vm.set_execution_timer_config(Some(ExecutionTimerConfig {
            limit: self.limits.time_budget,
            check_interval: std::num::NonZeroU32::MIN.saturating_add(31),
        }));
        Ok(vm)
    }

    fn put_back(&self, vm: RegoVM) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_MACHINES
        {
            idle.push(vm);
        }
    }
}

#[cfg(test)]
mod tests;
