//! Building blocks of the ONNX graph writer and reader: float tensors, nodes, attributes and
//! value infos (used by [`super::SuperPointWeights::to_model`] and `from_model`).

use super::proto::{
    AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto, tensor_proto, tensor_shape_proto, type_proto,
};
use crate::Error;

pub(super) fn tensor_f32(t: &TensorProto) -> Result<Vec<f32>, Error> {
    let name = t.name.clone().unwrap_or_default();
    if t.data_type != Some(tensor_proto::DataType::Float as i32) {
        return Err(Error::Model(format!("initializer {name} is not float32")));
    }
    if !t.float_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    let raw = t.raw_data.as_deref().unwrap_or_default();
    if !raw.len().is_multiple_of(4) {
        return Err(Error::Model(format!(
            "initializer {name}: bad raw data size"
        )));
    }
    Ok(raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[derive(Default)]
pub(super) struct GraphBuilder {
    pub(super) nodes: Vec<NodeProto>,
    pub(super) initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    pub(super) fn initializer(&mut self, name: &str, dims: &[i64], data: &[f32]) {
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(tensor_proto::DataType::Float as i32),
            raw_data: Some(raw),
            ..Default::default()
        });
    }

    pub(super) fn initializer_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) {
        self.initializers.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(tensor_proto::DataType::Int64 as i32),
            int64_data: data.to_vec(),
            ..Default::default()
        });
    }

    pub(super) fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        name: &str,
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.node_named(op, inputs, name, attrs);
        name.to_string()
    }

    pub(super) fn node_named(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(format!("{op}_{output}")),
            op_type: Some(op.into()),
            attribute: attrs,
            ..Default::default()
        });
    }

    pub(super) fn conv_relu(&mut self, name: &str, input: &str, kernel: i64, relu: bool) -> String {
        let pad = kernel / 2;
        let out = self.node(
            "Conv",
            &[input, &format!("{name}.weight"), &format!("{name}.bias")],
            name,
            vec![
                ints("kernel_shape", &[kernel, kernel]),
                ints("pads", &[pad, pad, pad, pad]),
            ],
        );
        if relu {
            self.node("Relu", &[&out], &format!("{name}_relu"), vec![])
        } else {
            out
        }
    }
}

pub(super) fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_proto::AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

pub(super) fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_proto::AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub(super) fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_proto::AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub(super) fn dim_param(p: &str) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam(p.into())),
        ..Default::default()
    }
}

pub(super) fn dim_value(v: i64) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimValue(v)),
        ..Default::default()
    }
}

pub(super) fn value_info(name: &str, dims: &[tensor_shape_proto::Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(tensor_proto::DataType::Float as i32),
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
