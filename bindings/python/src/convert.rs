//! JSON-shaped values between Python and Rust: gsm-core's serde types cross as `dict`s, so their
//! Python shape is their documented JSON shape. Out, `pythonize` builds the Python objects
//! straight from serde (measured twice as fast as going through `serde_json::Value`); in, a job
//! spec goes through `serde_json::Value` so that a value JSON cannot hold is refused with its path.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// A serde value as a Python object: what `json.loads` would make of its JSON, except that
/// fixed-size arrays (a player's position) become tuples.
pub fn to_py<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(PyErr::from)
}

/// A Python object made of `None`, `bool`, `int`, `float`, `str`, `list`, `tuple` and `dict`
/// with `str` keys, as a JSON value; anything else is a `TypeError` naming where it was.
pub fn from_py(object: &Bound<'_, PyAny>, at: &str) -> PyResult<Value> {
    if object.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = object.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if object.is_instance_of::<PyInt>() {
        if let Ok(int) = object.extract::<i64>() {
            return Ok(Value::from(int));
        }
        if let Ok(int) = object.extract::<u64>() {
            return Ok(Value::from(int));
        }
        return Err(PyTypeError::new_err(format!("{at}: the integer is out of range")));
    }
    if let Ok(float) = object.cast::<PyFloat>() {
        return Number::from_f64(float.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{at}: NaN and infinity are not JSON")));
    }
    if let Ok(text) = object.cast::<PyString>() {
        return Ok(Value::String(text.to_cow()?.into_owned()));
    }
    if let Ok(list) = object.cast::<PyList>() {
        return sequence(list.iter(), at);
    }
    if let Ok(tuple) = object.cast::<PyTuple>() {
        return sequence(tuple.iter(), at);
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        let mut fields = Map::new();
        for (key, value) in dict.iter() {
            let Ok(name) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{at}: keys must be str, not {}",
                    key.get_type().name()?
                )));
            };
            let name = name.to_cow()?.into_owned();
            let value = from_py(&value, &format!("{at}.{name}"))?;
            fields.insert(name, value);
        }
        return Ok(Value::Object(fields));
    }
    Err(PyTypeError::new_err(format!(
        "{at}: a {} cannot be part of a job spec; use None, bool, int, float, str, list or dict",
        object.get_type().name()?
    )))
}

fn sequence<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, at: &str) -> PyResult<Value> {
    items
        .enumerate()
        .map(|(index, item)| from_py(&item, &format!("{at}[{index}]")))
        .collect::<PyResult<Vec<_>>>()
        .map(Value::Array)
}
