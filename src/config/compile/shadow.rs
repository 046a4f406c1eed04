//! `shadow`: the cluster mirrored to, its share, key and methods.

use super::{Compiler, Inputs};
use crate::config::{self, Path};
use crate::plan;

impl Compiler {
    pub(super) fn shadow(
        &mut self,
        at: &Path<'_>,
        shadow: &config::Shadow,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Shadow> {
        let cluster = self.required_cluster(&Path::Key(at, "cluster"), &shadow.cluster);
        let percent = self.percent(&Path::Key(at, "percent"), shadow.percent);
        let key = self.keys(&Path::Key(at, "key"), &shadow.key, inputs);
        let seed = self.seed(&Path::Key(at, "seed"), &shadow.seed, route, ".shadow");
        let methods = match &shadow.methods {
            Some(methods) => self.methods(&Path::Key(at, "methods"), methods),
            None => {
                let mut methods = Vec::new();
                for method in [&b"GET"[..], b"HEAD", b"OPTIONS"] {
                    methods.push(method.into());
                }
                methods
            }
        };
        let (Some(cluster), Some(percent)) = (cluster, percent) else {
            return None;
        };
        Some(plan::Shadow {
            cluster,
            percent,
            key,
            seed,
            methods,
        })
    }
}
