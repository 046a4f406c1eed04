//! Metrics as Envoy keeps them for a module: one store shared by every VM of the host (Envoy's
//! stats are process-wide), values keyed by type and name, and ids that carry the type in their
//! two low bits; every definition returns a fresh id, even for a name already defined.

use std::collections::HashMap;

use super::types::Status;

/// Metric types in the ABI's numbering, which is also the low bits of an id (Envoy's
/// `kMetricTypeMask`); ids step by `ID_INCREMENT` (`kMetricIdIncrement`).
const COUNTER: u32 = 0;
const GAUGE: u32 = 1;
const HISTOGRAM: u32 = 2;
const TYPE_MASK: u32 = 0x3;
const ID_INCREMENT: u32 = 0x4;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    names: HashMap<u32, String>,
    next_id: u32,
    counters: HashMap<String, u64>,
    gauges: HashMap<String, u64>,
    histograms: HashMap<String, Vec<u64>>,
}

impl Metrics {
    pub(crate) fn define(&mut self, metric_type: u32, name: &str) -> Result<u32, Status> {
        match metric_type {
            COUNTER => _ = self.counters.entry(name.to_string()).or_default(),
            GAUGE => _ = self.gauges.entry(name.to_string()).or_default(),
            HISTOGRAM => _ = self.histograms.entry(name.to_string()).or_default(),
            _ => return Err(Status::BadArgument),
        }
        self.next_id += ID_INCREMENT;
        let id = self.next_id | metric_type;
        self.names.insert(id, name.to_string());
        Ok(id)
    }

    /// Counters only go up (a non-positive offset is a bad argument), gauges go both ways, and
    /// nothing else can be incremented.
    pub(crate) fn increment(&mut self, id: u32, offset: i64) -> Result<(), Status> {
        match id & TYPE_MASK {
            COUNTER => {
                let counter = self
                    .counters
                    .get_mut(Self::name(&self.names, id)?)
                    .expect("defined");
                if offset <= 0 {
                    return Err(Status::BadArgument);
                }
                *counter += offset.unsigned_abs();
            }
            GAUGE => {
                let gauge = self
                    .gauges
                    .get_mut(Self::name(&self.names, id)?)
                    .expect("defined");
                // Envoy's gauges are unsigned and wrap below zero in release builds.
                *gauge = gauge.wrapping_add_signed(offset);
            }
            _ => return Err(Status::BadArgument),
        }
        Ok(())
    }

    /// A counter adds the value, a gauge takes it, a histogram records it.
    pub(crate) fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        match id & TYPE_MASK {
            COUNTER => {
                *self
                    .counters
                    .get_mut(Self::name(&self.names, id)?)
                    .expect("defined") += value
            }
            GAUGE => {
                *self
                    .gauges
                    .get_mut(Self::name(&self.names, id)?)
                    .expect("defined") = value
            }
            HISTOGRAM => {
                self.histograms
                    .get_mut(Self::name(&self.names, id)?)
                    .expect("defined")
                    .push(value);
            }
            _ => return Err(Status::NotFound),
        }
        Ok(())
    }

    /// Only counters and gauges can be read back.
    pub(crate) fn get(&self, id: u32) -> Result<u64, Status> {
        match id & TYPE_MASK {
            COUNTER => Ok(self.counters[Self::name(&self.names, id)?]),
            GAUGE => Ok(self.gauges[Self::name(&self.names, id)?]),
            _ => Err(Status::BadArgument),
        }
    }

    /// Takes the id map alone so that callers can borrow a value map mutably at the same time.
    fn name(names: &HashMap<u32, String>, id: u32) -> Result<&str, Status> {
        names.get(&id).map(String::as_str).ok_or(Status::NotFound)
    }

    /// How many definitions the module made, repeats included: Envoy keeps an entry for each.
    pub(crate) fn definitions(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn counter(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }

    pub(crate) fn gauge(&self, name: &str) -> Option<u64> {
        self.gauges.get(name).copied()
    }

    pub(crate) fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.histograms.get(name).cloned()
    }
}
