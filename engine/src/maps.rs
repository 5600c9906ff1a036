//! Typed access to a loaded object's maps, with errors that name the map.

use aya::Ebpf;
use aya::maps::{Map, MapError};

use crate::error::EngineError;

pub fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<T, EngineError>
where
    T: TryFrom<&'a mut Map, Error = MapError>,
{
    let map = ebpf.map_mut(name).ok_or_else(|| missing(name))?;
    T::try_from(map).map_err(|source| EngineError::Map {
        action: "open a map",
        source,
    })
}

pub fn map_ref<'a, T>(ebpf: &'a Ebpf, name: &'static str) -> Result<T, EngineError>
where
    T: TryFrom<&'a Map, Error = MapError>,
{
    let map = ebpf.map(name).ok_or_else(|| missing(name))?;
    T::try_from(map).map_err(|source| EngineError::Map {
        action: "open a map",
        source,
    })
}

fn missing(name: &str) -> EngineError {
    EngineError::Map {
        action: "find a map",
        source: MapError::InvalidName {
            name: name.to_owned(),
        },
    }
}
