//! Reader for CTranslate2's `model.bin`, the format faster-whisper models
//! ship in.
//!
//! Little-endian throughout: u32 format version, the spec name (u16 length
//! including a trailing NUL, then the bytes), u32 spec revision, u32
//! variable count; per variable its name, u8 rank, rank x u32 dims, u8
//! dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 byte count and the
//! data; finally u32 alias count and (alias, target) name pairs.
//!
//! [`Model::open`] reads only the index and remembers where each
//! variable's data lies, so a converter can hold one variable at a time.

use std::{
    fs::File,
    io::{self, BufReader, Read, Seek, SeekFrom},
    path::Path,
};

/// Why a file could not be read or converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0}")]
    Format(String),
}

pub(crate) fn format_err(msg: impl Into<String>) -> ConvertError {
    ConvertError::Format(msg.into())
}

/// The element type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    pub fn id(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 => 3,
            DType::F16 => 4,
            DType::BF16 => 5,
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One variable's name, shape and where its data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// Outermost first, as in PyTorch: a linear weight is [out, in].
    pub shape: Vec<usize>,
    pub dtype: DType,
    offset: u64,
    len: usize,
}

impl Variable {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An opened `model.bin`: the index in memory, the data on disk.
#[derive(Debug)]
pub struct Model<R> {
    reader: R,
    pub version: u32,
    pub spec: String,
    pub revision: u32,
    pub variables: Vec<Variable>,
    /// (alias, target): names that share another variable's data.
    pub aliases: Vec<(String, String)>,
}

/// The oldest version that records each variable's dtype.
const MIN_VERSION: u32 = 4;
const MAX_VERSION: u32 = 6;

impl Model<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, ConvertError> {
        Model::read_index(BufReader::new(File::open(path)?))
    }
}

impl<R: Read + Seek> Model<R> {
    /// Reads the index, seeking over the data.
    pub fn read_index(mut reader: R) -> Result<Self, ConvertError> {
        let version = read_u32(&mut reader)?;
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(format_err(format!(
                "CTranslate2 model format version {version} is not supported \
                 (only {MIN_VERSION} to {MAX_VERSION})"
            )));
        }
        let spec = read_name(&mut reader)?;
        let revision = read_u32(&mut reader)?;
        let count = read_u32(&mut reader)?;
        let mut variables = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = read_name(&mut reader)?;
            let rank = read_u8(&mut reader)?;
            let shape = (0..rank)
                .map(|_| read_u32(&mut reader).map(|d| d as usize))
                .collect::<io::Result<Vec<_>>>()?;
            let dtype_id = read_u8(&mut reader)?;
            let dtype = DType::from_id(dtype_id)
                .ok_or_else(|| format_err(format!("{name}: unknown dtype {dtype_id}")))?;
            let len = read_u32(&mut reader)? as usize;
            let expected = shape.iter().product::<usize>() * dtype.size();
            if len != expected {
                return Err(format_err(format!(
                    "{name}: {len} bytes of data for shape {shape:?} of {dtype:?} \
                     ({expected} expected)"
                )));
            }
            let offset = reader.stream_position()?;
            reader.seek(SeekFrom::Current(len as i64))?;
            variables.push(Variable {
                name,
                shape,
                dtype,
                offset,
                len,
            });
        }
        let alias_count = read_u32(&mut reader)?;
        let aliases = (0..alias_count)
            .map(|_| Ok((read_name(&mut reader)?, read_name(&mut reader)?)))
            .collect::<io::Result<Vec<_>>>()?;
        // A truncated file would otherwise surface as a bad tensor later.
        let end = reader.stream_position()?;
        if reader.seek(SeekFrom::End(0))? != end {
            return Err(format_err("trailing bytes after the alias table"));
        }
        Ok(Model {
            reader,
            version,
            spec,
            revision,
            variables,
            aliases,
        })
    }

    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// The raw little-endian bytes of one variable.
    pub fn read(&mut self, var: &Variable) -> io::Result<Vec<u8>> {
        self.reader.seek(SeekFrom::Start(var.offset))?;
        let mut data = vec![0; var.len];
        self.reader.read_exact(&mut data)?;
        Ok(data)
    }

    /// A scalar integer variable (CTranslate2 keeps settings such as
    /// `num_heads` this way).
    pub fn scalar_int(&mut self, name: &str) -> Result<i64, ConvertError> {
        let var = self
            .variable(name)
            .ok_or_else(|| format_err(format!("variable {name} is missing")))?
            .clone();
        if var.elements() != 1 {
            return Err(format_err(format!("{name} is not a scalar")));
        }
        let b = self.read(&var)?;
        Ok(match var.dtype {
            DType::I8 => i64::from(b[0] as i8),
            DType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            other => return Err(format_err(format!("{name} is {other:?}, not an integer"))),
        })
    }
}

fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u16(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_name(r: &mut impl Read) -> io::Result<String> {
    let len = read_u16(r)? as usize;
    let mut b = vec![0; len];
    r.read_exact(&mut b)?;
    if b.pop() != Some(0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "name without its NUL",
        ));
    }
    String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes a `model.bin`, for tests that need a small model.
#[cfg(test)]
pub(crate) fn write_model(
    out: &mut impl io::Write,
    spec: &str,
    variables: &[(&str, &[usize], DType, &[u8])],
    aliases: &[(&str, &str)],
) -> io::Result<()> {
    fn name(out: &mut impl io::Write, s: &str) -> io::Result<()> {
        out.write_all(&(s.len() as u16 + 1).to_le_bytes())?;
        out.write_all(s.as_bytes())?;
        out.write_all(&[0])
    }
    out.write_all(&6u32.to_le_bytes())?;
    name(out, spec)?;
    out.write_all(&3u32.to_le_bytes())?;
    out.write_all(&(variables.len() as u32).to_le_bytes())?;
    for (n, shape, dtype, data) in variables {
        name(out, n)?;
        out.write_all(&[shape.len() as u8])?;
        for d in *shape {
            out.write_all(&(*d as u32).to_le_bytes())?;
        }
        out.write_all(&[dtype.id()])?;
        out.write_all(&(data.len() as u32).to_le_bytes())?;
        out.write_all(data)?;
    }
    out.write_all(&(aliases.len() as u32).to_le_bytes())?;
    for (a, t) in aliases {
        name(out, a)?;
        name(out, t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_small_model_round_trips() {
        let weights: Vec<u8> = [1.0f32, -2.0, 3.5, 0.25, 8.0, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut file = Vec::new();
        write_model(
            &mut file,
            "WhisperSpec",
            &[
                ("decoder/num_heads", &[], DType::I16, &6i16.to_le_bytes()),
                ("encoder/w", &[2, 3], DType::F32, &weights),
                ("encoder/b", &[2], DType::F16, &[0, 0x3c, 0, 0xc0]),
            ],
            &[("decoder/projection/weight", "encoder/w")],
        )
        .unwrap();

        let mut model = Model::read_index(Cursor::new(file)).unwrap();
        assert_eq!(
            (model.version, model.spec.as_str(), model.revision),
            (6, "WhisperSpec", 3)
        );
        assert_eq!(model.variables.len(), 3);
        assert_eq!(model.scalar_int("decoder/num_heads").unwrap(), 6);
        let w = model.variable("encoder/w").unwrap().clone();
        assert_eq!(
            (w.shape.as_slice(), w.dtype),
            (&[2usize, 3][..], DType::F32)
        );
        assert_eq!(model.read(&w).unwrap(), weights);
        let b = model.variable("encoder/b").unwrap().clone();
        assert_eq!(model.read(&b).unwrap(), [0, 0x3c, 0, 0xc0]);
        assert_eq!(
            model.aliases,
            [(
                "decoder/projection/weight".to_owned(),
                "encoder/w".to_owned()
            )]
        );
    }

    #[test]
    fn truncated_and_inconsistent_files_are_refused() {
        let mut file = Vec::new();
        write_model(
            &mut file,
            "WhisperSpec",
            &[("w", &[4], DType::F32, &[0; 16])],
            &[],
        )
        .unwrap();
        let short = file[..file.len() - 6].to_vec();
        assert!(Model::read_index(Cursor::new(short)).is_err());

        let mut wrong = Vec::new();
        write_model(
            &mut wrong,
            "WhisperSpec",
            &[("w", &[5], DType::F32, &[0; 16])],
            &[],
        )
        .unwrap();
        let err = Model::read_index(Cursor::new(wrong)).unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
    }
}
