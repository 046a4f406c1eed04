//! Compiling and linking modules. One wasmtime engine serves the whole test process (with fuel
//! metering on); each wasm file is compiled once, on first use, and linked against the host's
//! imports, every other import of the module becoming a stub that traps with the import's name.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wasmtime::{
    Config, Engine, ExternType, Instance, InstancePre, Linker, Module, Store, UnknownImportError,
};

use super::state::VmState;
use super::{abi, wasi};

/// The fixture filter: sets `x-switchyard-cluster: fixture` on request headers, nothing else.
pub static MINIMAL_FILTER: WasmFile = WasmFile::at("dist/minimal-filter.wasm", "`make fixtures`");

/// The real filter, as `make wasm` builds it.
pub static SWITCHYARD: WasmFile = WasmFile::at("dist/switchyard.wasm", "`make wasm`");

/// A wasm file of the crate, compiled and linked on first use and then shared by every test of
/// the binary.
pub struct WasmFile {
    /// Relative to the crate's root.
    path: &'static str,
    /// How to build the file, for the message when it is missing.
    how_to_build: &'static str,
    linked: OnceLock<LinkedModule>,
}

impl WasmFile {
    const fn at(path: &'static str, how_to_build: &'static str) -> WasmFile {
        WasmFile {
            path,
            how_to_build,
            linked: OnceLock::new(),
        }
    }

    pub fn path(&self) -> PathBuf {
        // This crate lives in tests/host of the repository, whose dist/ holds the modules.
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(self.path)
    }

    pub fn exists(&self) -> bool {
        self.path().is_file()
    }

    pub(crate) fn linked(&self) -> LinkedModule {
        let link = || {
            let path = self.path();
            let module = Module::from_file(engine(), &path).unwrap_or_else(|error| {
                panic!(
                    "cannot load {} (build it with {}): {error:?}",
                    path.display(),
                    self.how_to_build
                )
            });
            LinkedModule::link(&module)
        };
        self.linked.get_or_init(link).clone()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.consume_fuel(true);
        Engine::new(&config).expect("a wasmtime engine with fuel metering")
    })
}

/// A module linked against the host, ready to instantiate as many VMs as a test wants.
#[derive(Clone)]
pub(crate) struct LinkedModule {
    pre: InstancePre<VmState>,
    stubbed_imports: Arc<[String]>,
}

impl LinkedModule {
    /// Compiles a module given as wasm bytes or WAT text.
    pub(crate) fn compile(wasm_or_wat: &[u8]) -> LinkedModule {
        let module = Module::new(engine(), wasm_or_wat)
            .unwrap_or_else(|error| panic!("invalid module: {error:?}"));
        LinkedModule::link(&module)
    }

    /// Links the host's imports, and a trapping stub for each import the host does not know:
    /// wasmtime names one unknown import per attempt, so the loop stubs them one by one.
    fn link(module: &Module) -> LinkedModule {
        let mut linker = Linker::new(engine());
        abi::define(&mut linker).expect("the proxy-wasm imports are defined once");
        wasi::define(&mut linker).expect("the WASI imports are defined once");
        let mut stubbed_imports = Vec::new();
        loop {
            match linker.instantiate_pre(module) {
                Ok(pre) => {
                    return LinkedModule {
                        pre,
                        stubbed_imports: stubbed_imports.into(),
                    };
                }
                Err(error) => {
                    let Some(missing) = error.downcast_ref::<UnknownImportError>() else {
                        panic!("linking the module failed: {error:?}");
                    };
                    stubbed_imports.push(define_trapping_stub(&mut linker, missing));
                }
            }
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        self.pre.module().engine()
    }

    pub(crate) fn instantiate(&self, store: &mut Store<VmState>) -> wasmtime::Result<Instance> {
        self.pre.instantiate(store)
    }

    /// Every import of the module, as `module::name`.
    pub(crate) fn imports(&self) -> Vec<String> {
        self.pre
            .module()
            .imports()
            .map(|import| format!("{}::{}", import.module(), import.name()))
            .collect()
    }

    /// The imports the host does not implement, as `module::name`.
    pub(crate) fn stubbed_imports(&self) -> &[String] {
        &self.stubbed_imports
    }
}

/// Defines `missing` as a function that traps naming it, so that a call the host cannot answer
/// fails loudly instead of returning something plausible. Returns its name.
fn define_trapping_stub(linker: &mut Linker<VmState>, missing: &UnknownImportError) -> String {
    let name = format!("{}::{}", missing.module(), missing.name());
    let ExternType::Func(signature) = missing.ty() else {
        panic!(
            "the module imports `{name}`, which is not a function; the test host provides only functions"
        );
    };
    let message = format!(
        "the module called `{name}`, an import the test host does not implement (tests/host)"
    );
    linker
        .func_new(
            missing.module(),
            missing.name(),
            signature,
            move |_, _, _| Err(wasmtime::Error::msg(message.clone())),
        )
        .expect("an import that was not defined can be defined");
    name
}
